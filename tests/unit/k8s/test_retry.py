"""Retry policy: what is retried, how long we wait, and that Retry-After wins — in virtual time."""

from __future__ import annotations

import threading

import pytest

from prodigy.k8s.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    KubeError,
    ServerError,
    TooManyRequests,
    Unreachable,
    error_from_response,
)
from prodigy.k8s.retry import RetryPolicy, Waiter, call_with_retry


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def waiter(self) -> Waiter:
        return Waiter(clock=lambda: self.now, sleep=self._sleep, rand=lambda: 0.5)

    def _sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(*errors: KubeError, result: str = "ok") -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return result
    return calls, fn


def test_transient_errors_are_retried_until_success() -> None:
    time = FakeTime()
    calls, fn = failing(Unreachable("reset"), ServerError("boom", status=503), TooManyRequests("slow", status=429))
    assert call_with_retry(fn, waiter=time.waiter()) == "ok"  # type: ignore[arg-type]
    assert len(calls) == 4
    assert len(time.sleeps) == 3 and time.sleeps == sorted(time.sleeps)  # backoff grows


@pytest.mark.parametrize("error", [
    Forbidden("no", status=403), BadRequest("bad", status=422), Conflict("exists", status=409, reason="AlreadyExists"),
])
def test_answers_that_cannot_change_are_not_retried(error: KubeError) -> None:
    time = FakeTime()
    calls, fn = failing(error)
    with pytest.raises(type(error)):
        call_with_retry(fn, waiter=time.waiter())  # type: ignore[arg-type]
    assert len(calls) == 1 and time.sleeps == []


def test_retry_after_header_sets_the_wait_and_is_capped() -> None:
    time = FakeTime()
    polite = error_from_response(429, b"", {"Retry-After": "7"})
    greedy = error_from_response(503, b"", {"retry-after": "3600"})
    _, fn = failing(polite, greedy)
    call_with_retry(fn, waiter=time.waiter(), policy=RetryPolicy(max_retry_after=30.0))  # type: ignore[arg-type]
    assert time.sleeps == [7.0, 30.0]


def test_attempts_and_deadline_bound_the_total_time() -> None:
    time = FakeTime()
    errors = [Unreachable("down")] * 10
    calls, fn = failing(*errors)
    with pytest.raises(Unreachable):
        call_with_retry(fn, waiter=time.waiter(),  # type: ignore[arg-type]
                        policy=RetryPolicy(attempts=10, base_delay=1.0, max_delay=4.0, deadline=8.0))
    assert time.now <= 8.0
    assert len(calls) < 10


def test_a_set_stop_event_ends_retrying() -> None:
    stop = threading.Event()
    stop.set()
    calls, fn = failing(Unreachable("down"), Unreachable("down"))
    with pytest.raises(Unreachable):
        call_with_retry(fn, waiter=FakeTime().waiter(), stop=stop)  # type: ignore[arg-type]
    assert len(calls) == 1


def test_jitter_stays_within_half_to_full_backoff() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0)
    assert policy.backoff(1, 0.0) == 0.5 and policy.backoff(1, 1.0) == 1.0
    assert policy.backoff(10, 1.0) == 8.0
