"""cook.Connection: connect + preflight run ahead on a thread, but nothing gets past result()
unless both succeeded; an abandoned connection is closed."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from prodigy.k8s.phases import Connection
from prodigy.k8s.errors import PreflightError


class FakeKube:
    def __init__(self) -> None:
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()


RUN: Any = object()     # Connection only hands the planned run to connect and check


def start(check: Any, kube: Any) -> Connection:
    return Connection.start(RUN, connect=lambda _run: kube, check=check)


def test_result_is_the_connection_once_preflight_passed() -> None:
    kube = FakeKube()
    checked: list[object] = []
    connection = start(lambda k, _run: checked.append(k), kube)
    assert connection.result() is kube  # type: ignore[comparison-overlap]
    assert checked == [kube] and not kube.closed.is_set()


def test_a_failed_preflight_is_raised_by_result_and_the_connection_is_closed() -> None:
    kube = FakeKube()

    def refuse(_kube: object, _run: object) -> None:
        raise PreflightError("may not create jobs")

    connection = start(refuse, kube)
    with pytest.raises(PreflightError, match="may not create jobs"):
        connection.result()
    assert kube.closed.is_set()


def test_a_failed_connect_is_raised_by_result() -> None:
    def broken(_run: object) -> Any:
        raise ValueError("bad kubeconfig")

    connection = Connection.start(RUN, connect=broken, check=lambda k, r: None)
    with pytest.raises(ValueError, match="bad kubeconfig"):
        connection.result()


def test_abandoned_before_preflight_ends_closes_the_connection_when_it_does() -> None:
    kube = FakeKube()
    release = threading.Event()
    connection = start(lambda _k, _run: release.wait(5), kube)
    connection.abandon()                 # the repository failed to pack while preflight ran
    assert not kube.closed.is_set()
    release.set()
    assert kube.closed.wait(5)


def test_abandoned_after_preflight_closes_at_once() -> None:
    kube = FakeKube()
    connection = start(lambda _k, _run: None, kube)
    connection.result()
    connection.abandon()
    assert kube.closed.is_set()
