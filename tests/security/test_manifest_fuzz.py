"""Property-based fuzzing of manifest reading: whatever text or decoded document arrives, the
parser and validator answer with the project's validation error (``ManifestInvalid``) or
valid documents, never another exception, and each input costs a bounded time.

Repeatable and quick: derandomized, a fixed number of examples, no example database.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.manifests import ManifestInvalid, parse, parse_objects
from controller.manifests.schema import SPEC_SHAPES

# Per input; validation of a few kilobytes takes milliseconds, so this only catches blow-ups.
BOUND = 1.0
FUZZ = settings(
    max_examples=150,
    deadline=timedelta(seconds=BOUND),
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Pieces of YAML syntax, manifest vocabulary and values that YAML resolves to non-strings.
TOKENS = [
    *"{}[],:-?|>!&*'\"#%@`\t\n ",
    "\n  ",
    "\n- ",
    "---\n",
    "...\n",
    "&a ",
    "*a",
    "<<: ",
    "!!str ",
    "!!binary ",
    "!!python/object ",
    "!!set ",
    "!!omap ",
    "apiVersion: hiclaw.io/v1beta1\n",
    "kind: ",
    *SPEC_SHAPES,
    "metadata: {name: x}\n",
    "spec:",
    "name",
    "model",
    "leader",
    "workers",
    "target",
    "targets",
    "type",
    "team",
    "worker",
    "2001-13-45",
    "2001-02-30T25:61:61Z",
    "18:00",
    "0x1F",
    "0o17",
    "1_000",
    "1e999",
    ".nan",
    "~",
    "yes",
    "\\x00",
    '"\\0"',
    "\u2028",
    "\ufeff",
]

yaml_ish = st.lists(st.sampled_from(TOKENS), max_size=60).map("".join)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=30,
)
# Keys a spec might have, so generated documents get past the envelope into the shapes.
spec_keys = st.sampled_from(
    ["model", "runtime", "image", "leader", "workers", "name", "target", "targets", "email", "state", "skills"]
)
specs = st.dictionaries(spec_keys | st.text(max_size=8), json_values, max_size=6)
documents = st.fixed_dictionaries(
    {
        "apiVersion": st.sampled_from(["hiclaw.io/v1beta1", "v1"]) | scalars,
        "kind": st.sampled_from(list(SPEC_SHAPES)) | scalars,
        "metadata": st.fixed_dictionaries({"name": st.sampled_from(["x", "a-b", "Bad_Name"]) | scalars}) | json_values,
        "spec": specs | json_values,
    }
)


def read(call, value: Any) -> None:
    started = time.monotonic()
    try:
        call(value)
    except ManifestInvalid as invalid:
        assert invalid.errors, "a refusal lists at least one error"
        for error in invalid.errors:
            assert isinstance(error.field, str) and error.field and error.rule and error.message
    assert time.monotonic() - started < BOUND


@FUZZ
@given(st.text(max_size=300))
def test_arbitrary_text_is_parsed_or_refused(text):
    read(parse, text)


@FUZZ
@given(yaml_ish)
def test_yaml_ish_text_is_parsed_or_refused(text):
    read(parse, text)


@FUZZ
@given(st.lists(documents | json_values, min_size=1, max_size=3))
def test_decoded_documents_are_validated_or_refused(raw):
    read(parse_objects, raw)


@FUZZ
@given(st.lists(documents, min_size=1, max_size=3))
def test_documents_as_yaml_are_validated_or_refused(raw):
    read(parse, yaml.safe_dump_all(raw, allow_unicode=True))
