"""The watch and log-follow loops against a scripted stand-in for our own `Kube` interface.

The real API is exercised by the e2e suite; these cover what a real cluster will not do on
demand: a watch expiring with 410 Gone, and a log stream cut mid-line.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

from prodigy.k8s.errors import NotFound, Unreachable
from prodigy.k8s.logs import LogFollower, LogSource
from prodigy.k8s.retry import Waiter
from prodigy.k8s.watch import Collection, WatchEvent, Watcher


class Stream:
    """A urllib3-like response: ``read1`` hands out the given chunks, then EOF or an error."""

    def __init__(self, chunks: list[bytes], error: Exception | None = None) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._error = error

    def read1(self, _n: int) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:
            if self._error is not None:
                raise self._error from None
            return b""

    def release_conn(self) -> None:
        pass

    def shutdown(self) -> None:
        pass


class ScriptedKube:
    name = "fake"

    def __init__(self, lists: list[dict[str, Any]], streams: list[Stream], pods: list[dict[str, Any]] | None = None,
                 stop: threading.Event | None = None) -> None:
        self.lists, self.streams, self.pods = lists, streams, pods or []
        self.stream_queries: list[dict[str, Any]] = []
        self.list_calls = 0
        self.stop = stop

    def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        if path.endswith("/log") or "/pods/" in path:
            if not self.pods:
                raise NotFound("gone", status=404)
            return self.pods.pop(0)
        self.list_calls += 1
        return self.lists.pop(0)

    def open_stream(self, path: str, *, query: Any = (), **_: Any) -> Stream:
        self.stream_queries.append(dict(query))
        if not self.streams:
            if self.stop is not None:
                self.stop.set()
            return Stream([])
        return self.streams.pop(0)


def _event(kind: str, name: str, rv: str) -> bytes:
    return json.dumps({"type": kind, "object": {"metadata": {"name": name, "resourceVersion": rv}}}).encode() + b"\n"


def test_watch_resumes_from_the_last_resource_version_and_relists_on_410() -> None:
    stop = threading.Event()
    gone = json.dumps({"type": "ERROR", "object": {"kind": "Status", "code": 410, "reason": "Expired",
                                                   "message": "too old resource version"}}).encode() + b"\n"
    kube = ScriptedKube(
        lists=[{"metadata": {"resourceVersion": "10"}, "items": [{"metadata": {"name": "a"}}]},
               {"metadata": {"resourceVersion": "50"}, "items": [{"metadata": {"name": "b"}}]}],
        streams=[Stream([_event("MODIFIED", "a", "11")]),          # server timeout: clean EOF
                 Stream([_event("ADDED", "b", "12")[:20], _event("ADDED", "b", "12")[20:], gone]),
                 Stream([_event("DELETED", "b", "51")])],
        stop=stop)
    seen: list[WatchEvent] = []
    watcher = Watcher(kube, Collection("pods", "/api/v1/namespaces/ns/pods"), seen.append, stop=stop,  # type: ignore[arg-type]
                      waiter=Waiter(sleep=lambda _s: None))
    watcher.run()

    assert [(e.type, e.obj["metadata"]["name"] if e.obj else [i["metadata"]["name"] for i in e.items])
            for e in seen] == [("SYNC", ["a"]), ("MODIFIED", "a"), ("ADDED", "b"), ("SYNC", ["b"]), ("DELETED", "b")]
    versions = [q["resourceVersion"] for q in kube.stream_queries[:3]]
    assert versions == ["10", "11", "50"]                        # resumed, then re-listed after 410
    assert kube.list_calls == 2


def _log(ts: str, text: str) -> bytes:
    return f"2026-11-27T10:00:{ts}Z {text}\n".encode()


def test_follower_resumes_after_a_cut_mid_line_without_loss_or_repeats() -> None:
    stop = threading.Event()
    terminated = {"status": {"containerStatuses": [{"name": "c", "state": {"terminated": {"exitCode": 0}}}]}}
    first = _log("01.100", "one") + _log("01.200", "two") + b"2026-11-27T10:00:02.300Z thr"   # cut inside "three"
    kube = ScriptedKube(
        lists=[],
        streams=[Stream([first], error=ConnectionResetError("reset by peer")),
                 # resumed from 10:00:01: the server repeats the boundary second
                 Stream([_log("01.200", "two"), _log("02.300", "three"), _log("03.000", "four"), b"2026-11-27T10:00:04Z five-no-newline"]),
                 # the final drain after the container ended: from 10:00:04 again
                 Stream([b"2026-11-27T10:00:04Z five-no-newline"])],
        pods=[terminated], stop=stop)
    printed: list[str] = []
    follower = LogFollower(kube, LogSource("ns", "pod", "c"), printed.append, stop=stop,  # type: ignore[arg-type]
                           waiter=Waiter(sleep=lambda _s: None))
    follower.run()

    assert printed == ["one", "two", "three", "four", "five-no-newline"]
    assert kube.stream_queries[1]["sinceTime"] == "2026-11-27T10:00:01Z"
    assert "follow" not in kube.stream_queries[-1]               # the drain is a plain read


class FailingThenAnsweringKube(ScriptedKube):
    """The API server refuses connections twice, then answers."""

    def __init__(self, stop: threading.Event) -> None:
        super().__init__(lists=[{"metadata": {"resourceVersion": "5"}, "items": []}], streams=[], stop=stop)
        self.refusals = 2

    def request(self, method: str, path: str, **kw: Any) -> dict[str, Any]:
        if self.refusals:
            self.refusals -= 1
            raise Unreachable("API server unreachable: [Errno 111] Connection refused")
        return super().request(method, path, **kw)


def test_watch_says_once_when_the_api_server_stops_answering_and_when_it_answers_again() -> None:
    stop = threading.Event()
    seen: list[WatchEvent] = []
    watcher = Watcher(FailingThenAnsweringKube(stop), Collection("pods", "/api/v1/namespaces/ns/pods"),  # type: ignore[arg-type]
                      seen.append, stop=stop, waiter=Waiter(sleep=lambda _s: None))
    watcher.run()
    assert [e.type for e in seen] == ["UNREACHABLE", "REACHABLE", "SYNC"]
    assert seen[0].error is not None and "Connection refused" in seen[0].error.message
