"""`prodigy dlq retry SESSION`: run the dead-letter queue's items again through the map phase.

- The session still exists (kept after a failure, an interrupt, or a declined merge): its failed
  items run again in fresh agent worktrees from the session's current commit and merge into it.
  A session that had run to the end then ends as usual (merge prompt / ``-y``); one that stopped
  earlier stays resumable.
- The session was merged and removed: a new session is made from the original branch, runs only
  the queued items, and ends as usual. Setup and reduce do not run again: they ran in the original.

Items that succeed leave the queue; items that fail again stay, with the new failure added.
`find_queue` reads the queue; `DeadLetterRetry` is the executor the application layer drives.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from prodigy import paths
from prodigy.errors import EXIT_FAILURE, UsageError
from prodigy.execution import RunEnd
from prodigy.events import EventLog
from prodigy.mapreduce import layout
from prodigy.mapreduce.dlq import DeadLetter, DeadLetterQueue, DeadLetterStore
from prodigy.local.mapreduce.executor import require_claude
from prodigy.mapreduce.journal import JobHeader, JobStore, Phase
from prodigy.local.mapreduce.map_phase import run_map
from prodigy.local.mapreduce.phases import (
    PhaseRun,
    build_map_run,
    completed_result,
    phase_result,
    quiet_git,
    run_phases,
)
from prodigy.mapreduce.limits import MODE_KEY, Limits, resolve_limits
from prodigy.mapreduce.summary import report_map
from prodigy.local.signals import interrupts_raise
from prodigy.repo import agents, git, worktrees
from prodigy.repo.worktrees import Session, SessionStatus
from prodigy.ui import format as fmt
from prodigy.ui.console import Console
from prodigy.workflow.mapreduce import MapReduceWorkflow
from prodigy.workflow.result import ExecutionResult, ExecutionStatus

__all__ = ["DeadLetterRetry", "find_queue"]


def find_queue(session_id: str) -> DeadLetterQueue:
    path = layout.find_dlq_file(session_id)
    queue = DeadLetterStore.read(path) if path else None
    if queue is None:
        raise UsageError(f"session {session_id} has no dead-letter queue",
                         hint="only MapReduce sessions with failed items have one; list sessions with: "
                              "prodigy worktree ls")
    return queue


@dataclass(frozen=True)
class _Plan:
    letters: tuple[DeadLetter, ...]
    session: Session | None          # the session to retry in; None: make a new one


class DeadLetterRetry:
    """The queued items of one session, run again; see the module docstring."""

    def __init__(self, queue: DeadLetterQueue, workflow: MapReduceWorkflow, console: Console, *,
                 environ: Mapping[str, str], verbosity: int, session: Session | None,
                 max_parallel: int | None = None) -> None:
        self.queue = queue
        self.workflow = workflow
        self.console = console
        self.environ = dict(environ)
        self.verbosity = verbosity
        self._plan = _Plan(tuple(sorted(queue.items.values(), key=lambda letter: letter.index)), session)
        self._max_parallel = max_parallel
        self._limits: Limits | None = None
        self._session: Session | None = None
        self._result: ExecutionResult | None = None

    def interruptible(self) -> AbstractContextManager[object]:
        return interrupts_raise()

    def prepare(self, *, dry_run: bool = False) -> None:
        self._limits = resolve_limits(self.workflow, self.environ).with_max_parallel(self._max_parallel)
        require_claude(self.workflow, self.environ)
        if self._plan.session is not None:
            header = JobStore(layout.state_dir(self._plan.session.id)).load_header()
            if header is None or header.phase is Phase.SETUP:
                raise UsageError(f"session {self._plan.session.id} has not reached its map phase",
                                 hint=f"prodigy resume {self._plan.session.id}")
            return
        repo = Path(self.queue.repo)
        if not git.is_repository(repo):
            raise UsageError(f"the repository of {self.queue.session_id} is gone ({repo})")
        current = git.current_branch(repo)
        if current != self.queue.original_branch:
            raise UsageError(f"{self.queue.session_id} merges into {self.queue.original_branch}, but {repo} has "
                             f"{current or 'a detached HEAD'} checked out",
                             hint=f"git -C {repo} checkout {self.queue.original_branch}, then retry")

    def dry_run(self) -> str:
        return "\n".join(f"retry {letter.item_id}: {letter.last.error.splitlines()[0]}" for letter in self._plan.letters)

    def start(self) -> Session:
        letters = self._plan.letters
        if self._plan.session is not None:
            session = worktrees.update(self._plan.session, status=SessionStatus.IN_PROGRESS)
            self.console.info(f"Retrying {fmt.plural(len(letters), 'item')} of {session.id} in its worktree "
                              f"{session.path}")
        else:
            repo = Path(self.queue.repo)
            session = worktrees.create_session(repo, original_branch=self.queue.original_branch,
                                               workflow_path=self.workflow.source,
                                               extra={MODE_KEY: "mapreduce", "retry_of": self.queue.session_id})
            self.console.info(f"{self.queue.session_id} was merged and removed; retrying its "
                              f"{fmt.plural(len(letters), 'failed item')} in a new session at {session.path}")
            store = JobStore(layout.state_dir(session.id))
            store.save_items([letter.item for letter in letters])
            store.save_header(JobHeader(session.id, phase=Phase.MAP, map_base_sha=git.head_sha(session.path),
                                        total=len(letters), retry_of=self.queue.session_id,
                                        selection=(f"{len(letters)} items from the dead-letter queue of "
                                                   f"{self.queue.session_id}",),
                                        original_indexes=tuple(letter.index for letter in letters)))
        self._session = session
        return session

    def follow(self) -> None:
        session, limits = self._session, self._limits
        assert session is not None and limits is not None, "prepare() and start() first"
        events = EventLog.for_session(paths.events_dir(), session.id)
        run = PhaseRun(session, self.workflow, limits, self.console, self.environ, events, verbosity=self.verbosity,
                       args=session.metadata.run_args)
        if self._plan.session is None:                  # a new session: its own map phase, no reduce
            self._result = run_phases(run)
            return
        self._result = self._retry_in(session, run)

    def _retry_in(self, session: Session, run: PhaseRun) -> ExecutionResult:
        store = JobStore(layout.state_dir(session.id))
        header = store.load_header()
        assert header is not None
        indexes = [letter.index for letter in self._plan.letters if letter.index < header.total]
        for index in indexes:                           # a retried item starts afresh
            agents.remove(session.repo, agents.describe(session.repo, session.id, index))
            store.record("reset", index)
        with quiet_git() as settings:
            outcome = run_map(build_map_run(run, store, header, store.load_items(), settings,
                                            base_sha=git.head_sha(session.path)), indexes)
        if outcome.interrupted is not None:
            return phase_result(run, ExecutionStatus.INTERRUPTED, outcome.interrupted.exit_code,
                                outcome.interrupted.message, "map phase (dlq retry)")
        report_map(run.console, [outcome.states[index] for index in indexes], header, session.id)
        if header.phase is Phase.DONE:
            return completed_result(run)
        return phase_result(run, ExecutionStatus.FAILED, EXIT_FAILURE,
                            f"{session.id} stopped in its {header.phase.value} phase before this retry; resume it "
                            "to finish", f"{header.phase.value} phase")

    def collect(self) -> RunEnd:
        assert self._result is not None, "follow() first"
        return RunEnd(self._result)

    def cancel(self) -> None:
        """Nothing to do: the signal stops every agent where it runs."""

    def close(self) -> None:
        """Nothing held."""
