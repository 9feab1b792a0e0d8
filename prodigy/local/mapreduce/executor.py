"""The MapReduce executor: a ``mode: mapreduce`` workflow run on this machine.

Implements `prodigy.execution.Executor` for `prodigy.app`, like the local executor:
``prepare`` finds everything wrong with the input before anything exists (counts that name
variables, a missing `claude`), ``start`` creates the session (or reopens a kept one),
``follow`` runs the phases (`phases.run_phases`: setup, item selection, the agents, reduce),
``collect`` hands back the result. The application layer ends the session as it ends every
session. Ctrl+C/SIGTERM raise `Interrupted` in the main thread while ``interruptible()`` is
active; the map phase stops every agent's process groups and the run ends as interrupted.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

from prodigy import paths
from prodigy.errors import UsageError
from prodigy.execution import RunEnd
from prodigy.local.claude import claude_available
from prodigy.events import EventLog
from prodigy.mapreduce import layout
from prodigy.mapreduce.journal import JobStore
from prodigy.local.mapreduce.phases import PhaseRun, run_phases
from prodigy.mapreduce.limits import MODE_KEY, Limits, resolve_limits
from prodigy.mapreduce.request import MapReduceRequest
from prodigy.local.signals import interrupts_raise
from prodigy.options import test_mode
from prodigy.repo import worktrees
from prodigy.repo.worktrees import Session, SessionStatus
from prodigy.ui import format as fmt
from prodigy.ui.console import Console
from prodigy.workflow.mapreduce import MapReduceWorkflow
from prodigy.workflow.mapreduce_plan import format_mapreduce_plan
from prodigy.workflow.result import ExecutionResult

__all__ = ["MapReduceExecutor", "MapReduceRequest", "require_claude"]


def require_claude(workflow: MapReduceWorkflow, environ: Mapping[str, str]) -> None:
    if workflow.uses_claude and not test_mode(environ) and not claude_available(environ):
        raise UsageError("Claude CLI is not available. Please install it first.",
                         hint="this workflow has claude: steps; install Claude Code "
                              "(npm install -g @anthropic-ai/claude-code) and make sure `claude` is on PATH")


class MapReduceExecutor:
    """One MapReduce run (new, or a kept session resumed) in a session worktree on this machine."""

    def __init__(self, request: MapReduceRequest, console: Console, *, resume: Session | None = None,
                 max_parallel: int | None = None) -> None:
        self.request = request
        self.console = console
        self._resume = resume
        self._max_parallel = max_parallel
        self._limits: Limits | None = None
        self._session: Session | None = None
        self._result: ExecutionResult | None = None
        self.events: EventLog | None = None

    def interruptible(self) -> AbstractContextManager[object]:
        return interrupts_raise()

    def prepare(self, *, dry_run: bool = False) -> None:
        self._limits = resolve_limits(self.request.workflow, self.request.environ).with_max_parallel(self._max_parallel)
        require_claude(self.request.workflow, self.request.environ)

    def dry_run(self) -> str:
        return format_mapreduce_plan(self.request.workflow)

    def start(self) -> Session:
        request = self.request
        if self._resume is not None:
            session = worktrees.update(self._resume, status=SessionStatus.IN_PROGRESS)
            self.events = EventLog.for_session(paths.events_dir(), session.id)
            self.events.emit("workflow_resumed", mode="mapreduce")
            store = JobStore(layout.state_dir(session.id))
            header = store.load_header()
            if header is not None:
                done = sum(1 for state in store.item_states(header.total) if state.finished)
                self.console.info(f"Continuing the {header.phase.value} phase"
                                  + (f" ({done} of {header.total} items done)" if header.total else ""))
        else:
            if request.uncommitted:
                self.console.warn(fmt.format_uncommitted_warning(request.repo, request.uncommitted))
            session = worktrees.create_session(request.repo, original_branch=request.original_branch,
                                               workflow_path=request.workflow_path, run_args=request.args,
                                               extra={MODE_KEY: "mapreduce"})
            self.console.info(f"Created worktree at: {session.path}")
            self.events = EventLog.for_session(paths.events_dir(), session.id)
            self.events.emit("worktree_created", path=str(session.path), branch=session.branch,
                             original_branch=session.metadata.original_branch, mode="mapreduce")
        self._session = session
        return session

    def follow(self) -> None:
        session, limits, events = self._session, self._limits, self.events
        assert session is not None and limits is not None and events is not None, "prepare() and start() first"
        self._result = run_phases(PhaseRun(session, self.request.workflow, limits, self.console,
                                           self.request.environ, events, verbosity=self.request.verbosity,
                                           args=session.metadata.run_args))

    def collect(self) -> RunEnd:
        assert self._result is not None, "follow() first"
        return RunEnd(self._result)

    def cancel(self) -> None:
        """Nothing to do: the signal that cancels the run stops every agent where it runs."""

    def close(self) -> None:
        """Nothing held: the worktrees are the session's and outlive the run."""
