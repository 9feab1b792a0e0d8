"""What the clusters say about a set of runs now, for `prodigy cluster runs` (`runview` joins it).

Per cluster and namespace: one list of prodigy Jobs and one of prodigy pods (label
``app=prodigy``), however many runs the index holds; then, for each run whose workflow
container is running, one read of its log's tail, from which `ui.steps.current_step` reads
the step it is in (the pod has no API rights and needs none: its output says where it is).
Requests go out concurrently, so the answer takes about one round trip per stage; a cluster
that cannot be reached marks its runs unknown instead of failing the table.

`LiveReader` keeps one connection per cluster across the refreshes of ``--watch``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from prodigy.errors import ProdigyError
from prodigy.k8s import runlog, trace
from prodigy.k8s.clients import Kube
from prodigy.k8s.config.resolve import ClusterOverrides
from prodigy.k8s.connect import connect_to, resolve
from prodigy.k8s.logs import container_state
from prodigy.k8s.manifests.contract import AGENT_CONTAINER
from prodigy.k8s.manifests.metadata import LABEL_RUN_ID, PRODIGY_SELECTOR
from prodigy.k8s.progress import job_end
from prodigy.k8s.runview import LiveGroup, LiveRun
from prodigy.ui.steps import StepHeader, current_step

Key = tuple[str, str]      # (cluster name, namespace)
Obj = dict[str, Any]
WORKERS = 8


class LiveReader:
    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="prodigy-runs")
        self._kubes: dict[Key, Kube] = {}

    def snapshot(self, wanted: Mapping[Key, Collection[str]]) -> dict[Key, LiveGroup]:
        """``wanted``: the run ids to report, per cluster and namespace."""
        errors: dict[Key, str] = {}
        connecting = {key: self._pool.submit(self._kube, key) for key in wanted if key not in self._kubes}
        for key, future in connecting.items():
            error = _error_of(future)
            if error is not None:
                errors[key] = error
        listing: dict[Key, tuple[Future[list[Obj]], Future[list[Obj]]]] = {}
        for key in wanted:
            if key in errors:
                continue
            kube = self._kubes[key]
            listing[key] = (self._pool.submit(_list, kube, f"/apis/batch/v1/namespaces/{key[1]}/jobs"),
                            self._pool.submit(_list, kube, f"/api/v1/namespaces/{key[1]}/pods"))
        found: dict[Key, dict[str, tuple[Obj | None, list[Obj]]]] = {}
        for key, (jobs_future, pods_future) in listing.items():
            error = _error_of(jobs_future) or _error_of(pods_future)
            if error is not None:
                errors[key] = error
                continue
            found[key] = _by_run(jobs_future.result(), pods_future.result(), wanted[key])
        trace.mark("Jobs and pods listed")
        tails = {(key, run_id): self._pool.submit(_step, self._kubes[key], key[1], pod)
                 for key, runs in found.items() for run_id, (job, pods) in runs.items()
                 if (pod := _running_pod(job, pods)) is not None}
        groups: dict[Key, LiveGroup] = {key: LiveGroup(error=message) for key, message in errors.items()}
        for key, runs in found.items():
            views = {}
            for run_id, (job, pods) in runs.items():
                tail = tails.get((key, run_id))
                step = tail.result() if tail is not None and _error_of(tail) is None else None
                views[run_id] = LiveRun(job=job, pods=tuple(pods), step=step)
            groups[key] = LiveGroup(runs=views)
        return groups

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        for kube in self._kubes.values():
            kube.close()
        self._kubes.clear()

    def _kube(self, key: Key) -> None:
        self._kubes[key] = connect_to(resolve(key[0], ClusterOverrides(namespace=key[1])))


def _error_of(future: Future[Any]) -> str | None:
    error = future.exception()
    if error is None:
        return None
    if isinstance(error, ProdigyError):
        return error.message.splitlines()[0]
    return f"{type(error).__name__}: {error}"


def _list(kube: Kube, path: str) -> list[Obj]:
    listing = kube.request("GET", path, query=[("labelSelector", PRODIGY_SELECTOR)], action="listing prodigy runs")
    return list(listing.get("items") or [])


def _run_id(obj: Obj) -> str:
    return str(((obj.get("metadata") or {}).get("labels") or {}).get(LABEL_RUN_ID) or "")


def _by_run(jobs: Iterable[Obj], pods: Iterable[Obj], wanted: Collection[str]
            ) -> dict[str, tuple[Obj | None, list[Obj]]]:
    job_of = {_run_id(job): job for job in jobs}
    pods_of: dict[str, list[Obj]] = defaultdict(list)
    for pod in pods:
        pods_of[_run_id(pod)].append(pod)
    return {run_id: (job_of.get(run_id), pods_of.get(run_id, [])) for run_id in wanted}


def _running_pod(job: Obj | None, pods: list[Obj]) -> Obj | None:
    """The pod whose workflow container is running now (the only one with a current step)."""
    if job is None or job_end(job) is not None:
        return None
    for pod in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "", reverse=True):
        if container_state(pod, AGENT_CONTAINER) == "running":
            return pod
    return None


def _step(kube: Kube, namespace: str, pod: Obj) -> StepHeader | None:
    return current_step(runlog.read_tail(kube, namespace, pod["metadata"]["name"]).lines)
