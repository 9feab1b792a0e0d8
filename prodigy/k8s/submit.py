"""Creating a run's objects: suspended Job, owned ConfigMap/Secret, then resume.

The order and its reasons are documented in ``prodigy.k8s.manifests.run``. This module adds
idempotency: every create is retried on 429/5xx/connection errors, and because each object
has a deterministic, run-id-bearing name, a create whose first attempt did land (the answer
was lost) comes back as 409 AlreadyExists. We then read the object and adopt it only if its
``prodigy.io/run-id`` label is ours; anything else is a real name clash and an error. A
retried create therefore never makes two Jobs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prodigy.k8s.clients import Kube
from prodigy.k8s.errors import Conflict, NotFound, kube_context
from prodigy.k8s.manifests.metadata import LABEL_RUN_ID, owned_by
from prodigy.k8s.manifests.run import RESUME_PATCH, RunObjects
from prodigy.k8s.retry import RetryPolicy, Waiter, call_with_retry

Obj = dict[str, Any]

SUBMIT_RETRY = RetryPolicy(attempts=6, base_delay=0.25, max_delay=4.0, deadline=30.0)


def collection_path(kind: str, namespace: str) -> str:
    paths = {
        "Job": f"/apis/batch/v1/namespaces/{namespace}/jobs",
        "ConfigMap": f"/api/v1/namespaces/{namespace}/configmaps",
        "Secret": f"/api/v1/namespaces/{namespace}/secrets",
    }
    try:
        return paths[kind]
    except KeyError:
        raise ValueError(f"prodigy does not create {kind} objects") from None


def object_path(obj: Obj) -> str:
    meta = obj["metadata"]
    return f"{collection_path(obj['kind'], meta['namespace'])}/{meta['name']}"


@dataclass(frozen=True)
class ObjectRef:
    kind: str
    namespace: str
    name: str

    @property
    def path(self) -> str:
        return f"{collection_path(self.kind, self.namespace)}/{self.name}"


@dataclass(frozen=True)
class SubmittedRun:
    run_id: str
    namespace: str
    job_name: str
    job_uid: str
    owned: tuple[ObjectRef, ...]


def create_or_adopt(kube: Kube, obj: Obj, run_id: str, *, policy: RetryPolicy = SUBMIT_RETRY,
                    waiter: Waiter = Waiter(), stop: threading.Event | None = None) -> Obj:
    """POST ``obj``; if it already exists and carries our run id, return the existing one."""
    meta = obj["metadata"]
    kind, name, namespace = obj["kind"], meta["name"], meta["namespace"]

    def attempt() -> Obj:
        try:
            return kube.request("POST", collection_path(kind, namespace), body=obj,
                                action=f"creating {kind} {name}")
        except Conflict as exc:
            if not exc.already_exists:
                raise
            existing = kube.request("GET", object_path(obj), action=f"reading {kind} {name}")
            theirs = ((existing.get("metadata") or {}).get("labels") or {}).get(LABEL_RUN_ID)
            if theirs == run_id:
                return existing   # an earlier attempt of ours landed; its answer was lost
            raise Conflict(f"{kind} {name!r} already exists and belongs to another run ({theirs or 'not prodigy'})",
                           status=409, reason="AlreadyExists",
                           hint="run again (a new run id picks a new name), or delete the old object") from exc

    with kube_context(kube.name, namespace, name if kind == "Job" else None):
        return call_with_retry(attempt, policy=policy, waiter=waiter, stop=stop)


def submit(kube: Kube, objects: RunObjects, *, run_id: str, policy: RetryPolicy = SUBMIT_RETRY,
           waiter: Waiter = Waiter(), stop: threading.Event | None = None,
           on_job_created: Callable[[str, str], None] | None = None) -> SubmittedRun:
    """Create the run: Job (suspended) → owned objects → resume. ``on_job_created(name, uid)``
    is called as soon as the Job exists, so a Ctrl+C from then on knows what to delete."""
    job = create_or_adopt(kube, objects.job, run_id, policy=policy, waiter=waiter, stop=stop)
    meta = job["metadata"]
    name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
    if on_job_created is not None:
        on_job_created(name, uid)
    owned = []
    for obj in objects.owned:
        create_or_adopt(kube, owned_by(obj, name, uid), run_id, policy=policy, waiter=waiter, stop=stop)
        owned.append(ObjectRef(obj["kind"], namespace, obj["metadata"]["name"]))
    if stop is None or not stop.is_set():
        resume(kube, namespace, name, policy=policy, waiter=waiter, stop=stop)
    return SubmittedRun(run_id, namespace, name, uid, tuple(owned))


def resume(kube: Kube, namespace: str, job_name: str, *, policy: RetryPolicy = SUBMIT_RETRY,
           waiter: Waiter = Waiter(), stop: threading.Event | None = None) -> None:
    """Unsuspend the Job (idempotent: a merge patch to the same value)."""
    path = f"{collection_path('Job', namespace)}/{job_name}"
    with kube_context(kube.name, namespace, job_name):
        call_with_retry(lambda: kube.request("PATCH", path, body=dict(RESUME_PATCH),
                                             content_type="application/merge-patch+json",
                                             action=f"starting Job {job_name}"),
                        policy=policy, waiter=waiter, stop=stop)


def delete(kube: Kube, ref: ObjectRef, *, propagation: str = "Foreground",
           policy: RetryPolicy = RetryPolicy(attempts=4, base_delay=0.2, max_delay=2.0, deadline=10.0)) -> bool:
    """DELETE one object with the given propagation. False when it was already gone."""
    body = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": propagation}
    try:
        call_with_retry(lambda: kube.request("DELETE", ref.path, body=body, action=f"deleting {ref.kind} {ref.name}"),
                        policy=policy)
    except NotFound:
        return False
    return True
