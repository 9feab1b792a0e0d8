"""Stop the child processes of one unit of work from another thread.

A MapReduce run executes many agents at once, each in its own thread, each starting step processes
(`prodigy.local.shell.run_process`). Signals reach only the main thread, so Ctrl+C there must end
every agent's process groups, and an agent that runs past its time limit must end its own.

A `ProcessScope` is that handle. The thread doing the work enters it (`with scope.active():`);
`run_process` registers each child it starts in the current scope. `stop(error)` (from any thread)
marks the scope stopped and ends the process groups it holds; from then on every `run_process` in
that scope raises ``error`` instead of starting a child, and a child that was ended raises it when
its wait returns. So a stopped agent unwinds through its step code exactly as the main thread does
on an interrupt, without starting an `on_failure` fix or a retry first.

Without an active scope (a standard run) nothing changes: the main thread's signal handler does the
stopping, as before.
"""

from __future__ import annotations

import contextvars
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

__all__ = ["ProcessScope", "current_scope", "stop_all"]

# Between SIGTERM to every group and SIGKILL to what is left.
STOP_GRACE_SECONDS = 2.0

_CURRENT: contextvars.ContextVar[ProcessScope | None] = contextvars.ContextVar("prodigy_process_scope",
                                                                                 default=None)


class ProcessScope:
    """The children one unit of work (an agent, a phase) has running, and whether it must stop."""

    def __init__(self, name: str = "") -> None:
        self.name = name
        self._lock = threading.Lock()
        self._children: set[subprocess.Popen[str]] = set()
        self._error: BaseException | None = None

    @contextmanager
    def active(self) -> Iterator[ProcessScope]:
        """Make this the scope of the calling thread's `run_process` calls for the block."""
        token = _CURRENT.set(self)
        try:
            yield self
        finally:
            _CURRENT.reset(token)

    @property
    def stopped(self) -> bool:
        return self._error is not None

    def check(self) -> None:
        """Raise the stop error if the scope was stopped (called before and after every child)."""
        error = self._error
        if error is not None:
            raise error

    def add(self, child: subprocess.Popen[str]) -> None:
        with self._lock:
            self._children.add(child)
            stopped = self._error is not None
        if stopped:   # stopped between the check and the start: end it like the others
            _signal_group(child, signal.SIGKILL)

    def discard(self, child: subprocess.Popen[str]) -> None:
        with self._lock:
            self._children.discard(child)

    def _mark(self, error: BaseException) -> list[subprocess.Popen[str]]:
        with self._lock:
            if self._error is None:
                self._error = error
            return list(self._children)

    def stop(self, error: BaseException, grace: float = STOP_GRACE_SECONDS) -> None:
        """Stop the scope: its children's groups get SIGTERM, then SIGKILL after ``grace`` seconds."""
        stop_all([self], error, grace=grace)


def current_scope() -> ProcessScope | None:
    return _CURRENT.get()


def stop_all(scopes: Iterable[ProcessScope], error: BaseException, grace: float = STOP_GRACE_SECONDS) -> None:
    """Stop several scopes at once: one SIGTERM round for every group, one shared grace period."""
    children = [child for scope in scopes for child in scope._mark(error)]
    for child in children:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        remaining = deadline - time.monotonic()
        try:
            child.wait(timeout=max(remaining, 0.0))
        except subprocess.TimeoutExpired:
            pass
    for child in children:
        # The leader may be gone while something it started lives on in the group.
        _signal_group(child, signal.SIGKILL)


def _signal_group(child: subprocess.Popen[str], sig: int) -> None:
    try:
        os.killpg(child.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass
