"""The two places the transport talks to the API server: uploading chunks, reading the result.

Uploading happens between "Job created (suspended)" and "Job resumed" (see manifests/run.py's
creation order): every ConfigMap is owned by the Job from birth, so TTL and `cluster gc`
remove them with it. Chunks are read from disk one at a time: memory stays flat.

Collecting reads the `prodigy-results` container's log through `pods/log`, the permission the
CLI already has for streaming, and decodes it line by line into a temp file.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy.k8s.logs import LineSplitter
from prodigy.k8s.streams import give_back
from prodigy.k8s.manifests.metadata import owned_by
from prodigy.k8s.transport.manifest import MANIFEST_KEY, TransportManifest
from prodigy.k8s.transport.podspec import RESULTS_CONTAINER, chunk_configmap_name, manifest_configmap_name
from prodigy.k8s.transport.results import CollectedResult, receive

if TYPE_CHECKING:
    from prodigy.k8s.clients import Kube

Obj = dict[str, Any]
LOG_READ_TIMEOUT = 60.0


def chunk_configmaps(run_id: str, namespace: str, labels: Mapping[str, str], manifest: TransportManifest,
                     spool_dir: Path) -> Iterator[Obj]:
    """The manifest ConfigMap, then one per chunk; each chunk's bytes are read only when yielded."""
    def meta(name: str) -> Obj:
        return {"name": name, "namespace": namespace, "labels": dict(labels)}

    yield {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(manifest_configmap_name(run_id)),
           "immutable": True, "data": {MANIFEST_KEY: manifest.to_json()}}
    for index, chunk in enumerate(manifest.chunks):
        data = (spool_dir / chunk.path).read_bytes()
        yield {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(chunk_configmap_name(run_id, index)),
               "immutable": True, "binaryData": {"chunk": base64.b64encode(data).decode("ascii")}}


def upload_chunks(kube: Kube, *, namespace: str, job_name: str, job_uid: str, run_id: str,
                  labels: Mapping[str, str], manifest: TransportManifest, spool_dir: Path) -> int:
    """Create the transport ConfigMaps owned by the Job; returns how many chunk bytes were sent.

    Each create is retried and idempotent (submit.create_or_adopt: names carry the run id).
    """
    from prodigy.k8s.submit import create_or_adopt

    sent = 0
    for obj in chunk_configmaps(run_id, namespace, labels, manifest, spool_dir):
        create_or_adopt(kube, owned_by(obj, job_name, job_uid), run_id)
        sent += len(obj.get("binaryData", {}).get("chunk", "")) * 3 // 4
    return sent


def find_run_pod(kube: Kube, namespace: str, job_name: str) -> Obj | None:
    """The newest pod of the Job (there is one: backoffLimit 0 and restartPolicy Never)."""
    pods = kube.request("GET", f"/api/v1/namespaces/{namespace}/pods",
                        query=[("labelSelector", f"job-name={job_name}")], action="list pods").get("items", [])
    pods.sort(key=lambda p: p.get("metadata", {}).get("creationTimestamp", ""))
    return pods[-1] if pods else None


def results_container_ran(pod: Obj) -> bool:
    """False when the pod ended before the results container started (e.g. the init container failed)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        if status.get("name") == RESULTS_CONTAINER:
            state = status.get("state") or {}
            return "running" in state or "terminated" in state
    return False


def collect_result(kube: Kube, namespace: str, pod_name: str, spool_dir: Path, *, follow: bool = False,
                   read_timeout: float = LOG_READ_TIMEOUT,
                   on_missing: Callable[[str], None] | None = None) -> CollectedResult | None:
    """Read and verify the results container's framed output; None when the pod exported nothing.

    ``follow``: the container may still be running (a pod being deleted, see capture.py): read
    until it exits. ``read_timeout`` must then outlast the agent's quiet export time.
    """
    query = [("container", RESULTS_CONTAINER)] + ([("follow", "true")] if follow else [])
    response = kube.open_stream(
        f"/api/v1/namespaces/{namespace}/pods/{pod_name}/log",
        query=query, read_timeout=read_timeout, action=f"read the results of pod {pod_name}",
    )
    try:
        return receive(_lines(response), spool_dir, on_missing=on_missing)
    finally:
        give_back(response)     # the frames may end before the body does


def _lines(response: Any) -> Iterator[str]:
    splitter = LineSplitter()
    while chunk := response.read(64 * 1024):
        yield from splitter.feed(chunk)
    tail = splitter.flush()
    if tail is not None:
        yield tail
