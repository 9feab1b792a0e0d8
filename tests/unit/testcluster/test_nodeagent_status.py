"""The node agent's pod status rules (kubelet getPhase and conditions), without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from testcluster.nodeagent.status import (
    ContainerView,
    Phase,
    Running,
    Terminated,
    Waiting,
    container_status,
    exit_code_of,
    exit_reason,
    pod_conditions,
    pod_phase,
    pod_status,
    termination_message,
)

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
T1 = T0 + timedelta(seconds=7)


def view(name: str = "main", state: Waiting | Running | Terminated | None = None, **fields: object) -> ContainerView:
    return ContainerView(name=name, image="busybox", state=state or Waiting("ContainerCreating"), **fields)  # type: ignore[arg-type]


def done(code: int) -> Terminated:
    return Terminated(code, exit_reason(code, False), T1, T0, container_id="process://1")


@pytest.mark.parametrize(
    ("policy", "states", "terminal", "expected"),
    [
        ("Never", [Waiting("ContainerCreating")], False, Phase.PENDING),
        ("Never", [Running(T0)], False, Phase.RUNNING),
        ("Never", [Running(T0), done(0)], False, Phase.RUNNING),
        ("Never", [done(0), done(0)], False, Phase.SUCCEEDED),
        ("Never", [done(0), done(1)], False, Phase.FAILED),
        ("OnFailure", [done(0)], False, Phase.SUCCEEDED),
        ("OnFailure", [done(1)], False, Phase.RUNNING),  # about to restart
        ("OnFailure", [done(1)], True, Phase.FAILED),  # being deleted: no restart
        ("Always", [done(0)], False, Phase.RUNNING),
        ("Always", [done(0)], True, Phase.SUCCEEDED),
    ],
)
def test_phase_of_regular_containers(policy: str, states: list, terminal: bool, expected: Phase) -> None:
    main = [view(f"c{i}", s) for i, s in enumerate(states)]

    assert pod_phase(policy, [], main, terminal) == expected


def test_a_container_in_crash_loop_back_off_keeps_the_pod_running() -> None:
    crashing = view(state=Waiting("CrashLoopBackOff", "back-off 10s"), last_state=done(1), restart_count=1)

    assert pod_phase("OnFailure", [], [crashing], terminal=False) == Phase.RUNNING


def test_init_containers_keep_the_pod_pending_until_all_succeeded() -> None:
    main = [view(state=Waiting("PodInitializing"))]

    assert pod_phase("Never", [view("i1", Running(T0))], main, False) == Phase.PENDING
    assert pod_phase("Never", [view("i1", done(0)), view("i2", Waiting("PodInitializing"))], main, False) == Phase.PENDING
    assert pod_phase("Never", [view("i1", done(0))], [view(state=Running(T0))], False) == Phase.RUNNING


def test_a_failed_init_container_fails_the_pod_only_with_restart_policy_never() -> None:
    main = [view(state=Waiting("PodInitializing"))]

    assert pod_phase("Never", [view("i1", done(1))], main, False) == Phase.FAILED
    assert pod_phase("OnFailure", [view("i1", done(1))], main, False) == Phase.PENDING


def test_terminated_container_status_has_exit_code_reason_and_times() -> None:
    status = container_status(view(state=done(3), container_id="process://42", restart_count=2, last_state=done(1)))

    assert status["state"] == {
        "terminated": {
            "exitCode": 3,
            "reason": "Error",
            "startedAt": "2026-01-02T03:04:05Z",
            "finishedAt": "2026-01-02T03:04:12Z",
            "containerID": "process://1",
        }
    }
    assert status["lastState"]["terminated"]["exitCode"] == 1
    assert (status["ready"], status["started"], status["restartCount"]) == (False, False, 2)
    assert status["containerID"] == "process://42"


def test_running_container_is_ready_and_started() -> None:
    status = container_status(view(state=Running(T0), container_id="process://7"))

    assert status["state"] == {"running": {"startedAt": "2026-01-02T03:04:05Z"}}
    assert (status["ready"], status["started"]) == (True, True)


def test_waiting_container_status_carries_reason_and_message() -> None:
    status = container_status(view(state=Waiting("ImagePullBackOff", 'Back-off pulling image "x:latest"')))

    assert status["state"] == {"waiting": {"reason": "ImagePullBackOff", "message": 'Back-off pulling image "x:latest"'}}
    assert "containerID" not in status


def test_exit_codes_and_reasons() -> None:
    assert exit_code_of(0) == 0
    assert exit_code_of(3) == 3
    assert exit_code_of(-9) == 137
    assert exit_code_of(-15) == 143
    assert exit_reason(0, oom_killed=False) == "Completed"
    assert exit_reason(1, oom_killed=False) == "Error"
    assert exit_reason(137, oom_killed=True) == "OOMKilled"


def test_conditions_while_running_and_after_completion() -> None:
    running = pod_conditions(Phase.RUNNING, [], [view(state=Running(T0))], [], T0)
    completed = pod_conditions(Phase.SUCCEEDED, [], [view(state=done(0))], running, T1)
    by_type = {c["type"]: c for c in completed}

    assert {c["type"]: c["status"] for c in running} == {
        "PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "True",
        "ContainersReady": "True", "PodScheduled": "True",
    }
    assert (by_type["Ready"]["status"], by_type["Ready"]["reason"]) == ("False", "PodCompleted")
    assert by_type["Ready"]["message"] is None
    assert by_type["Ready"]["lastTransitionTime"] == "2026-01-02T03:04:12Z"
    # unchanged conditions keep the time of their last transition
    assert by_type["Initialized"]["lastTransitionTime"] == "2026-01-02T03:04:05Z"


def test_not_initialized_condition_names_the_incomplete_init_containers() -> None:
    conditions = pod_conditions(
        Phase.PENDING, [view("setup", Running(T0)), view("seed")], [view(state=Waiting("PodInitializing"))], [], T0
    )
    initialized = next(c for c in conditions if c["type"] == "Initialized")
    ready = next(c for c in conditions if c["type"] == "Ready")

    assert (initialized["status"], initialized["reason"]) == ("False", "ContainersNotInitialized")
    assert initialized["message"] == "containers with incomplete status: [setup seed]"
    assert ready["message"] == "containers with unready status: [main]"


def test_pod_status_reports_loopback_addresses_and_both_status_lists() -> None:
    status = pod_status("Never", [view("init", done(0))], [view(state=done(0))], [], T0, T1)

    assert status["phase"] == "Succeeded"
    assert status["hostIP"] == status["podIP"] == "127.0.0.1"
    assert status["podIPs"] == [{"ip": "127.0.0.1"}]
    assert status["startTime"] == "2026-01-02T03:04:05Z"
    assert [s["name"] for s in status["initContainerStatuses"]] == ["init"]
    assert [s["name"] for s in status["containerStatuses"]] == ["main"]


def test_termination_message_prefers_the_file_and_caps_it() -> None:
    assert termination_message("File", "from file", ["log\n"], 1) == "from file"
    assert termination_message("FallbackToLogsOnError", "from file", ["log\n"], 1) == "from file"
    assert termination_message("File", "x" * 5000, [], 0) == "x" * 4096


def test_fallback_to_logs_only_on_error_and_keeps_the_end() -> None:
    lines = [f"line {i}\n" for i in range(1000)]

    assert termination_message("FallbackToLogsOnError", "", ["ok\n"], 0) == ""
    assert termination_message("File", "", ["boom\n"], 1) == ""
    tail = termination_message("FallbackToLogsOnError", "", lines, 1)
    assert tail.endswith("line 999\n")
    assert tail.startswith("line 920\n")  # the last 80 lines


def test_status_reports_the_observed_generation() -> None:
    status = pod_status("Never", [], [view(state=Running(T0))], [], T0, T1, generation=3)

    assert status["observedGeneration"] == 3
    assert {c["observedGeneration"] for c in status["conditions"]} == {3}
