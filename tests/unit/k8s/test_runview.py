"""`prodigy cluster runs`: the run index joined with the sessions and the cluster's live objects."""

from __future__ import annotations

from datetime import UTC, datetime

from prodigy.k8s.runindex import RunRecord
from prodigy.k8s.runview import (
    LiveGroup,
    LiveRun,
    RunRow,
    build_rows,
    format_table,
    live_phase,
    needs_live,
)
from prodigy.ui.steps import StepHeader

from . import wire

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
KEY = ("dev", "ns")


def record(run_id: str, *, outcome: str | None = None, reason: str = "", session: str | None = None,
           submitted: str = "2026-11-27T11:55:00.000Z") -> RunRecord:
    return RunRecord(run_id=run_id, cluster="dev", namespace="ns", job=f"prodigy-w-{run_id}", workflow="w",
                     submitted_at=submitted, outcome=outcome, exit_code=None if outcome is None else 1,
                     reason=reason, session_id=session)


RUNNING_POD = wire.pod("Running", containers=[{"name": "prodigy-agent", "state": {"running": {}}}])
COMPLETE = wire.job_condition("Complete", "", "")
FAILED = wire.job_condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline")


def test_the_phase_comes_from_the_job_first_then_the_newest_pod() -> None:
    assert live_phase(None, []) == "Gone"
    assert live_phase(wire.job(COMPLETE), [RUNNING_POD]) == "Succeeded"
    assert live_phase(wire.job(FAILED), []) == "Failed: DeadlineExceeded"
    assert live_phase(wire.job(suspend=True), []) == "Submitted"
    assert live_phase(wire.job(), []) == "Waiting for the pod"
    assert live_phase(wire.job(), [wire.pod("Succeeded")]) == "Completing"     # the Job's verdict is next
    pulling = wire.pod(containers=[{"name": "prodigy-agent", "state": {"waiting": {"reason": "ImagePullBackOff"}}}],
                       conditions=[wire.scheduled()], name="newer", created="2026-11-27T09:31:00Z")
    assert live_phase(wire.job(), [RUNNING_POD, pulling]) == "Pending: ImagePullBackOff"


def test_only_runs_that_can_still_change_are_looked_up() -> None:
    assert needs_live(record("a"), None)                            # detached, or its client died
    assert needs_live(record("a", outcome="succeeded"), "no")        # its results wait in the Job
    assert not needs_live(record("a", outcome="succeeded"), "yes")
    assert not needs_live(record("a", outcome="cancelled"), None)
    assert not needs_live(record("a", outcome="submit-failed"), None)


def row(rows: list[RunRow], run_id: str) -> RunRow:
    return next(r for r in rows if r.run_id == run_id)


def test_rows_join_the_index_the_sessions_and_the_live_objects() -> None:
    records = [
        record("running001", session="session-1b2c3d4e-0000-4000-8000-000000000001"),
        record("finished02"),
        record("merged0003", outcome="succeeded"),
        record("gone000004"),
        record("failed0005", outcome="failed", reason="OOMKilled"),
    ]
    live = {KEY: LiveGroup(runs={
        "running001": LiveRun(wire.job(), (RUNNING_POD,), StepHeader(2, 3, "shell: make test")),
        "finished02": LiveRun(wire.job(COMPLETE), (), StepHeader(3, 3, "shell: stale")),
        "gone000004": LiveRun(),
    })}
    collected = {"running001": "no", "finished02": "no", "merged0003": "merged", "failed0005": "yes"}
    rows = build_rows(records, collected, live, NOW)
    running = row(rows, "running001")
    assert (running.session, running.phase, running.step, running.outcome, running.collected, running.age,
            running.active) == ("1b2c3d4e", "Running", "2/3 shell: make test", "running", "-", "5m", True)
    finished = row(rows, "finished02")
    assert (finished.phase, finished.step, finished.outcome, finished.collected, finished.active) == \
        ("Succeeded", "", "succeeded", "no", False)
    assert (row(rows, "merged0003").phase, row(rows, "merged0003").collected) == ("-", "merged")
    assert (row(rows, "gone000004").phase, row(rows, "gone000004").outcome) == ("Gone", "unknown")
    assert (row(rows, "failed0005").outcome, row(rows, "failed0005").reason) == ("failed", "OOMKilled")


def test_a_cluster_that_cannot_be_read_marks_its_runs_unknown() -> None:
    rows = build_rows([record("running001")], {}, {KEY: LiveGroup(error="connection refused")}, NOW)
    assert (rows[0].phase, rows[0].outcome, rows[0].active) == ("?", "-", False)


def test_the_table_has_aligned_columns_and_no_hostile_text() -> None:
    hostile = RunRow(run_id="running001", session="1b2c3d4e", workflow="w\x1b[2J", where="dev/ns",
                     phase="Running", step="2/3 shell: echo \x1b]0;pwned\x07" + "x" * 80, age="5m",
                     outcome="running", collected="-", reason="", active=True)
    plain = RunRow(run_id="merged0003", session="-", workflow="a-long-workflow-name", where="dev/ns", phase="-",
                   step="", age="2d", outcome="failed", collected="merged", reason="step 2 failed\x1b[0m", active=False)
    lines = format_table([hostile, plain], notes=["cluster x could not be read"])
    assert lines[0].split() == ["RUN", "SESSION", "WORKFLOW", "CLUSTER", "PHASE", "STEP", "AGE", "OUTCOME",
                                "COLLECTED", "REASON"]
    assert all("\x1b" not in line and "\x07" not in line for line in lines)
    assert lines[1].index("5m") == lines[2].index("2d") == lines[0].index("AGE")
    assert "2/3 shell: echo " in lines[1] and "…" in lines[1]
    assert lines[2].endswith("merged     step 2 failed") and lines[-1] == "cluster x could not be read"
    assert format_table([]) == ["no cluster runs recorded yet"]
