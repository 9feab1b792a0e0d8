"""Is the run over? Read from the Job's conditions, as ``kubectl wait --for=condition=...`` does.

``Complete``/``Failed`` are final. ``SuccessCriteriaMet``/``FailureTarget`` announce the same
verdict earlier (the Job controller has decided; the pods are still being finalised), so the
client can start draining logs and exit sooner. Pod phase alone is never trusted: a failed
pod may be retried under ``backoffLimit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

Obj = Mapping[str, Any]


class JobVerdict(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass(frozen=True)
class JobEnd:
    verdict: JobVerdict
    reason: str = ""       # e.g. BackoffLimitExceeded, DeadlineExceeded, PodFailurePolicy
    message: str = ""
    final: bool = True     # False for SuccessCriteriaMet/FailureTarget


_ORDER = (("Complete", JobVerdict.SUCCEEDED, True), ("Failed", JobVerdict.FAILED, True),
          ("SuccessCriteriaMet", JobVerdict.SUCCEEDED, False), ("FailureTarget", JobVerdict.FAILED, False))


def job_end(job: Obj | None) -> JobEnd | None:
    if not job:
        return None
    conditions = {c.get("type"): c for c in (job.get("status") or {}).get("conditions") or []
                  if c.get("status") == "True"}
    for kind, verdict, final in _ORDER:
        if kind in conditions:
            c = conditions[kind]
            return JobEnd(verdict, str(c.get("reason") or ""), str(c.get("message") or ""), final)
    return None


def workload_started_ending(pods: Any) -> bool:
    """Has any pod finished, or any of its main containers terminated?

    Init containers that exited are progress, not an ending: after the repository init
    container succeeds, the main container may still be stuck (CreateContainerConfigError,
    a pull failure), and that must still be diagnosed against its grace window.
    """
    for pod in pods:
        status = pod.get("status") or {}
        if status.get("phase") in ("Succeeded", "Failed"):
            return True
        for entry in status.get("containerStatuses") or []:
            if "terminated" in (entry.get("state") or {}):
                return True
    return False


def job_duration(job: Obj | None) -> float | None:
    """Seconds from the Job's start to its end (completion, or its final condition), when known:
    how long the run took, whoever reads it later."""
    from datetime import datetime

    def parse(value: object) -> datetime | None:
        try:
            return datetime.fromisoformat(str(value).replace("Z", "+00:00")) if value else None
        except ValueError:
            return None

    status = (job or {}).get("status") or {}
    started = parse(status.get("startTime"))
    ended = parse(status.get("completionTime"))
    if ended is None:
        ended = max((t for c in status.get("conditions") or () if c.get("type") in ("Complete", "Failed")
                     and c.get("status") == "True" and (t := parse(c.get("lastTransitionTime"))) is not None),
                    default=None)
    if started is None or ended is None or ended < started:
        return None
    return (ended - started).total_seconds()
