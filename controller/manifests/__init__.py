"""Manifests: ``hiclaw.io/v1beta1`` YAML validated into documents and exported back."""

from controller.manifests.codec import Document, dump_yaml, nul_path, parse, parse_objects, to_manifest
from controller.manifests.errors import ManifestError, ManifestInvalid

__all__ = [
    "Document",
    "ManifestError",
    "ManifestInvalid",
    "dump_yaml",
    "nul_path",
    "parse",
    "parse_objects",
    "to_manifest",
]
