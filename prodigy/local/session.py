"""The local `prodigy cook|run` flow, and the finish path shared with cluster runs.

    cook(options)                     validate -> worktree -> execute -> summary -> merge or keep
    resume(session_id, options)       continue a kept session (dispatches cluster sessions)
    finish_session(session, ...)      summary; merge (skip / prompt / -y / merge: block) + cleanup
                                      on success; keep + ``Resume with: ...`` otherwise.
                                      The Kubernetes path calls this after adopting the fetched
                                      branch with `prodigy.local.worktrees.adopt_branch`.
    prepare_run(options)              every check that can fail, before any side effect
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from prodigy import paths
from prodigy.errors import EXIT_FAILURE, EXIT_OK, UsageError
from prodigy.local import git, worktrees
from prodigy.local.claude import claude_available
from prodigy.local.events import EventLog
from prodigy.local.executor import ExecutionRequest, ExecutionResult, ExecutionStatus, execute, resume_point
from prodigy.local.locks import session_lock
from prodigy.local.map_inputs import map_matches
from prodigy.local.merge import merge_session
from prodigy.local.signals import interrupts_raise, interruption_type
from prodigy.local.worktrees import Session, SessionStatus
from prodigy.options import RunOptions
from prodigy.ui import format as fmt
from prodigy.ui.console import Console
from prodigy.workflow.loader import load_workflow
from prodigy.workflow.model import Workflow
from prodigy.workflow.plan import format_plan
from prodigy.workflow.variables import arg_from_map_path

NOT_A_REPO_HINT = "run prodigy inside a git repository, pass -p/--path, or create one with `git init`"


@dataclass(frozen=True)
class PreparedRun:
    workflow: Workflow
    repo: Path
    original_branch: str
    args: tuple[str, ...]
    uncommitted: tuple[str, ...]


def _test_mode(environ: Mapping[str, str]) -> bool:
    return environ.get("PRODIGY_TEST_MODE", "").lower() == "true"


def resolve_repo(path: Path) -> Path:
    if not path.exists():
        raise UsageError(f"Directory not found: {path}")
    if not path.is_dir():
        raise UsageError(f"Path is not a directory: {path}")
    if not git.is_repository(path):
        raise UsageError(f"Not a git repository: {path}", hint=NOT_A_REPO_HINT)
    repo = git.toplevel(path)
    if git.head_sha(repo) is None:
        raise UsageError(f"{repo} has no commits yet, so there is nothing to branch a worktree from",
                         hint="make a first commit, e.g. git commit --allow-empty -m init")
    return repo


def require_claude(workflow: Workflow, environ: Mapping[str, str]) -> None:
    if workflow.uses_claude and not _test_mode(environ) and not claude_available(environ):
        raise UsageError("Claude CLI is not available. Please install it first.",
                         hint="this workflow has claude: steps; install Claude Code "
                              "(npm install -g @anthropic-ai/claude-code) and make sure `claude` is on PATH")


def expand_inputs(options: RunOptions, repo: Path, outside_paths: tuple[str, ...] = ()) -> tuple[str, ...]:
    """`--args` values, then one ARG per file matched by each `--map` glob (file stem before '-')."""
    values = list(options.args)
    for pattern in options.map_globs:
        values.extend(arg_from_map_path(p) for p in map_matches(pattern, repo, outside_paths))
    return tuple(values)


def prepare_run(options: RunOptions, environ: Mapping[str, str], console: Console) -> PreparedRun:
    """Everything that can be wrong with the input is found here, before anything is created."""
    if options.max_iterations < 1:
        raise UsageError("-n/--max-iterations must be at least 1")
    loaded = load_workflow(options.workflow_path)
    for warning in loaded.warnings:
        console.warn(warning)
    repo = resolve_repo(options.repo_path)
    require_claude(loaded.workflow, environ)
    inputs = expand_inputs(options, repo, loaded.workflow.outside_paths)
    if not options.dry_run:
        paths.require_writable_home()
    return PreparedRun(loaded.workflow, repo, worktrees.original_branch_of(repo), inputs,
                       tuple(git.uncommitted_changes(repo)))


def cook(options: RunOptions, *, console: Console | None = None, stdin: TextIO | None = None,
         environ: Mapping[str, str] | None = None) -> int:
    """`prodigy cook|run`: the whole local run; returns the exit code."""
    if options.cluster:
        from prodigy.k8s.cook import run_on_cluster  # lazy: local runs never import kubernetes

        return run_on_cluster(options)
    env = dict(os.environ if environ is None else environ)
    console = console or Console(options.verbosity)
    if options.resume_session:
        return resume(options.resume_session, options, console=console, stdin=stdin, environ=env)
    prepared = prepare_run(options, env, console)
    if options.dry_run:
        console.info(format_plan(prepared.workflow, inputs=prepared.args, max_iterations=options.max_iterations))
        return EXIT_OK
    if prepared.uncommitted:
        console.warn(fmt.format_uncommitted_warning(prepared.repo, prepared.uncommitted))
    with interrupts_raise():
        session = worktrees.create_session(
            prepared.repo, original_branch=prepared.original_branch, workflow_path=options.workflow_path,
            run_args=prepared.args, max_iterations=options.max_iterations)
        with session_lock(paths.state_dir(session.id), session.id):
            console.info(f"Created worktree at: {session.path}")
            events = EventLog.for_session(paths.events_dir(), session.id)
            events.emit("worktree_created", path=str(session.path), branch=session.branch,
                        original_branch=session.metadata.original_branch)
            result = _execute(session, prepared.workflow, options, console, env, events, resume=False)
            return finish_session(session, prepared.workflow, result, yes=options.yes, console=console,
                                  stdin=stdin, environ=env, verbosity=options.verbosity, events=events)


def _execute(session: Session, workflow: Workflow, options: RunOptions, console: Console,
             environ: Mapping[str, str], events: EventLog, *, resume: bool) -> ExecutionResult:
    request = ExecutionRequest(
        workflow=workflow, workdir=session.path, state_dir=paths.state_dir(session.id), session_id=session.id,
        args=session.metadata.run_args, max_iterations=session.metadata.max_iterations, resume=resume,
        environ=environ, verbosity=options.verbosity, events=events)
    return execute(request, console)


def report_kept(session: Session, console: Console, *, interrupted: bool = False) -> None:
    """Where an unfinished session's work is and what to do next; local and cluster runs alike."""
    where = f"The worktree is kept at {session.path} (branch {session.branch})"
    if interrupted:
        console.error(f"Interrupted. {where}")
    else:
        console.outcome(where)
    console.outcome(fmt.format_resume_hint(session.id))
    console.outcome(fmt.format_discard_hint(session.id))


def finish_session(session: Session, workflow: Workflow, result: ExecutionResult, *, yes: bool,
                   console: Console, stdin: TextIO | None = None, environ: Mapping[str, str] | None = None,
                   verbosity: int = 0, events: EventLog | None = None) -> int:
    """Summarise, then merge + clean up (success) or keep the worktree (failure, interrupt).

    Works for any session whose branch holds the run's commits: local worktrees, and branches
    fetched back from a Kubernetes pod and adopted with `worktrees.adopt_branch`.
    """
    env = dict(os.environ if environ is None else environ)
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
    return merge_and_clean(session, workflow, yes=yes, console=console, stdin=stdin, environ=env,
                           verbosity=verbosity, events=events)


def merge_and_clean(session: Session, workflow: Workflow | None, *, yes: bool, console: Console,
                    stdin: TextIO | None = None, environ: Mapping[str, str] | None = None,
                    verbosity: int = 0, events: EventLog | None = None) -> int:
    """Skip (no commits) / prompt / merge, verify, then remove the worktree and its branch."""
    env = dict(os.environ if environ is None else environ)
    events = events or EventLog.disabled()
    target = session.metadata.original_branch
    has_commits = git.count_commits(session.repo, target, session.branch) > 0 if git.branch_exists(
        session.repo, target) else True
    if has_commits:
        if _test_mode(env):
            console.info("PRODIGY_TEST_MODE=true: not merging; the worktree is kept")
            return EXIT_OK
        if not yes:
            accepted, answer = console.ask_yes_no(fmt.format_merge_prompt(session.id, target), stdin)
            session = worktrees.update(session, merge_prompt_response=answer)
            if not accepted:
                console.outcome(f"Not merged. The worktree is kept at {session.path} (branch {session.branch})")
                console.outcome(f"Merge later with: prodigy worktree merge {session.id}")
                return EXIT_OK
    merge_session(session, merge_block=workflow.merge if workflow else None, console=console, environ=env,
                  workflow_env=workflow.all_env if workflow else None, verbosity=verbosity)
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


RESUMABLE = (SessionStatus.FAILED, SessionStatus.INTERRUPTED, SessionStatus.IN_PROGRESS)


def latest_unfinished(path: Path) -> Session:
    """`prodigy resume` without an id: the newest failed/interrupted session of the repository."""
    repo = resolve_repo(path)
    sessions, unreadable = worktrees.scan_sessions(repo)
    for broken in unreadable:      # named, but it must not stop the others from resuming
        Console(0).warn(broken.message)
    for session in sessions:      # newest first
        if session.metadata.status in RESUMABLE:
            return session
    raise UsageError(f"no failed or interrupted session to resume in {repo}",
                     hint="list sessions with: prodigy worktree ls (merge a completed one with "
                          "prodigy worktree merge SESSION)")


def resume(session_id: str, options: RunOptions | None = None, *, console: Console | None = None,
           stdin: TextIO | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Continue a kept session in its worktree from the step after the last checkpoint."""
    session = worktrees.load_session(session_id)
    if "cluster" in session.metadata.extra:
        from prodigy.k8s.cook import resume_on_cluster  # lazy: local runs never import kubernetes

        return resume_on_cluster(session.id, options)
    env = dict(os.environ if environ is None else environ)
    verbosity = options.verbosity if options else 0
    console = console or Console(verbosity)
    # One process per session: a second `resume` (or one during the first run) is refused here.
    with session_lock(paths.state_dir(session.id), session.id):
        # Read again under the lock: the previous holder may have finished (and merged) meanwhile.
        session = worktrees.load_session(session.id)
        return _resume_locked(session, options, console, stdin, env, verbosity)


def _resume_locked(session: Session, options: RunOptions | None, console: Console, stdin: TextIO | None,
                   env: dict[str, str], verbosity: int) -> int:
    status = session.metadata.status
    if status in (SessionStatus.MERGED, SessionStatus.CLEANED_UP):
        raise UsageError(f"session {session.id} already finished ({status.value}); nothing to resume")
    if not session.path.is_dir():
        raise UsageError(f"the worktree of session {session.id} is gone ({session.path})",
                         hint=f"it may have been removed by hand; forget the session with: "
                              f"prodigy worktree clean -f {session.id}")
    # `cook WORKFLOW --resume S` names the file; `resume S` uses the one the session recorded.
    given = options.workflow_path if options and options.workflow_path.is_file() else None
    workflow_file = given or session.metadata.workflow_path
    if not workflow_file:
        raise UsageError(f"session {session.id} does not record its workflow file",
                         hint=f"pass it: prodigy cook WORKFLOW --resume {session.id}")
    loaded = load_workflow(Path(workflow_file))
    for warning in loaded.warnings:
        console.warn(warning)
    require_claude(loaded.workflow, env)
    if status is not SessionStatus.COMPLETED:
        # A broken checkpoint is refused here, before the session is marked in progress again.
        resume_point(paths.state_dir(session.id), loaded.workflow, session.metadata.run_args,
                     session.metadata.max_iterations, session_id=session.id)
    run_options = options or RunOptions(workflow_path=Path(workflow_file), repo_path=session.repo)
    events = EventLog.for_session(paths.events_dir(), session.id)
    with interrupts_raise():
        if status is SessionStatus.COMPLETED:
            console.info(f"Session {session.id} already ran to the end; finishing the merge")
            return merge_and_clean(session, loaded.workflow, yes=run_options.yes, console=console, stdin=stdin,
                                   environ=env, verbosity=verbosity, events=events)
        console.info(f"Resuming session: {session.id} (worktree {session.path})")
        session = worktrees.update(session, status=SessionStatus.IN_PROGRESS)
        events.emit("workflow_resumed")
        result = _execute(session, loaded.workflow, run_options, console, env, events, resume=True)
        return finish_session(session, loaded.workflow, result, yes=run_options.yes, console=console,
                              stdin=stdin, environ=env, verbosity=verbosity, events=events)


__all__ = ["cook", "resume", "latest_unfinished", "finish_session", "merge_and_clean", "prepare_run",
           "PreparedRun"]
