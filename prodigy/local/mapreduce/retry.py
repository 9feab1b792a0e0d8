"""`prodigy dlq retry SESSION`: run the dead-letter queue's items again through the map phase.

- The session still exists (kept after a failure, an interrupt, or a declined merge): its failed
  items run again in fresh agent worktrees from the session's current commit and merge into it;
  if the session had run to the end, it then ends as usual (merge prompt / ``-y``).
- The session was merged and removed: a new session is made from the original branch, runs only
  the queued items, and ends as usual. Setup and reduce do not run again: they ran in the original.

Items that succeed leave the queue; items that fail again stay, with the new failure added.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from prodigy import paths
from prodigy.errors import EXIT_OK, UsageError
from prodigy.local import git, worktrees
from prodigy.local.events import EventLog
from prodigy.local.locks import session_lock
from prodigy.local.mapreduce import agent_worktrees, layout
from prodigy.local.mapreduce.dlq import DeadLetter, DeadLetterStore
from prodigy.local.mapreduce.journal import JobHeader, JobStore, Phase
from prodigy.local.mapreduce.map_phase import run_map
from prodigy.local.mapreduce.phases import (
    Limits,
    PhaseRun,
    build_map_run,
    completed_result,
    quiet_git,
    report_map,
    run_phases,
)
from prodigy.local.mapreduce.run import MODE_KEY, finish_mapreduce, load_for_run, require_claude
from prodigy.local.signals import interrupts_raise
from prodigy.local.worktrees import Session, SessionStatus
from prodigy.ui import format as fmt
from prodigy.ui.console import Console
from prodigy.workflow.mapreduce import MapReduceWorkflow

__all__ = ["retry_dead_letters"]


def retry_dead_letters(session_id: str, *, yes: bool, console: Console, stdin: TextIO | None,
                       environ: dict[str, str], verbosity: int, max_parallel: int | None = None) -> int:
    path = layout.find_dlq_file(session_id)
    queue = DeadLetterStore.read(path) if path else None
    if queue is None:
        raise UsageError(f"session {session_id} has no dead-letter queue",
                         hint="only MapReduce sessions with failed items have one; list sessions with: "
                              "prodigy worktree ls")
    letters = sorted(queue.items.values(), key=lambda letter: letter.index)
    if not letters:
        console.info(f"The dead-letter queue of {session_id} is empty: nothing to retry")
        return EXIT_OK
    if not queue.workflow_path or not Path(queue.workflow_path).is_file():
        raise UsageError(f"the workflow file of {session_id} is gone ({queue.workflow_path})",
                         hint="restore it at that path to retry its items")
    workflow, limits = load_for_run(Path(queue.workflow_path), console, environ)
    if max_parallel is not None:
        limits = Limits(max_parallel, limits.agent_timeout, limits.setup_timeout)
    require_claude(workflow, environ)
    session = _existing(session_id)
    if session is not None:
        with session_lock(paths.state_dir(session.id), session.id):
            return _retry_in_session(worktrees.load_session(session.id), workflow, limits, letters, yes=yes,
                                     console=console, stdin=stdin, environ=environ, verbosity=verbosity)
    return _retry_in_new_session(session_id, Path(queue.repo), queue.original_branch, workflow, limits, letters,
                                 yes=yes, console=console, stdin=stdin, environ=environ, verbosity=verbosity)


def _existing(session_id: str) -> Session | None:
    try:
        session = worktrees.load_session(session_id)
    except UsageError:
        return None
    return session if session.path.is_dir() else None


def _retry_in_session(session: Session, workflow: MapReduceWorkflow, limits: Limits, letters: list[DeadLetter], *,
                      yes: bool, console: Console, stdin: TextIO | None, environ: dict[str, str],
                      verbosity: int) -> int:
    store = JobStore(layout.state_dir(session.id))
    header = store.load_header()
    if header is None or header.phase is Phase.SETUP:
        raise UsageError(f"session {session.id} has not reached its map phase", hint=f"prodigy resume {session.id}")
    indexes = [letter.index for letter in letters if letter.index < header.total]
    console.info(f"Retrying {fmt.plural(len(indexes), 'item')} of {session.id} in its worktree {session.path}")
    for index in indexes:
        agent_worktrees.remove(session.repo, agent_worktrees.describe(session.repo, session.id, index))
        store.record("reset", index)
    events = EventLog.for_session(paths.events_dir(), session.id)
    previous = session.metadata.status
    run = PhaseRun(session, workflow, limits, console, environ, events, verbosity=verbosity,
                   args=session.metadata.run_args)
    base = git.head_sha(session.path)
    with interrupts_raise():
        session = worktrees.update(session, status=SessionStatus.IN_PROGRESS)
        with quiet_git() as settings:
            outcome = run_map(build_map_run(run, store, header, store.load_items(), settings, base_sha=base), indexes)
        if outcome.interrupted is not None:
            worktrees.update(session, status=SessionStatus.INTERRUPTED, interrupted_at=worktrees.now_iso(),
                             error=outcome.interrupted.message)
            console.error(f"Interrupted. {session.id} is kept at {session.path}")
            console.outcome(fmt.format_resume_hint(session.id))
            return outcome.interrupted.exit_code
        report_map(run, [outcome.states[index] for index in indexes], header)
        if header.phase is Phase.DONE:
            result = completed_result(run)
            return finish_mapreduce(session, workflow, result, yes=yes, console=console, stdin=stdin,
                                    environ=environ, verbosity=verbosity, events=events)
        worktrees.update(session, status=previous)
        console.outcome(f"{session.id} stopped in its {header.phase.value} phase; "
                        f"{fmt.format_resume_hint(session.id)}")
        return EXIT_OK


def _retry_in_new_session(session_id: str, repo: Path, original_branch: str, workflow: MapReduceWorkflow,
                          limits: Limits, letters: list[DeadLetter], *, yes: bool, console: Console,
                          stdin: TextIO | None, environ: dict[str, str], verbosity: int) -> int:
    if not git.is_repository(repo):
        raise UsageError(f"the repository of {session_id} is gone ({repo})")
    current = git.current_branch(repo)
    if current != original_branch:
        raise UsageError(f"{session_id} merges into {original_branch}, but {repo} has "
                         f"{current or 'a detached HEAD'} checked out",
                         hint=f"git -C {repo} checkout {original_branch}, then retry")
    with interrupts_raise():
        session = worktrees.create_session(repo, original_branch=original_branch, workflow_path=workflow.source,
                                           extra={MODE_KEY: "mapreduce", "retry_of": session_id})
        with session_lock(paths.state_dir(session.id), session.id):
            console.info(f"{session_id} was merged and removed; retrying its "
                         f"{fmt.plural(len(letters), 'failed item')} in a new session at {session.path}")
            store = JobStore(layout.state_dir(session.id))
            store.save_items([letter.item for letter in letters])
            store.save_header(JobHeader(session.id, phase=Phase.MAP, map_base_sha=git.head_sha(session.path),
                                        total=len(letters), retry_of=session_id,
                                        selection=(f"{len(letters)} items from the dead-letter queue of "
                                                   f"{session_id}",),
                                        original_indexes=tuple(letter.index for letter in letters)))
            events = EventLog.for_session(paths.events_dir(), session.id)
            result = run_phases(PhaseRun(session, workflow, limits, console, environ, events, verbosity=verbosity))
            return finish_mapreduce(session, workflow, result, yes=yes, console=console, stdin=stdin,
                                    environ=environ, verbosity=verbosity, events=events)
