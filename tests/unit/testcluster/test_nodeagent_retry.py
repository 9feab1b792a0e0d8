"""The node agent keeps reporting through an apiserver restart: transient failures are retried,
answers about the request are not, and stopping ends the retries."""

from __future__ import annotations

import threading

import pytest
import urllib3
from kubernetes.client.exceptions import ApiException

from testcluster.nodeagent.kube import retry_transient, transient


@pytest.mark.parametrize("error, retried", [
    (urllib3.exceptions.MaxRetryError(None, "/api", "connection refused"), True),   # type: ignore[arg-type]
    (urllib3.exceptions.ProtocolError("connection reset"), True),
    (ConnectionResetError(), True),
    (ApiException(status=503), True),
    (ApiException(status=500), True),
    (ApiException(status=429), True),
    (ApiException(status=404), False),
    (ApiException(status=409), False),
    (ApiException(status=422), False),
    (ValueError("bad JSON"), False),
])
def test_what_counts_as_the_apiserver_being_away(error: BaseException, retried: bool) -> None:
    assert transient(error) is retried


def test_a_status_patch_is_retried_until_the_apiserver_answers() -> None:
    outcomes: list[BaseException | str] = [ApiException(status=503), urllib3.exceptions.ProtocolError("reset"), "ok"]
    calls = []

    def patch() -> str:
        calls.append(1)
        outcome = outcomes.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    assert retry_transient(patch, stop=threading.Event(), what="status", first_delay=0.001) == "ok"
    assert len(calls) == 3


def test_an_answer_about_the_request_is_raised_at_once() -> None:
    calls = []

    def patch() -> None:
        calls.append(1)
        raise ApiException(status=404)

    with pytest.raises(ApiException):
        retry_transient(patch, stop=threading.Event(), what="status", first_delay=0.001)
    assert len(calls) == 1


def test_stopping_ends_the_retries() -> None:
    stop = threading.Event()

    def patch() -> None:
        stop.set()           # the pod was abandoned while the apiserver was away
        raise ApiException(status=503)

    assert retry_transient(patch, stop=stop, what="status", first_delay=0.001) is None
