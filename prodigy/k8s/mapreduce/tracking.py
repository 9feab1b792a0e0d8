"""Which items of a map Job are done, running, pending or lost, from the Job and its pods. Pure.

The map phase's shell (`map_job`) watches three collections (the Job, its pods, the Job's
events: list-then-watch each, no per-pod polling) and feeds every event to `absorb`; after each
one `decide` says what changed for the user and what to fetch:

- ``Collect(i, pod, ok)`` once per completion index: a pod of index ``i`` succeeded (final: an
  index with a succeeded pod is complete), or the Job lists ``i`` in ``failedIndexes`` (its
  newest pod holds the partial commits and the error);
- ``Running(i, pod, attempt)`` once per pod, when it runs (so the journal and the live view
  know where item ``i`` runs, and which attempt it is);
- ``Lost(i, pod, reason)`` once per pod that failed while its index is neither failed nor
  complete: the Job controller starts another pod for the index (evicted, node gone, pod
  deleted);
- the progress: how many run, how many wait and why (`classify_pending` on each pending
  pod, `creation_refused` on the Job's events when the Job cannot create more pods), and a
  diagnosis that outlived its grace window (``stuck``: the phase gives up).

The Job is over when its conditions say so (`job_end`); the phase then ends once every index
that finished was collected.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Final

from prodigy.k8s.config.resolve import GraceWindows
from prodigy.k8s.diagnose import Diagnosis, classify_pending, creation_refused, pod_phase_summary
from prodigy.k8s.progress import JobEnd, job_end
from prodigy.k8s.render import format_pending
from prodigy.k8s.watch import WatchEvent

__all__ = ["INDEX_LABEL", "Collect", "Lost", "MapState", "Progress", "Running", "absorb", "decide", "parse_indexes",
           "pod_index"]

Obj = Mapping[str, Any]

INDEX_LABEL: Final = "batch.kubernetes.io/job-completion-index"
FAILURE_COUNT: Final = "batch.kubernetes.io/job-index-failure-count"
_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def _frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(mapping or {}))


def parse_indexes(text: object) -> frozenset[int]:
    """``"0-3,5,7-8"`` (the Job's completedIndexes / failedIndexes) -> {0, 1, 2, 3, 5, 7, 8}."""
    found: set[int] = set()
    for part in str(text or "").split(","):
        match = _RANGE.match(part.strip())
        if match is None:
            continue
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) else first
        found.update(range(first, last + 1))
    return frozenset(found)


def pod_index(pod: Obj) -> int | None:
    meta = pod.get("metadata") or {}
    value = (meta.get("labels") or {}).get(INDEX_LABEL) or (meta.get("annotations") or {}).get(INDEX_LABEL)
    return int(value) if isinstance(value, str) and value.isdigit() else None


def _name(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("name") or "")


def _uid(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name") or id(obj))


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def _created(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("creationTimestamp") or "")


def attempt_of(pod: Obj) -> int:
    """1 for an index's first pod; the Job controller counts the failed ones before it."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(FAILURE_COUNT)
    return int(value) + 1 if isinstance(value, str) and value.isdigit() else 1


# --- messages in, actions out ------------------------------------------------------------------


@dataclass(frozen=True)
class Collect:
    job_index: int
    pod: str | None              # None: the index failed and its pod is gone
    succeeded: bool
    attempt: int = 1


@dataclass(frozen=True)
class Running:
    job_index: int
    pod: str
    node: str | None
    attempt: int


@dataclass(frozen=True)
class Lost:
    job_index: int
    pod: str
    reason: str
    attempt: int


Action = Collect | Running | Lost


@dataclass(frozen=True)
class Progress:
    running: int = 0
    pending: int = 0
    waiting: str = ""             # why pods wait, for the status line ("" when nothing waits)
    stuck: Diagnosis | None = None


@dataclass(frozen=True)
class MapState:
    completions: int
    job: Obj | None = None
    pods: Mapping[str, Obj] = field(default_factory=_frozen)       # by uid
    events: Mapping[str, Obj] = field(default_factory=_frozen)     # the Job's, by uid
    announced: frozenset[str] = frozenset()                        # pod uids reported Running
    lost: frozenset[str] = frozenset()                             # pod uids reported Lost
    collected: frozenset[int] = frozenset()
    job_gone: bool = False

    @property
    def end(self) -> JobEnd | None:
        found = job_end(self.job)
        return found if found is not None and found.final else None

    @property
    def completed(self) -> frozenset[int]:
        return parse_indexes(((self.job or {}).get("status") or {}).get("completedIndexes"))

    @property
    def failed(self) -> frozenset[int]:
        return parse_indexes(((self.job or {}).get("status") or {}).get("failedIndexes"))

    @property
    def over(self) -> bool:
        """The Job ended (or vanished) and every index that finished has been collected."""
        if not (self.end is not None or self.job_gone):
            return False
        return (self.completed | self.failed | self._succeeded_indexes()) <= self.collected

    def _succeeded_indexes(self) -> frozenset[int]:
        return frozenset(i for p in self.pods.values() if _phase(p) == "Succeeded" and (i := pod_index(p)) is not None)


def absorb(state: MapState, message: WatchEvent) -> MapState:
    """What a watch event changes (events of other kinds are ignored)."""
    items = message.items if message.type == "SYNC" else ((message.obj,) if message.obj is not None else ())
    if message.kind == "job":
        if message.type == "DELETED" or (message.type == "SYNC" and not items and state.job is not None):
            return replace(state, job_gone=True)
        return replace(state, job=items[-1]) if items else state
    if message.kind == "pods":
        pods = {} if message.type == "SYNC" else dict(state.pods)
        for pod in items:
            if message.type == "DELETED" and pod_index(pod) in state.collected:
                pods.pop(_uid(pod), None)
            elif message.type == "DELETED":
                # Kept (as deleted) until its item is collected: it may be the attempt the Job
                # replaces, which the user is told about once the next attempt's pod exists.
                pods[_uid(pod)] = _deleted(pod)
            else:
                pods[_uid(pod)] = pod
        return replace(state, pods=_frozen(pods))
    if message.kind == "events":
        events = dict(state.events)
        for event in items:
            if message.type == "DELETED":
                events.pop(_uid(event), None)
            else:
                events[_uid(event)] = event
        return replace(state, events=_frozen(events))
    return state


def decide(state: MapState, now: datetime, grace: GraceWindows = GraceWindows()
           ) -> tuple[MapState, list[Action], Progress]:
    actions: list[Action] = []
    by_index: dict[int, list[Obj]] = {}
    for pod in state.pods.values():
        index = pod_index(pod)
        if index is not None:
            by_index.setdefault(index, []).append(pod)
    for pods in by_index.values():
        pods.sort(key=_created)
    announced, lost, collected = set(state.announced), set(state.lost), set(state.collected)
    failed = state.failed
    for index in sorted(by_index):
        if index in collected:
            continue
        pods = by_index[index]
        for pod in pods:
            uid = _uid(pod)
            if uid not in announced and _phase(pod) in ("Running", "Succeeded", "Failed") and _started(pod):
                announced.add(uid)
                actions.append(Running(index, _name(pod), (pod.get("spec") or {}).get("nodeName"), attempt_of(pod)))
        winner = next((p for p in pods if _phase(p) == "Succeeded"), None)
        if winner is not None:
            collected.add(index)
            actions.append(Collect(index, _name(winner), True, attempt_of(winner)))
            continue
        if index in failed:
            last = next((p for p in reversed(pods) if _phase(p) == "Failed"), pods[-1])
            collected.add(index)
            actions.append(Collect(index, _name(last), False, attempt_of(last)))
            continue
        # A failed pod is lost (its index runs again) once a newer pod of the index exists: until
        # then it may still be the index's last failure, reported by the Job as failedIndexes.
        for pod, newer in zip(pods, pods[1:], strict=False):
            uid = _uid(pod)
            if _phase(pod) == "Failed" and uid not in lost and newer is not None:
                lost.add(uid)
                actions.append(Lost(index, _name(pod), _lost_because(pod), attempt_of(pod)))
    for index in sorted(failed - set(by_index) - collected):
        collected.add(index)                                   # failed, and its pods already gone
        actions.append(Collect(index, None, False))
    state = replace(state, announced=frozenset(announced), lost=frozenset(lost), collected=frozenset(collected))
    progress = _progress(state, by_index, now, grace)
    return _forget_collected(state), actions, progress


def _forget_collected(state: MapState) -> MapState:
    """The pods of a collected index are done with: dropped, so that the state (and the work of
    every decision) follows the pods that run, not every pod the Job ever had."""
    keep = {uid: pod for uid, pod in state.pods.items()
            if pod_index(pod) not in state.collected or _phase(pod) in ("Pending", "Running")}
    if len(keep) == len(state.pods):
        return state
    gone = set(state.pods) - set(keep)
    return replace(state, pods=_frozen(keep), announced=state.announced - gone, lost=state.lost - gone)


def _deleted(pod: Obj) -> Obj:
    meta = dict(pod.get("metadata") or {})
    meta.setdefault("deletionTimestamp", "deleted")
    status = dict(pod.get("status") or {})
    if status.get("phase") not in ("Succeeded", "Failed"):
        status["phase"] = "Failed"               # gone before it said how it ended
    return {**pod, "metadata": meta, "status": status}


def _lost_because(pod: Obj) -> str:
    """``deleted``, ``evicted: <message>``, or the pod's failure (``Failed: Error (exit 143)``)."""
    status = pod.get("status") or {}
    if any(c.get("type") == "DisruptionTarget" and c.get("status") == "True" for c in status.get("conditions") or ()):
        cause = next(c for c in status["conditions"] if c.get("type") == "DisruptionTarget")
        return f"disrupted: {cause.get('reason') or ''} {cause.get('message') or ''}".strip()
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        return "deleted"
    return pod_phase_summary(pod)


def _started(pod: Obj) -> bool:
    """The agent container ran (a pod that failed in its init container never started the item)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or ():
        state = status.get("state") or {}
        if "running" in state or "terminated" in state:
            return True
    return False


def _progress(state: MapState, by_index: Mapping[int, Sequence[Obj]], now: datetime,
              grace: GraceWindows) -> Progress:
    job = state.job
    if job is None or state.end is not None or state.job_gone:
        return Progress()
    live = [p for pods in by_index.values() for p in pods if _phase(p) in ("Pending", "Running")
            and not (p.get("metadata") or {}).get("deletionTimestamp")]
    running = sum(1 for p in live if _phase(p) == "Running")
    waiting_pods = [p for p in live if _phase(p) == "Pending"]
    reasons: dict[str, int] = {}
    stuck: Diagnosis | None = None
    events = list(state.events.values())
    for pod in waiting_pods:
        found = classify_pending(job, [pod], events, now, grace)
        if found is None:
            continue
        reasons[format_pending(found, now)] = reasons.get(format_pending(found, now), 0) + 1
        if found.terminal and stuck is None:
            stuck = found
    refused = creation_refused(job, events, now, grace)
    if refused is not None:
        reasons[format_pending(refused, now)] = reasons.get(format_pending(refused, now), 0) + 1
        if refused.terminal and stuck is None:
            stuck = refused
    waiting = "; ".join(f"{count} {text}" if count > 1 else text for text, count in reasons.items())
    unfinished = state.completions - len(state.collected | state.completed | state.failed)
    pending = max(0, unfinished - running)
    return Progress(running=running, pending=pending, waiting=waiting, stuck=stuck)
