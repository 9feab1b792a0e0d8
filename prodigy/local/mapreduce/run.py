"""`prodigy cook|resume` for a MapReduce workflow: check, create the session, run the phases, finish.

    cook_mapreduce(options, console, stdin, environ)         a new session
    resume_mapreduce(session, workflow_file, options, ...)   an unfinished one, at its phase

Everything that can be wrong with the input (the file, the repository, counts that name variables,
a missing `claude`) is found before the session is created (exit 2). The end of a session is the
standard one (`prodigy.local.session.finish_session`: summary, then merge prompt / ``-y`` /
``merge:`` block, or keep + ``Resume with:``); afterwards a merged session's agent worktrees and
branches are removed too.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from prodigy import paths
from prodigy.errors import EXIT_OK, UsageError
from prodigy.local import git, worktrees
from prodigy.local.claude import claude_available
from prodigy.local.events import EventLog
from prodigy.local.executor import ExecutionResult
from prodigy.local.locks import session_lock
from prodigy.local.mapreduce import agent_worktrees, layout
from prodigy.local.mapreduce.journal import JobStore
from prodigy.local.mapreduce.phases import Limits, PhaseRun, run_phases
from prodigy.local.signals import interrupts_raise
from prodigy.local.worktrees import Session, SessionStatus
from prodigy.options import RunOptions
from prodigy.ui import format as fmt
from prodigy.ui.console import Console
from prodigy.workflow.mapreduce import MapReduceWorkflow, resolve_count
from prodigy.workflow.mapreduce_loader import load_mapreduce
from prodigy.workflow.mapreduce_plan import format_mapreduce_plan

__all__ = ["MODE_KEY", "cook_mapreduce", "finish_mapreduce", "load_for_run", "require_claude", "resolve_limits",
           "resume_mapreduce"]

MODE_KEY = "mode"      # recorded in the session metadata's extra fields


def resolve_limits(workflow: MapReduceWorkflow, environ: Mapping[str, str]) -> Limits:
    """The counts the file gives as numbers or variables (workflow env first, then the environment)."""
    lookup = {**environ, **workflow.all_env}
    try:
        return Limits(
            max_parallel=resolve_count(workflow.map.max_parallel, lookup, what="map.max_parallel"),
            agent_timeout=resolve_count(workflow.map.agent_timeout, lookup, what="map.agent_timeout_secs")
            if workflow.map.agent_timeout else None,
            setup_timeout=resolve_count(workflow.setup.timeout, lookup, what="setup.timeout")
            if workflow.setup is not None and workflow.setup.timeout else None)
    except ValueError as error:
        where = f"{workflow.source}: " if workflow.source else ""
        raise UsageError(f"{where}{error}") from None


def require_claude(workflow: MapReduceWorkflow, environ: Mapping[str, str]) -> None:
    test_mode = environ.get("PRODIGY_TEST_MODE", "").lower() == "true"
    if workflow.uses_claude and not test_mode and not claude_available(environ):
        raise UsageError("Claude CLI is not available. Please install it first.",
                         hint="this workflow has claude: steps; install Claude Code "
                              "(npm install -g @anthropic-ai/claude-code) and make sure `claude` is on PATH")


def _refuse_options(options: RunOptions) -> None:
    if options.map_globs:
        raise UsageError("--map does not apply to a MapReduce workflow: its `map:` section chooses the items")
    if options.max_iterations > 1:
        raise UsageError("-n/--max-iterations does not apply to a MapReduce workflow")
    if len(options.args) > 1:
        raise UsageError("a MapReduce workflow takes at most one --args value (${ARG}, split into ${ARG_1}...)")


def load_for_run(path: Path, console: Console, environ: Mapping[str, str]) -> tuple[MapReduceWorkflow, Limits]:
    loaded = load_mapreduce(path)
    for warning in loaded.warnings:
        console.warn(warning)
    return loaded.workflow, resolve_limits(loaded.workflow, environ)


def cook_mapreduce(options: RunOptions, *, console: Console, stdin: TextIO | None,
                   environ: dict[str, str]) -> int:
    from prodigy.local.session import resolve_repo

    _refuse_options(options)
    workflow, limits = load_for_run(options.workflow_path, console, environ)
    repo = resolve_repo(options.repo_path)
    require_claude(workflow, environ)
    if options.dry_run:
        console.info(format_mapreduce_plan(workflow))
        return EXIT_OK
    uncommitted = git.uncommitted_changes(repo)
    if uncommitted:
        console.warn(fmt.format_uncommitted_warning(repo, uncommitted))
    with interrupts_raise():
        session = worktrees.create_session(repo, original_branch=worktrees.original_branch_of(repo),
                                           workflow_path=options.workflow_path, run_args=options.args,
                                           extra={MODE_KEY: "mapreduce"})
        with session_lock(paths.state_dir(session.id), session.id):
            console.info(f"Created worktree at: {session.path}")
            events = EventLog.for_session(paths.events_dir(), session.id)
            events.emit("worktree_created", path=str(session.path), branch=session.branch,
                        original_branch=session.metadata.original_branch, mode="mapreduce")
            result = run_phases(PhaseRun(session, workflow, limits, console, environ, events,
                                         verbosity=options.verbosity, args=options.args))
            return finish_mapreduce(session, workflow, result, yes=options.yes, console=console, stdin=stdin,
                                    environ=environ, verbosity=options.verbosity, events=events)


def resume_mapreduce(session: Session, workflow_file: Path, options: RunOptions | None, *, console: Console,
                     stdin: TextIO | None, environ: dict[str, str], verbosity: int) -> int:
    """Continue ``session`` (its lock is held by the caller) at the phase it stopped in."""
    from prodigy.local.session import merge_and_clean

    workflow, limits = load_for_run(workflow_file, console, environ)
    require_claude(workflow, environ)
    yes = options.yes if options else False
    events = EventLog.for_session(paths.events_dir(), session.id)
    with interrupts_raise():
        if session.metadata.status is SessionStatus.COMPLETED:
            console.info(f"Session {session.id} already ran to the end; finishing the merge")
            code = merge_and_clean(session, workflow.for_merge(), yes=yes, console=console, stdin=stdin,
                                   environ=environ, verbosity=verbosity, events=events)
            _clean_agents_if_gone(session)
            return code
        console.info(f"Resuming session: {session.id} (worktree {session.path})")
        header = JobStore(layout.state_dir(session.id)).load_header()
        if header is not None:
            console.info(f"Continuing the {header.phase.value} phase" + (
                f" ({_items_done(session, header.total)} of {header.total} items done)" if header.total else ""))
        session = worktrees.update(session, status=SessionStatus.IN_PROGRESS)
        events.emit("workflow_resumed", mode="mapreduce")
        result = run_phases(PhaseRun(session, workflow, limits, console, environ, events, verbosity=verbosity,
                                     args=session.metadata.run_args))
        return finish_mapreduce(session, workflow, result, yes=yes, console=console, stdin=stdin, environ=environ,
                                verbosity=verbosity, events=events)


def _items_done(session: Session, total: int) -> int:
    return sum(1 for state in JobStore(layout.state_dir(session.id)).item_states(total) if state.finished)


def finish_mapreduce(session: Session, workflow: MapReduceWorkflow, result: ExecutionResult, *, yes: bool,
                     console: Console, stdin: TextIO | None, environ: Mapping[str, str], verbosity: int,
                     events: EventLog) -> int:
    """The standard end of a session; then, if it was merged and removed, its agents go too."""
    from prodigy.local.session import finish_session

    code = finish_session(session, workflow.for_merge(), result, yes=yes, console=console, stdin=stdin,
                          environ=environ, verbosity=verbosity, events=events)
    _clean_agents_if_gone(session)
    return code


def _clean_agents_if_gone(session: Session) -> None:
    if not session.metadata_file.exists() and session.repo.is_dir():
        agent_worktrees.remove_all(session.repo, session.id)


def is_mapreduce_session(session: Session) -> bool:
    return session.metadata.extra.get(MODE_KEY) == "mapreduce"
