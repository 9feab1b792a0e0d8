"""SIGINT/SIGTERM -> `Interrupted` (exit 130/143), raised in the main thread.

Only the first signal raises: cleanup that follows (ending the step's process group, saving the
checkpoint, marking the worktree interrupted) must not be cut short by a second Ctrl+C.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

from prodigy.errors import EXIT_SIGINT, EXIT_SIGTERM, Interrupted

_EXIT_CODES = {signal.SIGINT: EXIT_SIGINT, signal.SIGTERM: EXIT_SIGTERM}
_NAMES = {signal.SIGINT: "interrupted (SIGINT)", signal.SIGTERM: "terminated (SIGTERM)"}


class _Deferral:
    depth = 0
    pending: Interrupted | None = None


@contextmanager
def deferred() -> Iterator[None]:
    """Hold an interrupt until the block ends (e.g. between starting a child and owning its pid).

    Signals are handled in the main thread only, so only the main thread defers: a worker thread
    (a MapReduce agent) must never pick up the main thread's pending interrupt and raise it itself.
    Workers are stopped through `prodigy.local.process_scope` instead.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _Deferral.depth += 1
    try:
        yield
    finally:
        _Deferral.depth -= 1
        if _Deferral.depth == 0 and _Deferral.pending is not None:
            pending, _Deferral.pending = _Deferral.pending, None
            raise pending


@contextmanager
def interrupts_raise() -> Iterator[None]:
    """While active, SIGINT/SIGTERM raise `Interrupted` in the main thread (once)."""
    fired = False

    def handler(signum: int, frame: FrameType | None) -> None:
        nonlocal fired
        if fired:
            return
        fired = True
        sig = signal.Signals(signum)
        error = Interrupted(_NAMES[sig], signal_exit_code=_EXIT_CODES[sig])
        if _Deferral.depth:
            _Deferral.pending = error
            return
        raise error

    previous = {sig: signal.signal(sig, handler) for sig in _EXIT_CODES}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def interruption_type(exit_code: int) -> str:
    return "termination" if exit_code == EXIT_SIGTERM else "user_interrupt"
