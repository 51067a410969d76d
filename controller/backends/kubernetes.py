"""Kubernetes backend: one Pod per instance in one namespace, its credentials in a Secret, its
ports behind a Service (docs/kubernetes.md).

- create: writes the Secret (the agent's tokens, and the pod itself as an annotation, without
  secret values), the Service when the spec has ports, then the Pod; waits a little for it to run.
- stop (sleep): deletes the Pod, keeps the Secret and Service; start creates the Pod again from
  the one recorded on the Secret. Stopped = Secret and no Pod; Missing = neither.
- delete: removes Pod, Secret and Service.

Only objects labelled ``hiclaw.io/controller=<id>`` are ours; another controller's pod of the same
name is a conflict, never touched. Every call has a timeout; API errors become backend errors
(kube_api.api_errors). The pod template (HICLAW_POD_TEMPLATE) is read on every create, so an
edited ConfigMap applies to the next pod.
"""

from __future__ import annotations

import builtins
import json
import logging
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from typing import Any

from django.conf import settings

from controller.backends import kube_objects as objects
from controller.backends.base import (
    LABEL_CONTROLLER,
    MISSING,
    BackendError,
    BackendUnavailable,
    InstanceConflict,
    InstanceInfo,
    InstanceNotFound,
    InstanceSpec,
    InstanceState,
    InstanceStatus,
    WorkerBackend,
)
from controller.backends.kube_api import (
    REQUEST_TIMEOUT,
    api_errors,
    default_namespace,
    make_api_client,
    missing_namespace,
)
from controller.backends.kube_exec import run_in_pod
from controller.backends.kube_status import is_terminating, status_of
from controller.backends.kube_watch import watch_pods

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
# The client's name of each kind, and the API's (as the Role lists them).
RESOURCES = {"pod": "pods", "secret": "secrets", "service": "services", "config_map": "configmaps"}


class KubernetesBackend(WorkerBackend):
    name = "kubernetes"

    def __init__(
        self,
        controller_id: str | None = None,
        *,
        api_client=None,
        kubeconfig: str | None = None,
        namespace: str | None = None,
        pod_template: str | None = None,
        ready_timeout: float = 5,
        stop_timeout: int = 10,
    ):
        """``api_client`` (a kubernetes.client.ApiClient) overrides the credentials found from the
        settings: tests pass one holding the chart's ServiceAccount token."""
        super().__init__(controller_id)
        self._api_client = api_client
        self.kubeconfig = kubeconfig
        self.namespace = namespace or default_namespace()
        self.pod_template = settings.HICLAW_POD_TEMPLATE if pod_template is None else pod_template
        self.ready_timeout = ready_timeout
        self.stop_timeout = stop_timeout
        self._core: Any = None

    @property
    def core(self):
        """The CoreV1Api, made on first use so that choosing this backend needs no API server yet."""
        if self._core is None:
            from kubernetes import client

            self._core = client.CoreV1Api(self._api_client or make_api_client(self.kubeconfig))
        return self._core

    # --- WorkerBackend -------------------------------------------------------------
    def create(self, spec: InstanceSpec) -> InstanceStatus:
        labels = objects.check_labels(self.labels_for(spec))
        objects.check_pod_name(spec.name, service=bool(spec.ports))
        found = self._get("pod", spec.name)
        if found is not None and not objects.owned_by(found, self.controller_id):
            raise InstanceConflict(f"the name {spec.name} is taken by a pod of another controller")
        pod = self._live_pod(spec.name, wait_if_terminating=True)
        if pod is not None:
            if objects.pod_image(pod) != spec.image:
                raise self._image_conflict(spec, objects.pod_image(pod))
            return self._start_existing(spec.name, pod)
        secret = self._get("secret", spec.name)
        if secret is not None and not objects.owned_by(secret, self.controller_id):
            raise InstanceConflict(f"the name {spec.name} is taken by a Secret of another controller")
        if secret is not None and objects.pod_image(objects.stored_pod(secret)) not in ("", spec.image):
            raise self._image_conflict(spec, objects.pod_image(objects.stored_pod(secret)))
        cpu = spec.cpu or settings.HICLAW_POD_CPU
        memory = spec.memory or settings.HICLAW_POD_MEMORY
        manifest = objects.pod_manifest(spec, labels, cpu=cpu, memory=memory, template=self._template())
        self._write_secret(spec, labels, manifest, exists=secret is not None)
        self._write_service(spec, labels)
        try:
            self._create_pod(manifest)
        except BackendError as error:
            if secret is None and not error.temporary:  # refused for good: leave nothing behind
                self._delete("service", spec.name)
                self._delete("secret", spec.name)
            raise
        logger.info("kubernetes: created %s (%s/%s) from %s", spec.name, spec.kind, spec.resource, spec.image)
        return self._wait_running(spec.name)

    def start(self, name: str) -> None:
        pod = self._live_pod(name, wait_if_terminating=True)
        if pod is not None:
            self._start_existing(name, pod)
            return
        secret = self._ours("secret", name)
        manifest = objects.stored_pod(secret) if secret is not None else None
        if manifest is None:
            raise InstanceNotFound(f"no instance named {name}")
        self._create_pod(manifest)
        logger.info("kubernetes: started %s", name)
        self._wait_running(name)

    def stop(self, name: str) -> None:
        if self._live_pod(name) is not None:
            self._delete("pod", name)
            logger.info("kubernetes: stopped %s (pod deleted, Secret kept)", name)

    def delete(self, name: str) -> None:
        for kind in ("pod", "service", "secret"):
            if (self._live_pod(name) if kind == "pod" else self._ours(kind, name)) is not None:
                self._delete(kind, name)
        logger.info("kubernetes: deleted %s", name)

    def status(self, name: str) -> InstanceStatus:
        pod = self._live_pod(name)
        if pod is not None:
            return status_of(pod)
        secret = self._ours("secret", name)
        if secret is None:
            return MISSING
        image = objects.pod_image(objects.stored_pod(secret))
        return InstanceStatus(InstanceState.STOPPED, image=image, message="sleeping: no pod")

    def list(self) -> builtins.list[InstanceInfo]:
        pods = [pod for pod in self._list("pods") if not is_terminating(pod)]
        found = {pod["metadata"]["name"]: self._info(pod, status_of(pod).state) for pod in pods}
        for secret in self._list("secrets"):
            found.setdefault(secret["metadata"]["name"], self._info(secret, InstanceState.STOPPED))
        return builtins.list(found.values())

    def logs(self, name: str, tail: int = 100) -> str:
        self._require_pod(name, "read the logs of")
        with api_errors("get", "pods/log", name, namespace=self.namespace):
            from kubernetes.client.exceptions import ApiException

            try:
                return self.core.read_namespaced_pod_log(
                    name, self.namespace, container=objects.CONTAINER, tail_lines=tail, _request_timeout=REQUEST_TIMEOUT
                )
            except ApiException as error:
                if error.status == 404:  # the pod is there: its node did not answer
                    raise BackendError(
                        f"cannot read the logs of {name}: the API server could not get them from the pod's node "
                        "(no kubelet answered)"
                    ) from None
                raise

    def exec(self, name: str, cmd: builtins.list[str]) -> tuple[int, str]:
        self._require_pod(name, "run a command in")
        return run_in_pod(self.core, self.namespace, name, builtins.list(cmd))

    def watch(self, on_change: Callable[[InstanceInfo], None], stop: threading.Event) -> None:
        def on_event(kind: str, pod: dict[str, Any]) -> None:
            if self.owns(objects.labels_of(pod)):
                deleted = kind == "DELETED" or is_terminating(pod)
                on_change(self._info(pod, InstanceState.MISSING if deleted else status_of(pod).state))

        def on_list() -> None:  # every instance once, running or asleep: nothing changed before is missed
            for info in self.list():
                on_change(info)

        watch_pods(self.core, self.namespace, f"{LABEL_CONTROLLER}={self.controller_id}", on_event, on_list, stop)

    # --- helpers -------------------------------------------------------------------
    def _info(self, obj: dict[str, Any], state: InstanceState) -> InstanceInfo:
        return self.info(obj["metadata"]["name"], objects.labels_of(obj), state)

    def _image_conflict(self, spec: InstanceSpec, image: str) -> InstanceConflict:
        return InstanceConflict(
            f"instance {spec.name} runs image {image}, not {spec.image}: delete it before creating it again"
        )

    def _call(self, verb: str, kind: str, name: str = "", **kwargs):
        """``<verb>_namespaced_<kind>`` as a dict (reads) or the raw answer, with errors mapped."""
        method = getattr(self.core, f"{verb}_namespaced_{kind}")
        args = (name, self.namespace) if name else (self.namespace,)
        resource = RESOURCES[kind]
        with api_errors(
            verb.replace("read", "get").replace("replace", "update"), resource, name, namespace=self.namespace
        ):
            answer = method(*args, _preload_content=False, _request_timeout=REQUEST_TIMEOUT, **kwargs)
            return json.loads(answer.data or b"{}")

    def _get(self, kind: str, name: str) -> dict[str, Any] | None:
        objects.check_pod_name(name)
        try:
            return self._call("read", kind, name)
        except InstanceNotFound:
            return None

    def _ours(self, kind: str, name: str) -> dict[str, Any] | None:
        found = self._get(kind, name)
        if found is not None and not objects.owned_by(found, self.controller_id):
            logger.warning("kubernetes: %s %s belongs to another controller; ignoring it", kind, name)
            return None
        return found

    def _list(self, resource: str) -> builtins.list[dict[str, Any]]:
        kind = resource[:-1]
        selector = f"{LABEL_CONTROLLER}={self.controller_id}"
        return self._call("list", kind, label_selector=selector).get("items") or []

    def _live_pod(self, name: str, *, wait_if_terminating: bool = False) -> dict[str, Any] | None:
        """Our pod of that name, unless it is being deleted (then, if asked, wait until it is gone
        so that a new one can take its name)."""
        pod = self._ours("pod", name)
        if pod is None or not is_terminating(pod):
            return pod
        if wait_if_terminating:
            if not self._wait_gone(name):
                raise BackendUnavailable(f"the previous pod {name} is still terminating: retry later")
            return self._ours("pod", name)
        return None

    def _wait_gone(self, name: str) -> bool:
        """Wait (at most the grace period and some) until no pod of that name is terminating."""
        deadline = time.monotonic() + self.stop_timeout + 10
        while (pod := self._get("pod", name)) is not None and is_terminating(pod):
            if time.monotonic() > deadline:
                return False
            time.sleep(POLL_SECONDS)
        return True

    def _require_pod(self, name: str, action: str) -> None:
        if self._live_pod(name) is None:
            if self._ours("secret", name) is not None:
                raise BackendError(f"cannot {action} {name}: the instance is not running (no pod)")
            raise InstanceNotFound(f"no instance named {name}")

    def _start_existing(self, name: str, pod: dict[str, Any]) -> InstanceStatus:
        """A pod that ended (phase Failed or Succeeded) is replaced; any other is left to the kubelet."""
        if (pod.get("status") or {}).get("phase") in ("Failed", "Succeeded"):
            self._delete("pod", name)
            manifest = objects.stored_pod(self._ours("secret", name) or {})
            if manifest is None:
                raise InstanceNotFound(f"the pod of {name} ended and its Secret is gone: create the instance again")
            self._create_pod(manifest)
        return self._wait_running(name)

    def _create_pod(self, manifest: dict[str, Any]) -> None:
        name = manifest["metadata"]["name"]
        try:
            self._call("create", "pod", body=manifest)
        except InstanceNotFound as error:
            raise missing_namespace(error, self.namespace) or error from None
        except InstanceConflict:
            # Created meanwhile: by us with the same image is fine; anything else is a conflict.
            pod = self._live_pod(name)
            if pod is None:
                raise InstanceConflict(f"the name {name} is taken by a pod of another controller") from None
            if objects.pod_image(pod) != objects.pod_image(manifest):
                raise

    def _write_secret(self, spec: InstanceSpec, labels, manifest, *, exists: bool) -> None:
        body = objects.secret_manifest(spec, labels, manifest)
        try:
            if exists:
                self._call("replace", "secret", spec.name, body=body)
            else:
                self._call("create", "secret", body=body)
        except InstanceNotFound as error:
            raise missing_namespace(error, self.namespace) or error from None

    def _write_service(self, spec: InstanceSpec, labels: dict[str, str]) -> None:
        current = self._get("service", spec.name)
        if current is not None and not objects.owned_by(current, self.controller_id):
            raise InstanceConflict(f"the name {spec.name} is taken by a Service of another controller")
        if current is not None:
            self._delete("service", spec.name)  # ports changed or gone: a Service's ports are rebuilt whole
        if spec.ports:
            self._call("create", "service", body=objects.service_manifest(spec, labels))

    def _delete(self, kind: str, name: str) -> None:
        """Delete one object; a pod is waited for (its agent gets the grace period to exit) so that
        once stop or delete returns the agent is no longer running."""
        extra = {"grace_period_seconds": self.stop_timeout} if kind == "pod" else {}
        with suppress(InstanceNotFound):  # gone meanwhile: the outcome we wanted
            self._call("delete", kind, name, **extra)
        if kind == "pod" and not self._wait_gone(name):
            logger.warning("kubernetes: pod %s is still terminating after its grace period", name)

    def _wait_running(self, name: str) -> InstanceStatus:
        """The status once Running or Failed, or when ``ready_timeout`` ends (the reconciler retries then;
        the watch queues a reconcile as soon as the pod becomes ready)."""
        deadline = time.monotonic() + self.ready_timeout
        while True:
            status = self.status(name)
            if status.state in (InstanceState.RUNNING, InstanceState.FAILED) or time.monotonic() > deadline:
                return status
            time.sleep(POLL_SECONDS)

    def _template(self) -> dict[str, Any] | None:
        """The pod template named by HICLAW_POD_TEMPLATE: a file, or ``configmap:<name>`` here."""
        source = self.pod_template
        if not source:
            return None
        if source.startswith("configmap:"):
            configmap = self._get_configmap(source.removeprefix("configmap:"))
            text = (configmap.get("data") or {}).get("pod-template.yaml")
            if text is None:
                raise BackendError(f"{objects.TEMPLATE_SETTING} ({source}): the ConfigMap has no key pod-template.yaml")
        else:
            try:
                text = Path(source).read_text()
            except OSError as error:
                raise BackendError(f"{objects.TEMPLATE_SETTING} ({source}) cannot be read: {error}") from None
        return objects.parse_template(text, source)

    def _get_configmap(self, name: str) -> dict[str, Any]:
        try:
            return self._call("read", "config_map", name)
        except InstanceNotFound:
            raise BackendError(
                f"{objects.TEMPLATE_SETTING} (configmap:{name}): no ConfigMap {name} in namespace {self.namespace}"
            ) from None
