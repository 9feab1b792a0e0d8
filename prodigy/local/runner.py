"""The local executor: a workflow run in a session worktree on this machine.

Implements `prodigy.execution.Executor` for `prodigy.app`: ``start`` creates the session's
branch and worktree from the repository's HEAD (or reopens a kept session to resume it),
``follow`` runs the steps there with their output on this terminal, ``collect`` hands back the
executor's result. Ctrl+C/SIGTERM raise `Interrupted` in the main thread while
``interruptible()`` is active; the step's process group is stopped, the checkpoint saved and the
run ends as interrupted, so ``cancel`` has nothing left to do here.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager

from prodigy import paths
from prodigy.errors import UsageError
from prodigy.execution import RunEnd, RunRequest
from prodigy.local.claude import claude_available
from prodigy.events import EventLog
from prodigy.local.executor import ExecutionRequest, execute, resume_point
from prodigy.local.signals import interrupts_raise
from prodigy.options import test_mode
from prodigy.repo import worktrees
from prodigy.repo.worktrees import Session, SessionStatus
from prodigy.ui import format as fmt
from prodigy.ui.console import Console
from prodigy.workflow.model import Workflow
from prodigy.workflow.plan import format_plan
from prodigy.workflow.result import ExecutionResult


def require_claude(workflow: Workflow, environ: Mapping[str, str]) -> None:
    """A workflow with claude: steps needs the Claude CLI on this machine."""
    if workflow.uses_claude and not test_mode(environ) and not claude_available(environ):
        raise UsageError("Claude CLI is not available. Please install it first.",
                         hint="this workflow has claude: steps; install Claude Code "
                              "(npm install -g @anthropic-ai/claude-code) and make sure `claude` is on PATH")


class LocalExecutor:
    """One run (new, or a kept session resumed) in a worktree on this machine."""

    def __init__(self, request: RunRequest, console: Console, *, resume: Session | None = None) -> None:
        self.request = request
        self.console = console
        self._resume = resume
        self._session: Session | None = None
        self._result: ExecutionResult | None = None
        self.events: EventLog | None = None

    @property
    def workflow(self) -> Workflow:
        return self.request.source.workflow

    def interruptible(self) -> AbstractContextManager[object]:
        return interrupts_raise()

    def prepare(self, *, dry_run: bool = False) -> None:
        require_claude(self.workflow, self.request.environ)
        resumed = self._resume
        if resumed is not None:
            # A broken checkpoint is refused here, before the session is marked in progress again.
            resume_point(paths.state_dir(resumed.id), self.workflow, resumed.metadata.run_args,
                         resumed.metadata.max_iterations, session_id=resumed.id)

    def dry_run(self) -> str:
        return format_plan(self.workflow, inputs=self.request.args, max_iterations=self.request.max_iterations)

    def start(self) -> Session:
        if self._resume is not None:
            session = worktrees.update(self._resume, status=SessionStatus.IN_PROGRESS)
            self.events = EventLog.for_session(paths.events_dir(), session.id)
            self.events.emit("workflow_resumed")
        else:
            request = self.request
            if request.uncommitted:
                self.console.warn(fmt.format_uncommitted_warning(request.repo, request.uncommitted))
            session = worktrees.create_session(
                request.repo, original_branch=request.original_branch, workflow_path=request.workflow_path,
                run_args=request.args, max_iterations=request.max_iterations)
            self.console.info(f"Created worktree at: {session.path}")
            self.events = EventLog.for_session(paths.events_dir(), session.id)
            self.events.emit("worktree_created", path=str(session.path), branch=session.branch,
                             original_branch=session.metadata.original_branch)
        self._session = session
        return session

    def follow(self) -> None:
        session = self._session
        assert session is not None, "start() first"
        self._result = execute(ExecutionRequest(
            workflow=self.workflow, workdir=session.path, state_dir=paths.state_dir(session.id),
            session_id=session.id, args=session.metadata.run_args, max_iterations=session.metadata.max_iterations,
            resume=self._resume is not None, environ=self.request.environ, verbosity=self.request.verbosity,
            events=self.events), self.console)

    def collect(self) -> RunEnd:
        assert self._result is not None, "follow() first"
        return RunEnd(self._result)

    def cancel(self) -> None:
        """Nothing to do: the signal that cancels a local run stops its step where it runs."""

    def close(self) -> None:
        """Nothing held: the worktree is the session's and outlives the run."""

