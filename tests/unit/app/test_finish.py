"""The finish path's outcomes as the user sees them, without a cluster: real git, a real session
worktree, the finish function called with each kind of run end (`prodigy.execution.RunEnd`).

merged   completed with commits, -y             -> merge commit in main, worktree and branch gone
skipped  completed without commits              -> nothing merged, session cleaned up
kept     completed, the prompt answered "n"     -> worktree kept, "Merge later with"
failed   the workflow reported a failed step    -> summary, Error:, worktree kept, Resume with
interrupted  Ctrl+C (with or without a report)  -> exit 130, status interrupted, Resume with
no report    the executor's diagnosis only      -> its error and hint, exit code from the error
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from prodigy.app.finish import FinishPrefs, finish
from prodigy.errors import WorkflowFailed
from prodigy.execution import RunEnd
from prodigy.repo import worktrees
from prodigy.repo.worktrees import Session, SessionStatus
from prodigy.ui.console import Console
from prodigy.workflow.loader import parse_workflow
from prodigy.workflow.model import Workflow
from prodigy.workflow.result import ExecutionResult, ExecutionStatus
from testing.repos import branches, commit_files, git, log_subjects, make_repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {"README.md": "# project\n"})


@pytest.fixture
def workflow(repo: Path) -> Workflow:
    return parse_workflow("- shell: echo hi\n", repo / "wf.yml").workflow


def new_session(repo: Path, *, commit: bool) -> Session:
    session = worktrees.create_session(repo, original_branch="main")
    if commit:
        commit_files(session.path, {"made.txt": "by the run\n"}, "work of the run")
    return session


def result(status: ExecutionStatus, exit_code: int, base: str | None, **extra: object) -> ExecutionResult:
    return ExecutionResult(status=status, exit_code=exit_code, steps_completed=1, steps_total=2, steps_skipped=0,
                           duration=1.0, base_sha=base, head_sha=None, **extra)  # type: ignore[arg-type]


def run_finish(session: Session, workflow: Workflow | None, end: RunEnd, *, yes: bool = True,
               answer: str = "") -> tuple[int, str]:
    out = io.StringIO()
    code = finish(session, workflow, end, FinishPrefs(yes=yes, stdin=io.StringIO(answer), environ=dict(os.environ)),
                  Console(out=out, err=out))
    return code, out.getvalue()


def status_of(session: Session) -> SessionStatus:
    return worktrees.load_session(session.id).metadata.status


def test_merged_a_completed_run_with_commits_lands_in_main_and_leaves_nothing(repo: Path, workflow: Workflow) -> None:
    session = new_session(repo, commit=True)
    code, out = run_finish(session, workflow, RunEnd(result(ExecutionStatus.COMPLETED, 0,
                                                            session.metadata.base_sha)))
    assert code == 0, out
    assert log_subjects(repo)[0] == f"Merge worktree '{session.branch}' into main"
    assert "work of the run" in log_subjects(repo)
    assert (repo / "made.txt").read_text() == "by the run\n"
    assert session.branch not in branches(repo) and not session.path.exists()


def test_skipped_a_completed_run_without_commits_merges_nothing(repo: Path, workflow: Workflow) -> None:
    head = git(repo, "rev-parse", "HEAD")
    session = new_session(repo, commit=False)
    code, out = run_finish(session, workflow, RunEnd(result(ExecutionStatus.COMPLETED, 0,
                                                            session.metadata.base_sha)), yes=False)
    assert code == 0 and "[Y/n]" not in out                           # nothing to ask about
    assert git(repo, "rev-parse", "HEAD") == head
    assert not session.path.exists()


def test_kept_when_the_merge_prompt_is_declined(repo: Path, workflow: Workflow) -> None:
    session = new_session(repo, commit=True)
    code, out = run_finish(session, workflow, RunEnd(result(ExecutionStatus.COMPLETED, 0,
                                                            session.metadata.base_sha)), yes=False, answer="n\n")
    assert code == 0
    assert f"Merge later with: prodigy worktree merge {session.id}" in out
    assert session.path.is_dir() and "made.txt" not in git(repo, "ls-files")
    assert worktrees.load_session(session.id).metadata.merge_prompt_response == "n"


def test_failed_run_keeps_its_worktree_and_says_how_to_resume(repo: Path, workflow: Workflow) -> None:
    session = new_session(repo, commit=True)
    end = RunEnd(result(ExecutionStatus.FAILED, 1, session.metadata.base_sha, failed_step="shell: make",
                        error="Step 'shell: make' failed with exit code 2"))
    code, out = run_finish(session, workflow, end)
    assert code == 1
    assert "Error: Step 'shell: make' failed with exit code 2" in out
    assert f"Resume with: prodigy resume {session.id}" in out
    assert status_of(session) is SessionStatus.FAILED and session.path.is_dir()
    assert "made.txt" not in git(repo, "ls-files")                    # nothing merged


def test_interrupted_run_with_a_report_keeps_its_worktree_with_the_signal_exit_code(
        repo: Path, workflow: Workflow) -> None:
    session = new_session(repo, commit=True)
    code, out = run_finish(session, workflow, RunEnd(result(ExecutionStatus.INTERRUPTED, 130,
                                                            session.metadata.base_sha, error="interrupted")))
    assert code == 130 and "Interrupted. The worktree is kept" in out
    assert status_of(session) is SessionStatus.INTERRUPTED
    assert worktrees.load_session(session.id).metadata.interruption_type == "user_interrupt"


def test_interrupted_run_without_a_report_is_kept_as_interrupted(repo: Path, workflow: Workflow) -> None:
    session = new_session(repo, commit=True)
    code, out = run_finish(session, workflow, RunEnd(None, interrupted=143))
    assert code == 143 and f"Resume with: prodigy resume {session.id}" in out
    meta = worktrees.load_session(session.id).metadata
    assert meta.status is SessionStatus.INTERRUPTED and meta.interruption_type == "termination"


def test_no_report_ends_with_the_executors_diagnosis_and_keeps_the_work(repo: Path, workflow: Workflow) -> None:
    session = new_session(repo, commit=True)
    problem = WorkflowFailed("image 'nope:1' could not be pulled", hint="check the image name")
    code, out = run_finish(session, workflow, RunEnd(None, problem=problem))
    assert code == problem.exit_code
    assert "Error: image 'nope:1' could not be pulled" in out and "hint: check the image name" in out
    meta = worktrees.load_session(session.id).metadata
    assert meta.status is SessionStatus.FAILED and meta.error == "image 'nope:1' could not be pulled"


def test_a_cause_precedes_the_summary_when_the_workflow_was_stopped_from_outside(
        repo: Path, workflow: Workflow) -> None:
    session = new_session(repo, commit=False)
    problem = WorkflowFailed("the container was OOM-killed (limit 64Mi)")
    end = RunEnd(result(ExecutionStatus.FAILED, 137, session.metadata.base_sha, error="step killed"), problem=problem)
    code, out = run_finish(session, workflow, end)
    assert code == 1
    assert out.index("Cause: the container was OOM-killed") < out.index("Error: step killed")


def test_the_merge_block_comes_from_the_workflow_given_not_from_the_file(repo: Path, tmp_path: Path) -> None:
    # The application layer reads the workflow once; finishing never reads the file again.
    marker = tmp_path / "merge-ran.txt"
    path = repo / "wf.yml"
    def merge_block(word: str) -> str:
        return (f"commands:\n  - shell: echo hi\nmerge:\n  - shell: \"echo {word} > {marker} && "
                f"git -C {repo} merge --no-ff -q ${{merge.source_branch}}\"\n")

    workflow = parse_workflow(merge_block("first"), path).workflow
    path.write_text(merge_block("second"))
    session = new_session(repo, commit=True)
    code, out = run_finish(session, workflow, RunEnd(result(ExecutionStatus.COMPLETED, 0,
                                                            session.metadata.base_sha)))
    assert code == 0, out
    assert marker.read_text() == "first\n"
