"""Pure builders of the pod status the kubelet reports.

The agent keeps one :class:`ContainerView` per container and turns the lot into the
``status`` dict it patches onto the pod. Nothing here talks to the API or the clock:
``now`` is passed in, so the phase and condition rules are unit-tested directly
(they follow ``getPhase`` and ``generateAPIPodStatus`` in pkg/kubelet/kubelet_pods.go,
without sidecar containers or container restart rules).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NamedTuple

NODE_IP = "127.0.0.1"
MAX_TERMINATION_MESSAGE = 4096
# The kubelet caps the FallbackToLogsOnError message at 80 lines as well as 4096 bytes.
FALLBACK_LOG_LINES = 80


class Phase(StrEnum):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"


class Waiting(NamedTuple):
    reason: str
    message: str = ""


class Running(NamedTuple):
    started_at: datetime


class Terminated(NamedTuple):
    exit_code: int
    reason: str
    finished_at: datetime
    started_at: datetime | None = None
    message: str = ""
    container_id: str = ""
    signal: int | None = None


ContainerState = Waiting | Running | Terminated


@dataclass(frozen=True)
class ContainerView:
    """What the agent knows about one container, in the shape the API wants."""

    name: str
    image: str
    state: ContainerState
    restart_count: int = 0
    last_state: Terminated | None = None
    container_id: str = ""
    image_id: str = ""


def format_time(moment: datetime) -> str:
    """metav1.Time: RFC 3339 in UTC, whole seconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def exit_reason(exit_code: int, oom_killed: bool) -> str:
    if oom_killed:
        return "OOMKilled"
    return "Completed" if exit_code == 0 else "Error"


def exit_code_of(returncode: int) -> int:
    """Popen reports death by signal N as -N; a container runtime reports 128+N."""
    return 128 - returncode if returncode < 0 else returncode


def termination_message(policy: str, file_text: str, log_tail: Sequence[str], exit_code: int) -> str:
    """The message the kubelet puts into ``state.terminated.message``.

    The file at terminationMessagePath wins; with FallbackToLogsOnError an empty file
    on a failed exit falls back to the last log lines. Both are capped at 4096 bytes.
    """
    text = file_text
    if not text and policy == "FallbackToLogsOnError" and exit_code != 0:
        text = "".join(log_tail[-FALLBACK_LOG_LINES:])
        encoded = text.encode()
        if len(encoded) > MAX_TERMINATION_MESSAGE:
            return encoded[-MAX_TERMINATION_MESSAGE:].decode(errors="replace")
        return text
    return text.encode()[:MAX_TERMINATION_MESSAGE].decode(errors="ignore")


def state_dict(state: ContainerState | None) -> dict[str, Any]:
    match state:
        case None:
            return {}
        case Waiting(reason, message):
            waiting: dict[str, Any] = {"reason": reason}
            if message:
                waiting["message"] = message
            return {"waiting": waiting}
        case Running(started_at):
            return {"running": {"startedAt": format_time(started_at)}}
        case Terminated() as done:
            terminated: dict[str, Any] = {
                "exitCode": done.exit_code,
                "reason": done.reason,
                "finishedAt": format_time(done.finished_at),
            }
            if done.started_at is not None:
                terminated["startedAt"] = format_time(done.started_at)
            if done.message:
                terminated["message"] = done.message
            if done.container_id:
                terminated["containerID"] = done.container_id
            if done.signal is not None:
                terminated["signal"] = done.signal
            return {"terminated": terminated}
    raise TypeError(f"not a container state: {state!r}")


def container_status(view: ContainerView) -> dict[str, Any]:
    running = isinstance(view.state, Running)
    status: dict[str, Any] = {
        "name": view.name,
        "image": view.image,
        "imageID": view.image_id,
        "ready": running,  # no readiness probes: a running container is ready
        "started": running,
        "restartCount": view.restart_count,
        "state": state_dict(view.state),
        "lastState": state_dict(view.last_state),
    }
    if view.container_id:
        status["containerID"] = view.container_id
    return status


def _has_failed_before(view: ContainerView) -> bool:
    return view.last_state is not None and view.last_state.exit_code != 0


def pod_phase(
    restart_policy: str,
    init: Sequence[ContainerView | None],
    main: Sequence[ContainerView | None],
    terminal: bool,
) -> Phase:
    """getPhase for pods without sidecars. ``None`` means the container has no status yet.

    ``terminal`` says no container will be started again (the pod is being deleted or
    the agent decided the pod is finished), so a stopped pod becomes Succeeded/Failed
    whatever its restart policy.
    """
    pending_init = failed_init = 0
    for view in init:
        match view.state if view else None:
            case Terminated(exit_code=0):
                pass
            case Terminated():
                failed_init += 1
            case Waiting() if view is not None and view.last_state is not None:
                failed_init += _has_failed_before(view)
            case _:
                pending_init += 1
    unknown = running = waiting = stopped = succeeded = 0
    for view in main:
        match view.state if view else None:
            case None:
                unknown += 1
            case Running():
                running += 1
            case Terminated(exit_code=code):
                stopped += 1
                succeeded += code == 0
            case Waiting() if view is not None and view.last_state is not None:
                stopped += 1
            case Waiting():
                waiting += 1
    if failed_init and restart_policy == "Never":
        return Phase.FAILED
    if pending_init or waiting:
        return Phase.PENDING
    if running and not unknown:
        return Phase.RUNNING
    if not running and stopped and not unknown:
        if terminal:
            return Phase.SUCCEEDED if stopped == succeeded else Phase.FAILED
        if restart_policy == "Always":
            return Phase.RUNNING
        if stopped == succeeded:
            return Phase.SUCCEEDED
        return Phase.RUNNING if restart_policy == "OnFailure" else Phase.FAILED
    return Phase.PENDING


def _condition(
    previous: Mapping[str, Mapping[str, Any]], kind: str, ok: bool, now: datetime, reason: str = "", message: str = ""
) -> dict[str, Any]:
    """A pod condition whose lastTransitionTime moves only when its status changes."""
    status = "True" if ok else "False"
    before = previous.get(kind, {})
    changed_at = before.get("lastTransitionTime") if before.get("status") == status else None
    condition: dict[str, Any] = {
        "type": kind,
        "status": status,
        "lastProbeTime": None,
        "lastTransitionTime": changed_at or format_time(now),
    }
    # Explicit nulls: the status is a strategic-merge patch, so an absent key would keep
    # the reason/message of the condition's previous state.
    condition["reason"] = reason or None
    condition["message"] = message or None
    return condition


def pod_conditions(
    phase: Phase,
    init: Sequence[ContainerView],
    main: Sequence[ContainerView],
    previous: Sequence[Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    before = {str(c.get("type")): c for c in previous}
    done = phase in (Phase.SUCCEEDED, Phase.FAILED)
    incomplete = [v.name for v in init if not (isinstance(v.state, Terminated) and v.state.exit_code == 0)]
    initialized = not incomplete or phase == Phase.SUCCEEDED
    unready = [v.name for v in main if not isinstance(v.state, Running)]
    if done:
        ready_reason, ready_message = "PodCompleted", ""
    else:
        ready_reason = "ContainersNotReady"
        ready_message = f"containers with unready status: [{' '.join(unready)}]"
    ready = not unready and not done
    return [
        _condition(before, "PodReadyToStartContainers", not done, now),
        _condition(
            before,
            "Initialized",
            initialized,
            now,
            *(() if initialized else ("ContainersNotInitialized", f"containers with incomplete status: [{' '.join(incomplete)}]")),
        ),
        _condition(before, "Ready", ready, now, *(() if ready else (ready_reason, ready_message))),
        _condition(before, "ContainersReady", ready, now, *(() if ready else (ready_reason, ready_message))),
        _condition(before, "PodScheduled", True, now),
    ]


def pod_status(
    restart_policy: str,
    init: Sequence[ContainerView],
    main: Sequence[ContainerView],
    previous_conditions: Sequence[Mapping[str, Any]],
    start_time: datetime,
    now: datetime,
    terminal: bool = False,
    generation: int | None = None,
) -> dict[str, Any]:
    """The full ``status`` the agent writes with a strategic-merge patch.

    ``generation`` is the pod's metadata.generation: since 1.35 the kubelet reports which
    generation of the spec its status (and each condition it owns) reflects.
    """
    phase = pod_phase(restart_policy, init, main, terminal)
    conditions = pod_conditions(phase, init, main, previous_conditions, now)
    if generation is not None:
        for condition in conditions:
            condition["observedGeneration"] = generation
    status: dict[str, Any] = {"observedGeneration": generation} if generation is not None else {}
    return status | {
        "phase": phase.value,
        "conditions": conditions,
        "hostIP": NODE_IP,
        "hostIPs": [{"ip": NODE_IP}],
        "podIP": NODE_IP,
        "podIPs": [{"ip": NODE_IP}],
        "startTime": format_time(start_time),
        "initContainerStatuses": [container_status(v) for v in init],
        "containerStatuses": [container_status(v) for v in main],
    }
