"""MapReduce workflows in the application layer: `cook`, `resume` and `dlq retry` of a
``mode: mapreduce`` file, driven through the same run sequence and end as every session.

    cook_mapreduce(options, ...)                    prodigy cook|run FILE   (FILE says mode: mapreduce)
    resume_mapreduce(session, workflow_file, ...)   prodigy resume SESSION  (the caller holds the lock)
    retry_dead_letters(session_id, ...)             prodigy dlq retry SESSION

The work is in `prodigy.local.mapreduce` (the executor, its phases and agents); here are only the
decisions a use case makes: which options apply, which session, and how the session ends
(`prodigy.app.finish`, with the workflow's `merge:` block and env).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from prodigy import paths
from prodigy.app.finish import FinishPrefs, merge_and_clean
from prodigy.app.prepare import resolve_repo
from prodigy.app.run import drive
from prodigy.errors import EXIT_OK, UsageError
from prodigy.local.mapreduce.executor import MapReduceExecutor, MapReduceRequest
from prodigy.local.mapreduce.retry import DeadLetterRetry, find_queue
from prodigy.options import RunOptions
from prodigy.repo import git, worktrees
from prodigy.repo.locks import session_lock
from prodigy.repo.worktrees import Session, SessionStatus
from prodigy.ui.console import Console
from prodigy.workflow.mapreduce import MapReduceWorkflow
from prodigy.workflow.mapreduce_loader import load_mapreduce

__all__ = ["cook_mapreduce", "resume_mapreduce", "retry_dead_letters"]


def _read(path: Path, console: Console) -> MapReduceWorkflow:
    loaded = load_mapreduce(path)
    for warning in loaded.warnings:
        console.warn(warning)
    return loaded.workflow


def _refuse_options(options: RunOptions) -> None:
    if options.cluster:
        raise UsageError(f"{options.workflow_path} is a MapReduce workflow; MapReduce workflows cannot run on a "
                         "cluster yet", hint="run it locally: drop --cluster")
    if options.map_globs:
        raise UsageError("--map does not apply to a MapReduce workflow: its `map:` section chooses the items")
    if options.max_iterations > 1:
        raise UsageError("-n/--max-iterations does not apply to a MapReduce workflow")
    if len(options.args) > 1:
        raise UsageError("a MapReduce workflow takes at most one --args value (${ARG}, split into ${ARG_1}...)")


def cook_mapreduce(options: RunOptions, *, console: Console, stdin: TextIO | None,
                   environ: Mapping[str, str]) -> int:
    _refuse_options(options)
    workflow = _read(options.workflow_path, console)
    repo = resolve_repo(options.repo_path)
    request = MapReduceRequest(workflow=workflow, workflow_path=options.workflow_path, repo=repo,
                               original_branch=worktrees.original_branch_of(repo), args=options.args,
                               verbosity=options.verbosity, environ=dict(environ),
                               uncommitted=tuple(git.uncommitted_changes(repo)))
    executor = MapReduceExecutor(request, console)
    executor.prepare(dry_run=options.dry_run)
    if options.dry_run:
        console.outcome(executor.dry_run())
        return EXIT_OK
    prefs = FinishPrefs(yes=options.yes, verbosity=options.verbosity, stdin=stdin, environ=dict(environ))
    return drive(executor, workflow.for_merge(), prefs, console)


def resume_mapreduce(session: Session, workflow_file: Path, options: RunOptions, *, console: Console,
                     stdin: TextIO | None, environ: Mapping[str, str]) -> int:
    """Continue ``session`` at the phase it stopped in; the caller holds the session's lock."""
    workflow = _read(workflow_file, console)
    prefs = FinishPrefs(yes=options.yes, verbosity=options.verbosity, stdin=stdin, environ=dict(environ))
    if session.metadata.status is SessionStatus.COMPLETED:
        console.info(f"Session {session.id} already ran to the end; finishing the merge")
        return merge_and_clean(session, workflow.for_merge(), prefs, console)
    request = MapReduceRequest(workflow=workflow, workflow_path=workflow_file, repo=session.repo,
                               original_branch=session.metadata.original_branch, args=session.metadata.run_args,
                               verbosity=options.verbosity, environ=dict(environ))
    executor = MapReduceExecutor(request, console, resume=session)
    executor.prepare()
    console.info(f"Resuming session: {session.id} (worktree {session.path})")
    return drive(executor, workflow.for_merge(), prefs, console, locked=True)


def retry_dead_letters(session_id: str, *, yes: bool, console: Console, stdin: TextIO | None,
                       environ: Mapping[str, str], verbosity: int, max_parallel: int | None = None) -> int:
    queue = find_queue(session_id)
    if not queue.items:
        console.info(f"The dead-letter queue of {session_id} is empty: nothing to retry")
        return EXIT_OK
    if not queue.workflow_path or not Path(queue.workflow_path).is_file():
        raise UsageError(f"the workflow file of {session_id} is gone ({queue.workflow_path})",
                         hint="restore it at that path to retry its items")
    workflow = _read(Path(queue.workflow_path), console)
    prefs = FinishPrefs(yes=yes, verbosity=verbosity, stdin=stdin, environ=dict(environ))
    kept = _kept_session(session_id)
    if kept is None:
        executor = DeadLetterRetry(queue, workflow, console, environ=environ, verbosity=verbosity, session=None,
                                   max_parallel=max_parallel)
        executor.prepare()
        return drive(executor, workflow.for_merge(), prefs, console)
    with session_lock(paths.state_dir(kept.id), kept.id):      # not while a run or resume is using it
        executor = DeadLetterRetry(queue, workflow, console, environ=environ, verbosity=verbosity,
                                   session=worktrees.load_session(kept.id), max_parallel=max_parallel)
        executor.prepare()
        return drive(executor, workflow.for_merge(), prefs, console, locked=True)


def _kept_session(session_id: str) -> Session | None:
    try:
        session = worktrees.load_session(session_id)
    except UsageError:
        return None
    return session if session.path.is_dir() else None
