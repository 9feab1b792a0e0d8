"""Session lock, retry state in checkpoints, and the `worktree ls` table."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from prodigy.local import checkpoints
from prodigy.local.checkpoints import Checkpoint, CompletedStep, RetryState
from prodigy.repo.locks import SessionBusy, holder_pid, session_lock
from prodigy.ui.format import RunSummary, SessionRow, format_session_table, format_summary


def test_the_session_lock_is_exclusive_and_names_its_holder(tmp_path: Path) -> None:
    state = tmp_path / "state" / "session-1"
    assert holder_pid(state) is None
    with session_lock(state, "session-1"):
        assert holder_pid(state) == os.getpid()
        with pytest.raises(SessionBusy) as busy:
            with session_lock(state, "session-1"):
                pass
        assert busy.value.holder == os.getpid()
        assert busy.value.exit_code == 2
        assert f"already running in process {os.getpid()}" in busy.value.message
    # Released with the descriptor: free again, and re-taken without complaint.
    assert holder_pid(state) is None
    with session_lock(state, "session-1"):
        pass


def _checkpoint() -> Checkpoint:
    return Checkpoint(workflow_id="workflow-1", session_id="session-1", workflow_hash="h", total_steps=2,
                      total_passes=1)


def test_retry_state_round_trips_and_is_cleared_when_the_step_completes(tmp_path: Path) -> None:
    retrying = replace(_checkpoint(), retry=RetryState(0, 1, 2, 3))
    checkpoints.save(tmp_path, retrying)
    loaded = checkpoints.load_latest(tmp_path)
    assert loaded is not None and loaded.retry == RetryState(0, 1, 2, 3)
    assert loaded.attempts_failed(0, 1) == 2
    assert loaded.attempts_failed(0, 0) == 0          # another step starts its loop afresh
    done = loaded.advanced(CompletedStep(0, 1, "shell: x", True, False, 0.1, 0), {})
    assert done.retry is None and done.attempts_failed(0, 1) == 0


def test_checkpoints_without_retry_state_still_load(tmp_path: Path) -> None:
    data = _checkpoint().to_json()
    del data["retry_state"]
    assert Checkpoint.from_json(data).retry is None


def test_session_table_has_a_header_and_aligned_columns() -> None:
    lines = format_session_table([
        SessionRow("session-aaaa", "failed", 1, "main", "2026-01-01T00:00:00.123456+00:00", "/w/session-aaaa"),
        SessionRow("session-b", "completed", None, "feature/x", "2026-01-02T00:00:00+00:00", "/w/session-b"),
    ])
    assert lines[0].split() == ["SESSION", "STATUS", "COMMITS", "MERGES", "INTO", "CREATED", "WORKTREE"]
    assert lines[1].split() == ["session-aaaa", "failed", "1", "main", "2026-01-01T00:00:00+00:00", "/w/session-aaaa"]
    assert lines[2].split()[2] == "?"
    starts = {line.index("/w/") for line in lines[1:]}
    assert len(starts) == 1 and lines[0].index("WORKTREE") in starts


def test_an_interrupted_summary_names_the_step_it_stopped_in() -> None:
    summary = RunSummary("session-1", "interrupted", 1, 3, 0, 1.0, [], [], failed_step="shell: sleep 60")
    assert format_summary(summary)[1] == "  interrupted in shell: sleep 60"
