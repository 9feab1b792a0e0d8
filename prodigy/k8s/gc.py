"""``prodigy cluster gc NAME``: delete leftover prodigy Jobs.

TTL removes finished Jobs on its own; what is left over is Jobs run with ``--keep``, Jobs
whose client died before the end, and suspended Jobs from a submission cut short. Every
object of a run hangs off its Job (ownerReferences), so deleting the Job with propagation
removes its pods, ConfigMaps and Secret too. Running Jobs are left alone unless asked: they
may be someone's live run.

A finished detached run that nobody collected yet holds the only copy of its commits
(`manifests.retention`): it counts as a leftover only once it is older than
``abandoned_after`` (a week by default), and is then named as an abandoned run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from prodigy.k8s.clients import Kube
from prodigy.k8s.errors import KubeError
from prodigy.k8s.manifests.metadata import LABEL_RUN_ID, PRODIGY_SELECTOR
from prodigy.k8s.manifests.retention import awaiting_collection
from prodigy.k8s.progress import job_end
from prodigy.k8s.submit import ObjectRef, delete

DEFAULT_ABANDONED_AFTER = "7d"


@dataclass(frozen=True)
class Leftover:
    name: str
    namespace: str
    run_id: str
    state: str          # succeeded / failed / running / suspended
    age: timedelta
    abandoned: bool = False   # a detached run finished and never collected

    def describe(self) -> str:
        age = _age(self.age)
        if self.abandoned:
            return (f"job {self.namespace}/{self.name} (abandoned detached run {self.run_id}: {self.state} "
                    f"{age} ago, never collected)")
        return f"job {self.namespace}/{self.name} ({self.state}, {int(self.age.total_seconds())}s old)"


def _age(age: timedelta) -> str:
    seconds = int(age.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _parse(ts: str | None) -> datetime | None:
    if not ts:
        return None
    try:
        return datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return None


def job_state(job: dict[str, Any]) -> str:
    end = job_end(job)
    if end is not None:
        return end.verdict.value
    return "suspended" if (job.get("spec") or {}).get("suspend") else "running"


def select_leftovers(jobs: Sequence[dict[str, Any]], *, now: datetime, older_than: timedelta,
                     include_running: bool = False,
                     abandoned_after: timedelta = timedelta(days=7)) -> list[Leftover]:
    """Pure: which prodigy Jobs to delete. Age counts from completion when there is one."""
    chosen = []
    for job in jobs:
        meta, status = job.get("metadata") or {}, job.get("status") or {}
        state = job_state(job)
        if state == "running" and not include_running:
            continue
        abandoned = state in ("succeeded", "failed") and awaiting_collection(job)
        since = _parse(status.get("completionTime")) or _parse(meta.get("creationTimestamp")) or now
        for condition in status.get("conditions") or []:
            if condition.get("type") == "Failed" and condition.get("status") == "True":
                since = _parse(condition.get("lastTransitionTime")) or since
        age = now - since
        if age >= (abandoned_after if abandoned else older_than):
            chosen.append(Leftover(str(meta.get("name")), str(meta.get("namespace")),
                                   str((meta.get("labels") or {}).get(LABEL_RUN_ID, "")), state, age, abandoned))
    return sorted(chosen, key=lambda item: item.age, reverse=True)


def awaiting_collection_kept(jobs: Sequence[dict[str, Any]], chosen: Sequence[Leftover]) -> list[str]:
    """Pure: the run ids of finished detached runs that wait for collection and are not deleted."""
    deleted = {(item.namespace, item.name) for item in chosen}
    kept = []
    for job in jobs:
        meta = job.get("metadata") or {}
        if (str(meta.get("namespace")), str(meta.get("name"))) in deleted:
            continue
        if job_state(job) in ("succeeded", "failed") and awaiting_collection(job):
            kept.append(str((meta.get("labels") or {}).get(LABEL_RUN_ID, meta.get("name"))))
    return sorted(kept)


def list_prodigy_jobs(kube: Kube, namespace: str | None) -> list[dict[str, Any]]:
    path = f"/apis/batch/v1/namespaces/{namespace}/jobs" if namespace else "/apis/batch/v1/jobs"
    listing = kube.request("GET", path, query=[("labelSelector", PRODIGY_SELECTOR)], action="listing prodigy Jobs")
    return list(listing.get("items") or [])


def collect(kube: Kube, leftovers: Sequence[Leftover]) -> list[str]:
    """Delete each leftover Job (Background propagation: pods, ConfigMaps and Secret follow).
    Returns the problems; a Job already gone is not one."""
    problems = []
    for item in leftovers:
        try:
            delete(kube, ObjectRef("Job", item.namespace, item.name), propagation="Background")
        except KubeError as exc:
            problems.append(f"{item.name}: {exc.message}")
    return problems


def parse_duration(text: str, option: str = "--older-than") -> timedelta:
    """``90s``, ``15m``, ``1h``, ``2d`` (or a plain number of seconds)."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            return timedelta(seconds=float(text[:-1]) * units[text[-1]])
        return timedelta(seconds=float(text))
    except ValueError:
        from prodigy.errors import UsageError

        raise UsageError(f"{option}: cannot read {text!r} as a duration",
                         hint="use a number with a unit: 30m, 1h, 2d") from None


def now_utc() -> datetime:
    return datetime.now(UTC)
