"""The end of every session, wherever it ran: summary, then merge or keep.

    finish(session, workflow, end, prefs)   the run's end (`prodigy.execution.RunEnd`) ->
                                            summary; merge + clean up on success; keep the
                                            worktree + ``Resume with:`` otherwise
    merge_and_clean(session, workflow, ...) skip (no commits) / prompt / -y / merge: block, verify,
                                            remove the worktree and branch
    report_kept(session, console)           where an unfinished session's work is, what to do next

The session's branch holds the run's commits by the time this runs: a local run made them in
the worktree; a cluster run's executor has landed the pod's commits on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TextIO

from prodigy import paths
from prodigy.errors import EXIT_FAILURE, EXIT_OK, ProdigyError
from prodigy.execution import RunEnd
from prodigy.events import EventLog
from prodigy.local.merge import merge_session
from prodigy.local.signals import interruption_type
from prodigy.options import test_mode
from prodigy.repo import git, worktrees
from prodigy.repo.worktrees import Session, SessionStatus
from prodigy.ui import format as fmt
from prodigy.ui.console import Console
from prodigy.workflow.model import Workflow
from prodigy.workflow.result import ExecutionResult, ExecutionStatus


@dataclass(frozen=True)
class FinishPrefs:
    """How the user wants a successful run to end."""

    yes: bool = False                 # -y: merge without asking
    verbosity: int = 0
    stdin: TextIO | None = None       # where the merge prompt reads its answer
    environ: Mapping[str, str] = field(default_factory=dict)


def finish(session: Session, workflow: Workflow | None, end: RunEnd, prefs: FinishPrefs, console: Console,
           events: EventLog | None = None) -> int:
    """Summarise, then merge + clean up (success) or keep the worktree (failure, interrupt)."""
    if end.result is None:
        if end.interrupted is not None:
            worktrees.update(worktrees.load_session(session.id), status=SessionStatus.INTERRUPTED,
                             interrupted_at=worktrees.now_iso(), interruption_type=interruption_type(end.interrupted))
            report_kept(session, console, interrupted=True)
            return end.interrupted
        return keep_failed(session, end.problem, console)
    if end.problem is not None:
        # The workflow did not end by an ordinary step failure (OOM kill, deadline, eviction): the
        # executor's diagnosis explains the step error the summary prints next, so it comes
        # first, as the cause, not as a second "Error:".
        console.error(f"Cause: {end.problem.message}")
        if end.problem.hint:
            console.error(f"hint: {end.problem.hint}")
    return finish_reported(worktrees.load_session(session.id), workflow, end.result, prefs, console, events)


def finish_reported(session: Session, workflow: Workflow | None, result: ExecutionResult, prefs: FinishPrefs,
                    console: Console, events: EventLog | None = None) -> int:
    events = events or EventLog.for_session(paths.events_dir(), session.id)
    base = session.metadata.base_sha or result.base_sha
    commits = git.commits_between(session.repo, base, session.branch) if base else []
    files = git.files_changed(session.repo, base, session.branch) if base else []
    console.summary(fmt.RunSummary(
        session_id=session.id, status=result.status.value, steps_completed=result.steps_completed,
        steps_total=result.steps_total, steps_skipped=result.steps_skipped, duration=result.duration,
        commits=[fmt.CommitLine(c.sha, c.subject) for c in commits], files_changed=files,
        failed_step=result.failed_step))
    if result.status is ExecutionStatus.INTERRUPTED:
        worktrees.update(session, status=SessionStatus.INTERRUPTED, interrupted_at=worktrees.now_iso(),
                         interruption_type=interruption_type(result.exit_code), error=result.error)
        report_kept(session, console, interrupted=True)
        return result.exit_code
    if result.status is ExecutionStatus.FAILED:
        worktrees.update(session, status=SessionStatus.FAILED, error=result.error)
        console.error(f"Error: {result.error}")
        report_kept(session, console)
        return EXIT_FAILURE
    session = worktrees.update(session, status=SessionStatus.COMPLETED, error=None)
    return merge_and_clean(session, workflow, prefs, console, events)


def keep_failed(session: Session, problem: ProdigyError | None, console: Console,
                fallback: str = "the run ended without a report from the workflow") -> int:
    """End a run whose workflow did not report, like a failed local run: the error, then where
    the work is kept and how to resume it."""
    worktrees.update(worktrees.load_session(session.id), status=SessionStatus.FAILED,
                     error=problem.message.splitlines()[0] if problem else fallback)
    if problem is not None:
        console.error(f"Error: {problem.message}")
        if problem.hint:
            console.error(f"hint: {problem.hint}")
    report_kept(session, console)
    return problem.exit_code if problem is not None else EXIT_FAILURE


def report_kept(session: Session, console: Console, *, interrupted: bool = False) -> None:
    """Where an unfinished session's work is and what to do next; local and cluster runs alike."""
    where = f"The worktree is kept at {session.path} (branch {session.branch})"
    if interrupted:
        console.error(f"Interrupted. {where}")
    else:
        console.outcome(where)
    console.outcome(fmt.format_resume_hint(session.id))
    console.outcome(fmt.format_discard_hint(session.id))


def merge_and_clean(session: Session, workflow: Workflow | None, prefs: FinishPrefs, console: Console,
                    events: EventLog | None = None) -> int:
    """Skip (no commits) / prompt / merge, verify, then remove the worktree and its branch."""
    env = dict(prefs.environ)
    events = events or EventLog.disabled()
    target = session.metadata.original_branch
    has_commits = git.count_commits(session.repo, target, session.branch) > 0 if git.branch_exists(
        session.repo, target) else True
    if has_commits:
        if test_mode(env):
            console.info("PRODIGY_TEST_MODE=true: not merging; the worktree is kept")
            return EXIT_OK
        if not prefs.yes:
            accepted, answer = console.ask_yes_no(fmt.format_merge_prompt(session.id, target), prefs.stdin)
            session = worktrees.update(session, merge_prompt_response=answer)
            if not accepted:
                console.outcome(f"Not merged. The worktree is kept at {session.path} (branch {session.branch})")
                console.outcome(f"Merge later with: prodigy worktree merge {session.id}")
                return EXIT_OK
    merge_session(session, merge_block=workflow.merge if workflow else None, console=console, environ=env,
                  workflow_env=workflow.all_env if workflow else None, verbosity=prefs.verbosity)
    if has_commits:
        session = worktrees.update(session, status=SessionStatus.MERGED, merged=True, merged_at=worktrees.now_iso())
        events.emit("worktree_merged", branch=session.branch, target=target)
    if env.get("PRODIGY_AUTO_CLEANUP", "true").lower() == "false":
        console.info(f"PRODIGY_AUTO_CLEANUP=false: keeping {session.path}")
        return EXIT_OK
    worktrees.remove_session(session, force=True)
    events.emit("worktree_cleaned", path=str(session.path))
    console.detail(f"Removed worktree {session.path} and branch {session.branch}")
    return EXIT_OK
