"""MapReduce workflows in the application layer: `cook`, `resume` and `dlq retry` of a
``mode: mapreduce`` file, driven through the same run sequence and end as every session.

    cook_mapreduce(options, ...)                    prodigy cook|run FILE [--cluster NAME]
    resume_mapreduce(session, workflow_file, ...)   prodigy resume SESSION  (the caller holds the lock)
    retry_dead_letters(session_id, ...)             prodigy dlq retry SESSION

The work is in the executors: `prodigy.local.mapreduce` (agents in worktrees on this machine)
and `prodigy.k8s.mapreduce` (agents as pods of one Indexed Job); both keep the session's state
in `prodigy.mapreduce`. Here are only the decisions a use case makes: which options apply,
which session, where it runs (the session's placement), and how it ends (`prodigy.app.finish`,
with the workflow's `merge:` block and env).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from prodigy import paths
from prodigy.app.executors import mapreduce_executor_for
from prodigy.app.finish import FinishPrefs, merge_and_clean
from prodigy.app.prepare import resolve_repo
from prodigy.app.run import drive
from prodigy.errors import EXIT_OK, UsageError
from prodigy.local.mapreduce.retry import DeadLetterRetry, find_queue
from prodigy.mapreduce.dlq import DeadLetterQueue
from prodigy.mapreduce.request import MapReduceRequest
from prodigy.options import RunOptions
from prodigy.repo import git, worktrees
from prodigy.repo.locks import session_lock
from prodigy.repo.placement import placement_of
from prodigy.repo.worktrees import Session, SessionStatus
from prodigy.ui.console import Console
from prodigy.workflow.mapreduce_loader import LoadedMapReduce, load_mapreduce

__all__ = ["cook_mapreduce", "resume_mapreduce", "retry_dead_letters"]


def _read(path: Path, console: Console) -> LoadedMapReduce:
    loaded = load_mapreduce(path)
    for warning in loaded.warnings:
        console.warn(warning)
    return loaded


def _refuse_options(options: RunOptions) -> None:
    if options.detach:
        # This client drives the phases (setup, the map Job, every merge, reduce): without it
        # nothing would merge the agents' commits, so a detached MapReduce run cannot exist.
        raise UsageError("--detach does not apply to a MapReduce workflow: this client drives its phases and merges "
                         "each agent's commits as they arrive",
                         hint="drop --detach; if the run is interrupted, `prodigy resume SESSION` continues it "
                              "where it stopped")
    if options.map_globs:
        raise UsageError("--map does not apply to a MapReduce workflow: its `map:` section chooses the items")
    if options.max_iterations > 1:
        raise UsageError("-n/--max-iterations does not apply to a MapReduce workflow")
    if len(options.args) > 1:
        raise UsageError("a MapReduce workflow takes at most one --args value (${ARG}, split into ${ARG_1}...)")


def cook_mapreduce(options: RunOptions, *, console: Console, stdin: TextIO | None,
                   environ: Mapping[str, str]) -> int:
    _refuse_options(options)
    loaded = _read(options.workflow_path, console)
    workflow = loaded.workflow
    repo = resolve_repo(options.repo_path)
    request = MapReduceRequest(workflow=workflow, workflow_path=options.workflow_path, repo=repo,
                               original_branch=worktrees.original_branch_of(repo), args=options.args,
                               verbosity=options.verbosity, environ=dict(environ),
                               uncommitted=tuple(git.uncommitted_changes(repo)), text=loaded.text)
    executor = mapreduce_executor_for(request, console, cluster=options.cluster, namespace=options.namespace,
                                      options=options)
    try:
        executor.prepare(dry_run=options.dry_run)
        if options.dry_run:
            console.outcome(executor.dry_run())
            return EXIT_OK
        prefs = FinishPrefs(yes=options.yes, verbosity=options.verbosity, stdin=stdin, environ=dict(environ))
        return drive(executor, workflow.for_merge(), prefs, console)
    finally:
        executor.close()


def resume_mapreduce(session: Session, workflow_file: Path, options: RunOptions, *, console: Console,
                     stdin: TextIO | None, environ: Mapping[str, str]) -> int:
    """Continue ``session`` at the phase it stopped in, where it ran (this machine or its
    cluster); the caller holds the session's lock."""
    loaded = _read(workflow_file, console)
    workflow = loaded.workflow
    prefs = FinishPrefs(yes=options.yes, verbosity=options.verbosity, stdin=stdin, environ=dict(environ))
    if session.metadata.status is SessionStatus.COMPLETED:
        console.info(f"Session {session.id} already ran to the end; finishing the merge")
        return merge_and_clean(session, workflow.for_merge(), prefs, console)
    if not session.path.is_dir():
        raise UsageError(f"the worktree of session {session.id} is gone ({session.path})",
                         hint=f"it may have been removed by hand; forget the session with: "
                              f"prodigy worktree clean -f {session.id}")
    placement = placement_of(session)
    request = MapReduceRequest(workflow=workflow, workflow_path=workflow_file, repo=session.repo,
                               original_branch=session.metadata.original_branch, args=session.metadata.run_args,
                               verbosity=options.verbosity, environ=dict(environ), text=loaded.text)
    executor = mapreduce_executor_for(request, console, cluster=placement.cluster if placement else None,
                                      namespace=placement.namespace if placement else None, options=options,
                                      resume=session)
    try:
        executor.prepare()
        if placement is None:
            console.info(f"Resuming session: {session.id} (worktree {session.path})")
        return drive(executor, workflow.for_merge(), prefs, console, locked=True)
    finally:
        executor.close()


def retry_dead_letters(session_id: str, *, yes: bool, console: Console, stdin: TextIO | None,
                       environ: Mapping[str, str], verbosity: int, max_parallel: int | None = None) -> int:
    queue = find_queue(session_id)
    if not queue.items:
        console.info(f"The dead-letter queue of {session_id} is empty: nothing to retry")
        return EXIT_OK
    if not queue.workflow_path or not Path(queue.workflow_path).is_file():
        raise UsageError(f"the workflow file of {session_id} is gone ({queue.workflow_path})",
                         hint="restore it at that path to retry its items")
    loaded = _read(Path(queue.workflow_path), console)
    workflow = loaded.workflow
    prefs = FinishPrefs(yes=yes, verbosity=verbosity, stdin=stdin, environ=dict(environ))
    kept = _kept_session(session_id)
    cluster = (placement.cluster if (placement := placement_of(kept)) else None) if kept else queue.cluster
    if cluster is not None:
        return _retry_on_cluster(queue, loaded, kept, cluster, console=console, prefs=prefs, environ=environ,
                                 verbosity=verbosity, max_parallel=max_parallel)
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


def _retry_on_cluster(queue: DeadLetterQueue, loaded: LoadedMapReduce, kept: Session | None, cluster: str, *,
                      console: Console, prefs: FinishPrefs, environ: Mapping[str, str], verbosity: int,
                      max_parallel: int | None) -> int:
    """The queue of a session that ran on a cluster: its items run there again, as a map Job."""
    from prodigy.k8s.mapreduce.executor import RetryPlan

    letters = tuple(sorted(queue.items.values(), key=lambda letter: letter.index))
    workflow = loaded.workflow
    placement = placement_of(kept) if kept is not None else None
    if kept is None:
        repo = Path(queue.repo)
        if not git.is_repository(repo):
            raise UsageError(f"the repository of {queue.session_id} is gone ({repo})")
        current = git.current_branch(repo)
        if current != queue.original_branch:
            raise UsageError(f"{queue.session_id} merges into {queue.original_branch}, but {repo} has "
                             f"{current or 'a detached HEAD'} checked out",
                             hint=f"git -C {repo} checkout {queue.original_branch}, then retry")
        request = MapReduceRequest(workflow=workflow, workflow_path=Path(queue.workflow_path or ""), repo=repo,
                                   original_branch=queue.original_branch, args=(), verbosity=verbosity,
                                   environ=dict(environ), text=loaded.text)
        executor = mapreduce_executor_for(request, console, cluster=cluster, namespace=queue.namespace,
                                          retry=RetryPlan(letters, queue.session_id, None), max_parallel=max_parallel)
        try:
            executor.prepare()
            return drive(executor, workflow.for_merge(), prefs, console)
        finally:
            executor.close()
    with session_lock(paths.state_dir(kept.id), kept.id):      # not while a run or resume is using it
        session = worktrees.load_session(kept.id)
        request = MapReduceRequest(workflow=workflow, workflow_path=Path(queue.workflow_path or ""), repo=session.repo,
                                   original_branch=session.metadata.original_branch, args=session.metadata.run_args,
                                   verbosity=verbosity, environ=dict(environ), text=loaded.text)
        executor = mapreduce_executor_for(request, console, cluster=cluster,
                                          namespace=placement.namespace if placement else queue.namespace,
                                          retry=RetryPlan(letters, queue.session_id, session),
                                          max_parallel=max_parallel)
        try:
            executor.prepare()
            return drive(executor, workflow.for_merge(), prefs, console, locked=True)
        finally:
            executor.close()


def _kept_session(session_id: str) -> Session | None:
    try:
        session = worktrees.load_session(session_id)
    except UsageError:
        return None
    return session if session.path.is_dir() else None
