"""Ctrl+C and SIGTERM for a cluster run: delete what we created, say "cancelled", never success.

``Interrupts`` turns signals into data the supervisor reads: the first SIGINT/SIGTERM
records which signal came (exit 130 or 143) and wakes the supervisor through its inbox; a
second one sets ``force``, which skips the bounded wait for pods to go away. The handlers
only set events and put into a ``SimpleQueue`` (whose ``put`` is safe in a signal handler),
so no lock is ever taken inside a handler.

``delete_run`` deletes the Job with ``propagationPolicy: Foreground`` (its pods go first, then
the Job) plus the run's ConfigMap(s) and Secret. Those are owned by the Job and would be
garbage-collected anyway; deleting them directly makes a cancelled run leave nothing behind
the moment the command returns, even if the garbage collector is slow.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from types import FrameType
from typing import Any

from prodigy.errors import EXIT_SIGINT, EXIT_SIGTERM
from prodigy.k8s.clients import Kube
from prodigy.k8s.errors import KubeError
from prodigy.k8s.submit import ObjectRef, delete

CANCEL_WAIT_SECONDS = 30.0   # bounded wait for the pods to terminate after the delete


class Interrupts:
    """Signal state shared by the CLI's main thread and the supervisor."""

    def __init__(self, notify: Callable[[int], None] | None = None) -> None:
        self.requested = threading.Event()   # first signal
        self.force = threading.Event()       # second signal: stop waiting
        self.signum: int | None = None   # plain int: handlers receive ints
        self._notify = notify

    @property
    def exit_code(self) -> int:
        return EXIT_SIGTERM if self.signum == int(signal.SIGTERM) else EXIT_SIGINT

    def trigger(self, signum: int) -> None:
        """What a signal does; also callable directly from tests."""
        if self.requested.is_set():
            self.force.set()
            return
        self.signum = signum
        self.requested.set()
        if self._notify is not None:
            self._notify(signum)

    def set_notify(self, notify: Callable[[int], None]) -> None:
        self._notify = notify

    @contextmanager
    def installed(self) -> Iterator[Interrupts]:
        """Route SIGINT/SIGTERM here for the duration (main thread only)."""
        def handler(signum: int, _frame: FrameType | None) -> None:
            self.trigger(signum)

        previous: dict[signal.Signals, Any] = {}
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, handler)
        try:
            yield self
        finally:
            for signum, old in previous.items():
                signal.signal(signum, old)


def delete_run(kube: Kube, job: ObjectRef, owned: Sequence[ObjectRef] = (), *,
               propagation: str = "Foreground") -> list[str]:
    """Delete the Job (with propagation) and its dependents. Returns problems, never raises:
    cancellation must get as far as it can."""
    problems = []
    try:
        delete(kube, job, propagation=propagation)
    except KubeError as exc:
        problems.append(exc.message)
    for ref in owned:
        try:
            delete(kube, ref, propagation="Background")
        except KubeError as exc:
            problems.append(exc.message)
    return problems
