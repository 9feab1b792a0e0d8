"""Pure pieces of local execution: summaries, merge routing, passes, checkpoints, outputs, exec."""

from __future__ import annotations

import pytest

from prodigy.errors import UsageError
from prodigy.local.checkpoints import Checkpoint, CheckpointStatus, CompletedStep
from prodigy.local.executor import Pass, plan_passes
from prodigy.local.merge import MergeRoute, choose_route, merge_message
from prodigy.local.outputs import (
    format_validation,
    parse_validation_result,
    shell_output_text,
    shell_output_too_big,
    step_failure_message,
)
from prodigy.local.single import parse_exec_command, single_step_workflow
from prodigy.repo.worktrees import SessionMetadata, SessionStatus, branch_for, session_for_branch
from prodigy.ui.format import CommitLine, RunSummary, format_duration, format_step_header, format_summary, truncate_output


def test_step_header_uses_the_first_line_and_pass_label() -> None:
    assert format_step_header(2, 5, "shell: cargo test") == "[2/5] shell: cargo test"
    assert format_step_header(1, 3, "shell: a\nb", "ARG=7") == "[1/3] shell: a …  (ARG=7)"


@pytest.mark.parametrize(("seconds", "text"), [(0.04, "0.0s"), (12.34, "12.3s"), (75, "1m 15s"), (3725, "1h 02m")])
def test_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_summary_lists_steps_commits_and_files() -> None:
    summary = RunSummary("session-1", "completed", 5, 5, 1, 12.3,
                         [CommitLine("a" * 40, "first"), CommitLine("b" * 40, "second")], ["x", "y", "z"])
    assert format_summary(summary) == [
        "Workflow completed: 5/5 steps (1 skipped) in 12.3s, 2 commits, 3 files changed",
        "  aaaaaaaa first",
        "  bbbbbbbb second",
    ]


def test_failed_summary_names_the_step_and_hides_old_commits() -> None:
    commits = [CommitLine(f"{i:040d}", f"c{i}") for i in range(12)]
    lines = format_summary(RunSummary("s", "failed", 1, 3, 0, 1.0, commits, ["f"], failed_step="shell: x"),
                           max_commits=10)
    assert lines[0].startswith("Workflow failed: 1/3 steps")
    assert lines[1] == "  failed step: shell: x"
    assert lines[2] == "  … 2 earlier commits"
    assert lines[-1].endswith("c11")


@pytest.mark.parametrize(("ahead", "block", "checked_out", "clean", "route"), [
    (0, True, True, True, MergeRoute.NOTHING),
    (2, True, True, False, MergeRoute.CUSTOM),
    (1, False, True, True, MergeRoute.IN_CHECKOUT),
    (1, False, True, False, MergeRoute.TEMP_THEN_FAST_FORWARD),
    (1, False, False, False, MergeRoute.TEMP_WORKTREE),
])
def test_merge_route(ahead: int, block: bool, checked_out: bool, clean: bool, route: MergeRoute) -> None:
    assert choose_route(commits_ahead=ahead, has_merge_block=block, target_checked_out=checked_out,
                        checkout_clean=clean) is route


def test_merge_message_matches_upstream() -> None:
    assert merge_message("prodigy-session-1", "main") == "Merge worktree 'prodigy-session-1' into main"


def test_passes_cross_args_with_iterations() -> None:
    assert plan_passes((), 1) == [Pass(None, 0, 1)]
    assert plan_passes(("a", "b"), 2) == [Pass("a", 0, 1), Pass("a", 0, 2), Pass("b", 1, 1), Pass("b", 1, 2)]
    assert Pass("7", 0, 1).label(1, 1) == "ARG=7"
    assert Pass("7", 0, 2).label(2, 3) == "arg 7, iteration 2/3"
    assert Pass(None, 0, 1).label(0, 1) is None


def test_checkpoint_advances_to_the_next_pass_and_round_trips() -> None:
    checkpoint = Checkpoint("wf-1", "session-1", "hash", total_steps=2, total_passes=2)
    checkpoint = checkpoint.advanced(CompletedStep(0, 0, "shell: a", True, False, 0.1, 0), {"x": 1})
    assert (checkpoint.next_pass, checkpoint.next_step) == (0, 1)
    checkpoint = checkpoint.advanced(CompletedStep(0, 1, "shell: b", True, False, 0.1, 1), {"x": 2})
    assert (checkpoint.next_pass, checkpoint.next_step) == (1, 0)
    assert not checkpoint.finished
    restored = Checkpoint.from_json(checkpoint.to_json())
    assert restored == checkpoint
    assert restored.status is CheckpointStatus.RUNNING and restored.variables == {"x": 2}


def test_shell_output_for_the_fix_command() -> None:
    assert shell_output_text("out", "err") == "STDOUT:\nout\n\nSTDERR:\nerr"
    assert not shell_output_too_big("x" * 5000, "y" * 5000)
    assert shell_output_too_big("x" * 5000, "y" * 5001)


def test_step_failure_message_truncates_long_output() -> None:
    stderr = "\n".join(f"line {i}" for i in range(100))
    message = step_failure_message("shell: make", 2, "", stderr)
    assert message.startswith("Step 'shell: make' failed with exit code 2\n\n=== Error Output (stderr) ===\nline 0")
    assert "... (50 lines omitted) ..." in message and message.endswith("line 99")
    assert truncate_output("a\nb") == "a\nb"


def test_validation_results() -> None:
    result = parse_validation_result('{"completion_percentage": 60, "missing": ["x"], "gaps": {"x": {}}}', "f")
    assert not result.passes(100) and result.passes(50)
    assert result.variables()["validation.missing_count"] == 1
    assert format_validation(result, 100) == "Validation incomplete: 60.0% complete (threshold: 100.0%)"
    broken = parse_validation_result("not json", "result.json")
    assert broken.problem == "result.json is not JSON" and not broken.passes(0)
    assert parse_validation_result('{"completion_percentage": "high"}', "f").problem


@pytest.mark.parametrize(("text", "parsed"), [
    ("shell: make test", ("shell", "make test")), ("claude: /lint now", ("claude", "/lint now")),
    ("/lint", ("claude", "/lint")), ("cargo build", ("shell", "cargo build")),
])
def test_exec_command_forms(text: str, parsed: tuple[str, str]) -> None:
    assert parse_exec_command(text) == parsed


def test_exec_rejects_empty_commands_and_builds_retries() -> None:
    with pytest.raises(UsageError):
        parse_exec_command("shell:   ")
    assert single_step_workflow("make", retry=3, timeout=5) == {
        "name": "exec shell", "commands": [{"shell": "make", "timeout": 5,
                                            "on_failure": {"max_attempts": 3, "fail_workflow": True}}]}


def test_metadata_keeps_unknown_fields() -> None:
    data = {"session_id": "session-1", "branch": branch_for("session-1"), "original_branch": "main",
            "repo_path": "/r", "worktree_path": "/w", "status": "interrupted", "cluster": {"name": "kind", "job": "j"},
            "future_field": [1, 2]}
    metadata = SessionMetadata.from_json(data)
    assert metadata.status is SessionStatus.INTERRUPTED
    assert metadata.extra == {"cluster": {"name": "kind", "job": "j"}, "future_field": [1, 2]}
    written = metadata.to_json()
    assert written["cluster"] == {"name": "kind", "job": "j"} and written["future_field"] == [1, 2]
    assert written["branch"] == "prodigy-session-1"
    assert session_for_branch("prodigy-session-1") == "session-1" and session_for_branch("main") is None
