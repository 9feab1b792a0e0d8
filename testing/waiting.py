"""Waiting in end-to-end tests: poll a probe until it holds, with a generous deadline.

Tests wait for what a user would see (a pod phase, a deleted object) rather than sleeping a
fixed time; two cores run the control plane, the node agent and pytest, so deadlines are wide.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import IO, TypeVar

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], timeout: float = 60, what: str = "condition",
               interval: float = 0.2) -> T:
    """Return the first truthy value of ``probe()``; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def read_until(stream: IO[str], needle: str, seen: list[str], timeout: float) -> None:
    """Read lines of a running command's output into ``seen`` until one contains ``needle``;
    fail the test, showing what was read, when the output ends or ``timeout`` passes first
    (checked between lines: a line that never comes is left to pytest's own timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"never saw {needle!r}; got:\n{''.join(seen)}")
