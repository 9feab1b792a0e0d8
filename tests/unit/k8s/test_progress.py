"""Completion is read from Job conditions, the earliest decisive one first."""

from __future__ import annotations

from prodigy.k8s.progress import JobVerdict, job_end, workload_started_ending


def job(*conditions: tuple[str, str, str]) -> dict[str, object]:
    return {"status": {"conditions": [{"type": t, "status": s, "reason": r} for t, s, r in conditions]}}


def test_no_conditions_means_running() -> None:
    assert job_end(None) is None
    assert job_end(job()) is None
    assert job_end(job(("Suspended", "True", "JobSuspended"))) is None


def test_complete_and_failed_are_final() -> None:
    end = job_end(job(("Complete", "True", "")))
    assert end is not None and end.verdict is JobVerdict.SUCCEEDED and end.final
    end = job_end(job(("FailureTarget", "True", "DeadlineExceeded"), ("Failed", "True", "DeadlineExceeded")))
    assert end is not None and end.verdict is JobVerdict.FAILED and end.final and end.reason == "DeadlineExceeded"


def test_early_announcements_end_the_wait_but_are_not_final() -> None:
    end = job_end(job(("FailureTarget", "True", "PodFailurePolicy")))
    assert end is not None and end.verdict is JobVerdict.FAILED and not end.final
    end = job_end(job(("SuccessCriteriaMet", "True", "CompletionsReached")))
    assert end is not None and end.verdict is JobVerdict.SUCCEEDED


def test_false_conditions_are_ignored() -> None:
    assert job_end(job(("Failed", "False", "x"), ("Complete", "False", ""))) is None


def pod(phase: str, *, init: dict[str, object] | None = None, main: dict[str, object] | None = None) -> dict[str, object]:
    status: dict[str, object] = {"phase": phase}
    if init is not None:
        status["initContainerStatuses"] = [{"name": "prodigy-repo", "state": init}]
    if main is not None:
        status["containerStatuses"] = [{"name": "prodigy-agent", "state": main}]
    return {"status": status}


def test_a_finished_init_container_is_progress_not_an_ending() -> None:
    stuck = pod("Pending", init={"terminated": {"exitCode": 0, "reason": "Completed"}},
                main={"waiting": {"reason": "CreateContainerConfigError"}})
    assert not workload_started_ending([stuck])


def test_a_terminated_main_container_or_a_finished_pod_ends_the_pending_watch() -> None:
    assert workload_started_ending([pod("Running", main={"terminated": {"exitCode": 1}})])
    assert workload_started_ending([pod("Failed")])
    assert not workload_started_ending([pod("Running", main={"running": {}})])
