"""The supervisor's decisions, as one pure function: ``decide(state, message, now, settings)``.

The supervisor (``prodigy.k8s.supervise``) is a thin shell: watch threads, log followers, a
heartbeat and signal handlers put messages into one inbox; the owner thread hands each message
(or a ``Tick`` when nothing came before ``wake_in``) to ``decide`` and carries out the actions of
the ``Decision`` it gets back. Everything that decides something lives here, over plain data, so
it is tested with literal Job, Pod, Event and Node dicts and an injected clock:

- the run is over when the Job's conditions say so (``Finish``);
- the Job vanished (deleted by someone else): wait, bounded, for its pods to stop and hand
  their last export to the termination capture, then end (``JobGone``);
- a pod that is not running yet is diagnosed (``diagnose``): the status line shows the reason
  and its grace deadline; at the deadline the events are read again (``ReadEvents``) and, if
  still terminal, the run fails (``GiveUp``). No pod at all: the Job's own ``FailedCreate``
  events (watched) say why; a LimitRange refusal asks for the namespace's LimitRanges once
  (``ReadLimitRanges``) to name the one that refuses;
- a running pod's node is watched (``WatchNode``) when allowed: a node NotReady or gone, or a
  pod marked not ready by the node controller, shows on the status line with a countdown, and
  after ``node_lost_seconds`` the run fails as ``NodeLost``;
- an API server unreachable for more than a few seconds (watch errors, the heartbeat) shows on
  the status line; it does not end the run: the pod may be fine, and the watches resume;
- a signal cancels (``Cancel``); a watch that fails for good (403 on the Job) aborts (``Abort``).
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from prodigy.k8s.config.resolve import GraceWindows
from prodigy.k8s.diagnose import Category, Diagnosis, diagnose, pod_phase_summary
from prodigy.k8s.errors import KubeError
from prodigy.k8s.progress import JobEnd, job_end, workload_started_ending
from prodigy.k8s.render import format_pending
from prodigy.k8s.status import format_status
from prodigy.k8s.supervision.liveness import NodeTrouble, disruption, is_running, node_of, node_trouble
from prodigy.k8s.watch import WatchEvent

Obj = Mapping[str, Any]

TICK_SECONDS = 1.0            # the status line's elapsed counter
API_NOTICE_SECONDS = 5.0      # unreachable this long: say so on the status line
MIN_WAKE_SECONDS = 0.05


def _frozen(mapping: Mapping[str, Any] | None = None) -> Mapping[str, Any]:
    return types.MappingProxyType(dict(mapping or {}))


# --- time, settings --------------------------------------------------------------------------


@dataclass(frozen=True)
class Now:
    """One reading of the clocks: ``monotonic`` for durations, ``wall`` for the API's timestamps."""

    monotonic: float
    wall: datetime


@dataclass(frozen=True)
class Settings:
    job_name: str
    namespace: str
    grace: GraceWindows = GraceWindows()
    # After the Job vanished: how long its pods may take to stop and print their last export
    # (the pod's terminationGracePeriodSeconds plus a margin for the API round trips).
    pods_gone_wait_seconds: float = 40.0


# --- messages in -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """Nothing arrived before ``wake_in``: time passed."""


@dataclass(frozen=True)
class Interrupt:
    signum: int


@dataclass(frozen=True)
class EventsRead:
    """The answer to ``ReadEvents``: events about the Job and its pods, listed now."""

    items: tuple[Obj, ...]


@dataclass(frozen=True)
class LimitRangesRead:
    """The answer to ``ReadLimitRanges`` (empty when not readable)."""

    items: tuple[Obj, ...]


Message = WatchEvent | Tick | Interrupt | EventsRead | LimitRangesRead


# --- actions out -----------------------------------------------------------------------------


@dataclass(frozen=True)
class FollowLogs:
    """Start a log follower for every container of the pods that runs or ran."""


@dataclass(frozen=True)
class ReadEvents:
    uids: tuple[str, ...]


@dataclass(frozen=True)
class ReadLimitRanges:
    pass


@dataclass(frozen=True)
class WatchNode:
    name: str


@dataclass(frozen=True)
class Finish:
    end: JobEnd


@dataclass(frozen=True)
class GiveUp:
    """A pending reason or a lost node outlived its grace window: fail, remove the Job."""

    diagnosis: Diagnosis


@dataclass(frozen=True)
class JobGone:
    """The Job was deleted outside prodigy, and its pods have stopped (or the wait ran out)."""

    reason: str


@dataclass(frozen=True)
class Cancel:
    signum: int


@dataclass(frozen=True)
class Abort:
    error: KubeError


Action = FollowLogs | ReadEvents | ReadLimitRanges | WatchNode | Finish | GiveUp | JobGone | Cancel | Abort
ENDINGS = (Finish, GiveUp, JobGone, Cancel, Abort)


# --- state -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    started: float                                              # monotonic
    job: Obj | None = None
    job_gone_at: float | None = None                            # monotonic: the Job vanished
    pods: Mapping[str, Obj] = field(default_factory=_frozen)    # by uid
    pods_listed: bool = False                                   # the pod watch's first list arrived
    events: Mapping[str, Obj] = field(default_factory=_frozen)  # by uid: the Job's (watched) and pods' (read)
    events_checked: datetime | None = None                      # the deadline for which events were re-read
    limit_ranges: tuple[Obj, ...] | None = None                 # None: not asked for yet
    nodes: Mapping[str, Obj] = field(default_factory=_frozen)   # by name
    nodes_deleted: frozenset[str] = frozenset()
    nodes_watched: frozenset[str] = frozenset()
    nodes_readable: bool = True
    node_trouble_seen: Mapping[str, datetime] = field(default_factory=_frozen)  # first seen, by node
    unreachable: Mapping[str, float] = field(default_factory=_frozen)  # source -> since (monotonic)
    unreachable_since: float | None = None                      # the first failure of the current streak
    unreachable_detail: str = ""
    pending: Diagnosis | None = None
    events_readable: bool = True


def initial_state(now: Now) -> State:
    return State(started=now.monotonic)


@dataclass(frozen=True)
class Decision:
    state: State
    actions: tuple[Action, ...] = ()
    status: str = ""
    wake_in: float = TICK_SECONDS

    @property
    def ending(self) -> Action | None:
        return next((a for a in self.actions if isinstance(a, ENDINGS)), None)


# --- the function ------------------------------------------------------------------------------


def decide(state: State, message: Message, now: Now, settings: Settings) -> Decision:
    if isinstance(message, Interrupt):
        return Decision(state, (Cancel(message.signum),), _status(state, now, settings))
    state, actions = absorb(state, message, now)
    if any(isinstance(a, Abort) for a in actions):
        return Decision(state, tuple(actions), _status(state, now, settings))

    end = job_end(state.job)
    # A Job seen already over (a client attaching to a finished run) is finished once its pods
    # are known too: their logs and the agent's report come from them.
    if end is not None and state.pods_listed:
        return Decision(replace(state, pending=None), (*actions, Finish(end)), _status(state, now, settings))
    if state.job_gone_at is not None:
        return _job_gone(state, actions, now, settings)

    state, more = _pending(state, now, settings)
    actions += more
    if not any(isinstance(a, (GiveUp, ReadEvents)) for a in more):
        state, more = _liveness(state, now, settings)
        actions += more
    return Decision(state, tuple(actions), _status(state, now, settings), _wake_in(state, now, settings))


def absorb(state: State, message: Message, now: Now) -> tuple[State, list[Action]]:
    """What a message changes in the state (and the actions it alone calls for)."""
    actions: list[Action] = []
    if isinstance(message, EventsRead):
        merged = {**state.events, **{_uid(e): e for e in message.items}}
        checked = state.pending.deadline if state.pending is not None else None
        return replace(state, events=_frozen(merged), events_checked=checked), actions
    if isinstance(message, LimitRangesRead):
        return replace(state, limit_ranges=tuple(message.items)), actions
    if not isinstance(message, WatchEvent):
        return state, actions
    kind, typ = message.kind, message.type
    if typ == "UNREACHABLE":
        since = state.unreachable.get(kind, now.monotonic)
        detail = _short_reason(message.error.message) if message.error is not None else ""
        return replace(state, unreachable=_frozen({**state.unreachable, kind: since}),
                       unreachable_since=now.monotonic if state.unreachable_since is None else state.unreachable_since,
                       unreachable_detail=detail or state.unreachable_detail), actions
    if typ == "REACHABLE":
        # Unreachable until every source that failed answers again, counted from the first failure.
        left = {k: v for k, v in state.unreachable.items() if k != kind}
        return replace(state, unreachable=_frozen(left), unreachable_since=state.unreachable_since if left else None,
                       unreachable_detail=state.unreachable_detail if left else ""), actions
    if typ == "ERROR":
        # Events and Nodes are read when allowed; without the permission, supervision goes on
        # without them. The Job and its pods are not optional.
        if kind == "events":
            return replace(state, events_readable=False), actions
        if kind == "node":
            return replace(state, nodes_readable=False), actions
        assert message.error is not None
        return state, [Abort(message.error)]
    if kind == "job":
        return _apply_job(state, message, now), actions
    if kind == "pods":
        return _apply_pods(state, message), [FollowLogs()]
    if kind == "events":
        return _apply_events(state, message), actions
    if kind == "node":
        return _apply_node(state, message), actions
    return state, actions


def _short_reason(message: str) -> str:
    """``[Errno 111] Connection refused`` out of ``cluster 'x': API server unreachable: [Errno 111] ...``."""
    first = (message.strip().splitlines() or [""])[0]
    reason = first.rsplit("API server unreachable:", 1)[-1].strip()
    reason = re.sub(r"^cluster '[^']*':\s*", "", reason).strip(" :")
    return reason if len(reason) > 2 else ""


def _apply_job(state: State, event: WatchEvent, now: Now) -> State:
    gone = now.monotonic if state.job_gone_at is None else state.job_gone_at
    if event.type == "SYNC":
        if event.items:
            return replace(state, job=event.items[0])
        return replace(state, job_gone_at=gone) if state.job is not None else state
    if event.type == "DELETED":
        return replace(state, job_gone_at=gone)
    return replace(state, job=event.obj) if event.obj is not None else state


def _apply_pods(state: State, event: WatchEvent) -> State:
    if event.type == "SYNC":
        return replace(state, pods=_frozen({_uid(p): p for p in event.items}), pods_listed=True)
    if event.obj is None:
        return state
    pods = dict(state.pods)
    if event.type == "DELETED":
        pods.pop(_uid(event.obj), None)
    else:
        pods[_uid(event.obj)] = event.obj
    return replace(state, pods=_frozen(pods))


def _apply_events(state: State, event: WatchEvent) -> State:
    events = dict(state.events)
    if event.type == "SYNC":
        events.update({_uid(e): e for e in event.items})
    elif event.obj is not None:
        if event.type == "DELETED":
            events.pop(_uid(event.obj), None)
        else:
            events[_uid(event.obj)] = event.obj
    return replace(state, events=_frozen(events))


def _apply_node(state: State, event: WatchEvent) -> State:
    nodes, deleted = dict(state.nodes), set(state.nodes_deleted)
    items = event.items if event.type == "SYNC" else ((event.obj,) if event.obj is not None else ())
    for node in items:
        name = str((node.get("metadata") or {}).get("name") or "")
        if event.type == "DELETED":
            nodes.pop(name, None)
            deleted.add(name)
        else:
            nodes[name] = node
            deleted.discard(name)
    return replace(state, nodes=_frozen(nodes), nodes_deleted=frozenset(deleted))


def _uid(obj: Obj) -> str:
    meta = obj.get("metadata") or {}
    return str(meta.get("uid") or meta.get("name") or id(obj))


# --- endings and checks ---------------------------------------------------------------------


def _job_gone(state: State, actions: list[Action], now: Now, settings: Settings) -> Decision:
    """Someone deleted the Job: its pods get SIGTERM and export what they have. Wait for them
    to stop (the termination capture reads that export) before ending, bounded."""
    assert state.job_gone_at is not None
    waiting = [p for p in state.pods.values() if (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
    waited = now.monotonic - state.job_gone_at
    status = _status(state, now, settings)
    if not waiting or waited >= settings.pods_gone_wait_seconds:
        reason = f"Job {settings.job_name} was deleted outside prodigy while the workflow ran"
        return Decision(replace(state, pending=None), (*actions, JobGone(reason)), status)
    wake = max(MIN_WAKE_SECONDS, min(TICK_SECONDS, settings.pods_gone_wait_seconds - waited))
    return Decision(state, tuple(actions), status, wake)


def _pending(state: State, now: Now, settings: Settings) -> tuple[State, list[Action]]:
    """A pod not running yet (or no pod at all): diagnosed against its grace window."""
    job = state.job
    if job is None or workload_started_ending(state.pods.values()):
        return replace(state, pending=None), []
    found = diagnose(job, list(state.pods.values()), list(state.events.values()), {}, now.wall,
                     settings.grace, limit_ranges=state.limit_ranges or ())
    actions: list[Action] = []
    if found is not None and found.category is Category.POD_CREATION_LIMIT_RANGE and state.limit_ranges is None:
        # The refusal does not name the LimitRange: read them once to name it.
        state = replace(state, limit_ranges=())
        actions.append(ReadLimitRanges())
    if found is not None and found.terminal:
        if state.events_checked != found.deadline:
            # Before failing, re-read the events: a TriggeredScaleUp (autoscaler) or the first pull
            # failure's time may move the deadline.
            uids = (str((job.get("metadata") or {}).get("uid") or ""), *state.pods)
            return replace(state, pending=found), [*actions, ReadEvents(tuple(u for u in uids if u))]
        return replace(state, pending=found), [*actions, GiveUp(found)]
    return replace(state, pending=found), actions


def _running_pods(state: State) -> list[Obj]:
    return [p for p in state.pods.values() if is_running(p)]


def _liveness(state: State, now: Now, settings: Settings) -> tuple[State, list[Action]]:
    """Nodes of running pods: watch them; a lost one is tolerated for ``node_lost_seconds``."""
    actions: list[Action] = []
    watched = set(state.nodes_watched)
    for pod in _running_pods(state):
        name = node_of(pod)
        if name and name not in watched and state.nodes_readable:
            watched.add(name)
            actions.append(WatchNode(name))
    state = replace(state, nodes_watched=frozenset(watched))
    troubles = _troubles(state)
    seen = {name: when for name, when in state.node_trouble_seen.items() if name in troubles}
    for name in troubles:
        seen.setdefault(name, now.wall)
    state = replace(state, node_trouble_seen=_frozen(seen))
    for pod, trouble in _pod_troubles(state):
        deadline = _node_deadline(state, trouble, now, settings)
        if now.wall >= deadline:
            return state, [*actions, GiveUp(node_lost(pod, trouble, now.wall, deadline, settings))]
    return state, actions


def _pod_troubles(state: State) -> list[tuple[Obj, NodeTrouble]]:
    found = []
    for pod in _running_pods(state):
        name = node_of(pod)
        node = state.nodes.get(name) if name else None
        readable = state.nodes_readable and name in state.nodes_watched
        trouble = node_trouble(pod, node if readable else None, node_deleted=bool(name in state.nodes_deleted))
        if trouble is None and readable and node is None:
            trouble = node_trouble(pod, None)          # the Node not seen yet: the pod's condition
        if trouble is not None:
            found.append((pod, trouble))
    return found


def _troubles(state: State) -> dict[str, NodeTrouble]:
    return {trouble.node: trouble for _, trouble in _pod_troubles(state)}


def _node_deadline(state: State, trouble: NodeTrouble, now: Now, settings: Settings) -> datetime:
    """From when the API says the trouble began, else from when it was first seen here."""
    since = trouble.since or state.node_trouble_seen.get(trouble.node) or now.wall
    return since + timedelta(seconds=settings.grace.node_lost_seconds)


def node_lost(pod: Obj, trouble: NodeTrouble, now: datetime, deadline: datetime, settings: Settings) -> Diagnosis:
    pod_name = str((pod.get("metadata") or {}).get("name") or "")
    waited = int(settings.grace.node_lost_seconds)
    return Diagnosis(
        Category.NODE_LOST, f"{trouble.text}, and its pod {pod_name} with it (waited {waited}s for the node to "
                            "come back)", terminal=True,
        pod=pod_name, deadline=deadline,
        hint="the node crashed, was removed or lost its network; the work the pod did since the run's last "
             "export is lost with it. The Job is deleted; resume the session to run the remaining steps "
             f"(node_lost_grace_seconds in kubernetes.yaml sets how long to wait, now {waited}s)",
        inspect=(f"kubectl describe node {trouble.node}", f"kubectl -n {settings.namespace} describe pod {pod_name}"))


# --- what the user sees ---------------------------------------------------------------------


def _status(state: State, now: Now, settings: Settings) -> str:
    elapsed = now.monotonic - state.started
    pods = sorted(state.pods.values(), key=lambda p: str((p.get("metadata") or {}).get("creationTimestamp") or ""))
    if pods:
        phase = pod_phase_summary(pods[-1])
    elif state.job is not None and (state.job.get("spec") or {}).get("suspend"):
        phase = "Submitted"
    else:
        phase = "Waiting for the pod"
    details: list[str] = []
    if state.job_gone_at is not None:
        details.append("the Job was deleted outside prodigy; waiting for its pod to stop and hand over its commits")
    elif state.pending is not None:
        # The diagnosis names the reason in words; the pod's waiting reason would repeat it.
        phase = "Pending"
        details.append(format_pending(state.pending, now.wall))
    for _, trouble in _pod_troubles(state):
        remaining = int((_node_deadline(state, trouble, now, settings) - now.wall).total_seconds())
        details.append(trouble.text + (f", gives up in {remaining}s" if remaining > 0 else ""))
    if pods and (text := disruption(pods[-1])):
        details.append(text)
    down = _unreachable_for(state, now)
    if down is not None and down >= API_NOTICE_SECONDS:
        detail = f" ({state.unreachable_detail})" if state.unreachable_detail else ""
        details.insert(0, f"API server unreachable for {int(down)}s, retrying{detail}")
    return format_status(settings.job_name, phase, "; ".join(details), elapsed)


def _unreachable_for(state: State, now: Now) -> float | None:
    if state.unreachable_since is None:
        return None
    return now.monotonic - state.unreachable_since


def _wake_in(state: State, now: Now, settings: Settings) -> float:
    """Wake for the elapsed counter, a pending deadline, a node deadline, the API notice."""
    wake = TICK_SECONDS
    if state.pending is not None and state.pending.deadline is not None:
        wake = min(wake, (state.pending.deadline - now.wall).total_seconds())
    for _, trouble in _pod_troubles(state):
        wake = min(wake, (_node_deadline(state, trouble, now, settings) - now.wall).total_seconds())
    down = _unreachable_for(state, now)
    if down is not None and down < API_NOTICE_SECONDS:
        wake = min(wake, API_NOTICE_SECONDS - down)
    return max(MIN_WAKE_SECONDS, wake)
