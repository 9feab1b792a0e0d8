"""Retrying API calls: which failures are transient, and how long to wait between tries.

Pure policy plus one loop with an injected sleeper, clock and random source, so tests run
the whole schedule in virtual time.

What is retried (client-go's rules, plus connection errors):
- 429 TooManyRequests and 5xx ServerError: the server asks us to come back, often with a
  Retry-After header, which wins over our own backoff (capped, so a hostile value cannot park
  the CLI).
- Unreachable (refused, reset, timed out): for GET/DELETE that is always safe. For POST it is
  only safe because every object we create has a deterministic name: a second create of an
  object the first attempt did create answers 409 AlreadyExists, which ``submit`` turns into
  "read it and check it is ours". That is why a retried create never makes two Jobs.
- Never retried: 400/401/403/404/409/410/422 — retrying cannot change the answer.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from prodigy.k8s.errors import KubeError, ServerError, TooManyRequests, Unreachable

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5             # total tries, the first one included
    base_delay: float = 0.2       # first backoff; doubles each time
    max_delay: float = 5.0        # cap for our own backoff
    max_retry_after: float = 30.0  # cap for a server-supplied Retry-After
    deadline: float | None = None  # seconds from the first try; no new try would start after it

    def backoff(self, retry_number: int, rand: float) -> float:
        """Delay before retry ``retry_number`` (1-based): exponential with "equal jitter",
        so concurrent clients that failed together do not come back together."""
        ceiling: float = min(self.max_delay, self.base_delay * 2.0 ** (retry_number - 1))
        return ceiling / 2 + rand * ceiling / 2


def is_retryable(exc: BaseException) -> bool:
    return isinstance(exc, (TooManyRequests, ServerError, Unreachable))


def delay_for(exc: KubeError, retry_number: int, policy: RetryPolicy, rand: float) -> float:
    retry_after: float | None = getattr(exc, "retry_after", None)
    if retry_after is not None:
        return min(float(retry_after), policy.max_retry_after)
    return policy.backoff(retry_number, rand)


@dataclass(frozen=True)
class Waiter:
    """Time as seen by retry loops and supervisors: injectable for tests."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], object] = time.sleep
    rand: Callable[[], float] = random.random

    @staticmethod
    def interruptible(stop: threading.Event) -> Waiter:
        """Sleeps end early when ``stop`` is set (Ctrl+C during a backoff)."""
        return Waiter(sleep=stop.wait)


def call_with_retry(fn: Callable[[], T], *, policy: RetryPolicy = RetryPolicy(), waiter: Waiter = Waiter(),
                    retryable: Callable[[BaseException], bool] = is_retryable,
                    on_retry: Callable[[KubeError, float], None] | None = None,
                    stop: threading.Event | None = None) -> T:
    """Run ``fn``; on a retryable KubeError wait and try again, up to the policy's limits.
    The last error is raised unchanged when tries, deadline or ``stop`` run out."""
    started = waiter.clock()
    retry_number = 0
    while True:
        try:
            return fn()
        except KubeError as exc:
            retry_number += 1
            if not retryable(exc) or retry_number >= policy.attempts or (stop is not None and stop.is_set()):
                raise
            delay = delay_for(exc, retry_number, policy, waiter.rand())
            if policy.deadline is not None and waiter.clock() + delay - started > policy.deadline:
                raise
            if on_retry is not None:
                on_retry(exc, delay)
            waiter.sleep(delay)
