"""The Kubernetes objects of one instance, built as plain dicts: its Pod, the Secret that holds its
credentials (and, while it sleeps, the recipe of its pod), and the Service of its ports.

Pure functions, no API calls, so what the controller asks of the API server can be read and
tested on its own. Names and labels are checked here against the rules the API server applies,
so a bad one is refused with the field named before anything is created.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml

from controller.backends.base import LABEL_CONTROLLER, BackendError, InstanceSpec, InvalidSpec

CONTAINER = "agent"
# On the Secret: the pod to create again when a sleeping instance is started (no secret values:
# the pod reads those from the Secret itself).
POD_ANNOTATION = "hiclaw.io/pod"

# RFC 1123 label: pod, Secret and Service names (a Service's must also start with a letter).
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL_NAME = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")

# What a pod template may set on the pod (the rest of its spec is the controller's).
TEMPLATE_POD_FIELDS = (
    "nodeSelector",
    "tolerations",
    "affinity",
    "serviceAccountName",
    "securityContext",
    "imagePullSecrets",
    "priorityClassName",
    "automountServiceAccountToken",
)
TEMPLATE_SETTING = "HICLAW_POD_TEMPLATE"


def check_pod_name(name: str, *, service: bool = False) -> str:
    """Pods, Secrets and Services are named after the instance: a lowercase RFC 1123 label."""
    if len(name) > 63 or not _DNS_LABEL.match(name):
        raise InvalidSpec(
            f"name {name!r} is not a valid Kubernetes name: use at most 63 lowercase letters, digits "
            "or '-', starting and ending with a letter or digit"
        )
    if service and not name[0].isalpha():
        raise InvalidSpec(f"name {name!r} must start with a letter to name the Service of its ports")
    return name


def check_labels(labels: dict[str, str]) -> dict[str, str]:
    """Every key and value valid for the API server, else InvalidSpec naming the label."""
    for key, value in labels.items():
        prefix, _, name = key.rpartition("/")
        if (prefix and (len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix))) or (
            len(name) > 63 or not _LABEL_NAME.match(name)
        ):
            raise InvalidSpec(f"label {key!r} is not a valid Kubernetes label key")
        if not isinstance(value, str) or len(value) > 63 or (value and not _LABEL_NAME.match(value)):
            raise InvalidSpec(
                f"label {key!r} has value {value!r}, not a valid Kubernetes label value: at most 63 letters, "
                "digits, '-', '_' or '.', starting and ending with a letter or digit"
            )
    return labels


def parse_template(text: str, source: str) -> dict[str, Any]:
    """A Pod or PodTemplateSpec document as ``{"metadata": …, "spec": …}``; a malformed one is a
    permanent error naming the setting and where it came from."""

    def refuse(why: str) -> BackendError:
        return BackendError(f"{TEMPLATE_SETTING} ({source}) is not a usable pod template: {why}")

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise refuse(f"invalid YAML ({error})") from None
    if not isinstance(document, dict):
        raise refuse("expected a Pod (or a template with metadata and spec), got no mapping")
    if document.get("kind") == "PodTemplate":
        document = document.get("template") or {}
    metadata, spec = document.get("metadata") or {}, document.get("spec") or {}
    if not isinstance(metadata, dict) or not isinstance(spec, dict):
        raise refuse("metadata and spec must be mappings")
    for field in ("labels", "annotations"):
        if not isinstance(metadata.get(field) or {}, dict):
            raise refuse(f"metadata.{field} must be a mapping")
    containers = spec.get("containers") or []
    if not isinstance(containers, list) or not all(isinstance(c, dict) for c in containers):
        raise refuse("spec.containers must be a list of containers")
    try:
        check_labels({str(k): v for k, v in (metadata.get("labels") or {}).items()})
    except InvalidSpec as error:
        raise refuse(str(error)) from None
    return {"metadata": metadata, "spec": spec}


def env_entries(spec: InstanceSpec, secret_name: str) -> list[dict[str, Any]]:
    """Plain env as values; credentials as references to keys of the instance's Secret."""
    for key in spec.all_env():
        if not _ENV_NAME.match(key):
            raise InvalidSpec(f"env {key!r} is not a valid environment variable name")
    plain = [{"name": key, "value": value} for key, value in spec.env.items() if key not in spec.secret_env]
    secret = [
        {"name": key, "valueFrom": {"secretKeyRef": {"name": secret_name, "key": key}}} for key in spec.secret_env
    ]
    return plain + secret


def resources(cpu: str, memory: str, template: dict[str, Any] | None) -> dict[str, Any]:
    """Requests and limits: the template's first container's, with the controller's CPU and memory over them."""
    merged = copy.deepcopy((template or {}).get("resources") or {})
    for part in ("requests", "limits"):
        merged[part] = {**(merged.get(part) or {}), "cpu": cpu, "memory": memory}
    return merged


def pod_manifest(
    spec: InstanceSpec, labels: dict[str, str], *, cpu: str, memory: str, template: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The Pod of an instance: the template's scheduling and security fields under what the controller sets."""
    template = template or {"metadata": {}, "spec": {}}
    metadata, template_spec = template["metadata"], template["spec"]
    first = (template_spec.get("containers") or [{}])[0]
    container: dict[str, Any] = {
        "name": CONTAINER,
        "image": spec.image,
        "env": env_entries(spec, spec.name),
        "resources": resources(cpu, memory, first),
    }
    if first.get("securityContext"):
        container["securityContext"] = copy.deepcopy(first["securityContext"])
    pod_spec: dict[str, Any] = {
        field: copy.deepcopy(template_spec[field]) for field in TEMPLATE_POD_FIELDS if field in template_spec
    }
    # An agent needs no API credentials of its own unless the template says so.
    pod_spec.setdefault("automountServiceAccountToken", False)
    pod_spec.update(
        {
            # The kubelet restarts a crashed agent in place; sleeping deletes the pod.
            "restartPolicy": "Always",
            # Service links would put every Service of the namespace into the agent's env.
            "enableServiceLinks": False,
            "containers": [container],
        }
    )
    pod_metadata: dict[str, Any] = {"name": spec.name, "labels": {**(metadata.get("labels") or {}), **labels}}
    if metadata.get("annotations"):
        pod_metadata["annotations"] = dict(metadata["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_metadata, "spec": pod_spec}


def secret_manifest(spec: InstanceSpec, labels: dict[str, str], pod: dict[str, Any]) -> dict[str, Any]:
    """The instance's Secret: its credentials, and the pod to start again after a sleep."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": spec.name,
            "labels": dict(labels),
            "annotations": {POD_ANNOTATION: json.dumps(pod, sort_keys=True)},
        },
        "stringData": dict(spec.secret_env),
    }


def stored_pod(secret: dict[str, Any]) -> dict[str, Any] | None:
    """The pod recorded on an instance's Secret, or None (a Secret written by something else)."""
    recorded = ((secret.get("metadata") or {}).get("annotations") or {}).get(POD_ANNOTATION)
    try:
        pod = json.loads(recorded) if recorded else None
    except ValueError:
        return None
    return pod if isinstance(pod, dict) else None


def service_manifest(spec: InstanceSpec, labels: dict[str, str]) -> dict[str, Any]:
    """A ClusterIP Service of the instance's ports, selecting its pod by the hiclaw.io labels."""
    selector = {key: value for key, value in labels.items() if key.startswith("hiclaw.io/")}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": spec.name, "labels": dict(labels)},
        "spec": {
            "type": "ClusterIP",
            "selector": selector,
            "ports": [{"name": f"port-{port}", "port": port, "targetPort": port} for port in spec.ports],
        },
    }


def pod_image(pod: dict[str, Any] | None) -> str:
    containers = ((pod or {}).get("spec") or {}).get("containers") or [{}]
    return containers[0].get("image", "")


def labels_of(obj: dict[str, Any] | None) -> dict[str, str]:
    return ((obj or {}).get("metadata") or {}).get("labels") or {}


def owned_by(obj: dict[str, Any] | None, controller_id: str) -> bool:
    return labels_of(obj).get(LABEL_CONTROLLER) == controller_id
