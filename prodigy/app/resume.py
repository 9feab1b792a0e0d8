"""`prodigy resume [SESSION]`: continue a kept session where it ran.

A local session continues in its worktree from the step after its last checkpoint. A cluster
session first collects a Job that finished after its client died; otherwise its branch head and
checkpoint go to a new Job on the same cluster. A session that already ran to the end only
finishes its merge.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from prodigy import paths
from prodigy.app.executors import executor_for
from prodigy.app.finish import FinishPrefs, finish, merge_and_clean
from prodigy.app.prepare import read_workflow, resolve_repo
from prodigy.app.run import drive
from prodigy.errors import UsageError
from prodigy.execution import RunRequest
from prodigy.mapreduce.limits import is_mapreduce_session
from prodigy.options import RunOptions
from prodigy.repo import worktrees
from prodigy.repo.locks import session_lock
from prodigy.repo.placement import placement_of
from prodigy.repo.worktrees import Session, SessionStatus
from prodigy.ui.console import Console
from prodigy.workflow.mapreduce_loader import is_mapreduce_file

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


def session_workflow_path(session: Session, given: Path | None) -> Path:
    """`cook WORKFLOW --resume S` names the file; `resume S` uses the one the session recorded."""
    if given is not None and given.is_file():
        return given
    if not session.metadata.workflow_path:
        raise UsageError(f"session {session.id} does not record its workflow file",
                         hint=f"pass it: prodigy cook WORKFLOW --resume {session.id}")
    return Path(session.metadata.workflow_path)


def resume(session_id: str, options: RunOptions | None = None, *, console: Console | None = None,
           stdin: TextIO | None = None, environ: Mapping[str, str] | None = None) -> int:
    """Continue a kept session from the step after its last checkpoint."""
    env = dict(os.environ if environ is None else environ)
    session = worktrees.load_session(session_id)
    options = options or RunOptions(workflow_path=Path(session.metadata.workflow_path or ""), repo_path=session.repo)
    console = console or Console(options.verbosity)
    # One process per session: a second `resume` (or one during the first run) is refused here.
    with session_lock(paths.state_dir(session.id), session.id):
        # Read again under the lock: the previous holder may have finished (and merged) meanwhile.
        session = worktrees.load_session(session.id)
        return _resume_locked(session, options, console, stdin, env)


def _resume_locked(session: Session, options: RunOptions, console: Console, stdin: TextIO | None,
                   env: dict[str, str]) -> int:
    status = session.metadata.status
    if status in (SessionStatus.MERGED, SessionStatus.CLEANED_UP):
        raise UsageError(f"session {session.id} already finished ({status.value}); nothing to resume")
    placement = placement_of(session)
    workflow_file = session_workflow_path(session, options.workflow_path)
    if is_mapreduce_session(session) or is_mapreduce_file(workflow_file):
        # Where it ran (this machine or its cluster), at the phase it stopped in.
        from prodigy.app.mapreduce import resume_mapreduce

        return resume_mapreduce(session, workflow_file, options, console=console, stdin=stdin, environ=env)
    if placement is None and not session.path.is_dir():
        raise UsageError(f"the worktree of session {session.id} is gone ({session.path})",
                         hint=f"it may have been removed by hand; forget the session with: "
                              f"prodigy worktree clean -f {session.id}")
    prefs = FinishPrefs(yes=options.yes, verbosity=options.verbosity, stdin=stdin, environ=env)
    if placement is not None and not placement.collected:
        # A previous client died after submitting: land the Job's result if it finished.
        from prodigy.k8s.executor import collect_finished   # here: local sessions never load the k8s side

        end = collect_finished(session, placement, console)
        if end is not None:
            loaded = read_workflow(workflow_file, console)
            return finish(session, loaded.workflow, end, prefs, console)
        console.info(f"Job {placement.job} no longer exists (its TTL expired or it was deleted); "
                     "running the steps it did not finish again")
    loaded = read_workflow(workflow_file, console)
    if status is SessionStatus.COMPLETED:
        console.info(f"Session {session.id} already ran to the end; finishing the merge")
        return merge_and_clean(session, loaded.workflow, prefs, console)
    request = RunRequest(
        source=loaded, workflow_path=workflow_file, repo=session.repo,
        original_branch=session.metadata.original_branch, args=session.metadata.run_args,
        max_iterations=session.metadata.max_iterations, verbosity=options.verbosity, environ=env)
    run_options = replace(options, cluster=None, namespace=None) if placement is None else options
    executor = executor_for(request, run_options, console, resume=session, placement=placement)
    try:
        executor.prepare()
        if placement is None:
            console.info(f"Resuming session: {session.id} (worktree {session.path})")
        return drive(executor, loaded.workflow, prefs, console, locked=True)
    finally:
        executor.close()
