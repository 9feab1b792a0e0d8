"""List-then-watch of one collection (the Job, its pods), resumed, never polled.

The loop kubectl and client-go informers use:

1. LIST to get the current objects and the collection's resourceVersion;
2. WATCH from that resourceVersion with a server-side ``timeoutSeconds`` (the server ends
   the stream cleanly) and a client read timeout a little longer (a half-open TCP connection
   cannot park us forever), with bookmarks so the resourceVersion stays fresh;
3. when the stream ends, WATCH again from the last resourceVersion seen;
4. on 410 Gone ("too old resource version"), go back to 1 — and report the fresh list as a
   ``SYNC``, so the consumer replaces its state instead of missing deletions.

Transient errors (connection lost, 429, 5xx) back off and resume; a permanent error
(403, 404) is reported once to the consumer and ends the watch. The consumer also learns when
the API server stops answering (``UNREACHABLE``, with the error, at the first failure of a
streak) and when it answers again (``REACHABLE``), so it can say so while the watch retries.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from prodigy.k8s.clients import Kube
from prodigy.k8s.errors import Gone, KubeError
from prodigy.k8s.logs import LineSplitter
from prodigy.k8s.retry import RetryPolicy, Waiter, is_retryable
from prodigy.k8s.streams import StreamSlot

WATCH_TIMEOUT_SECONDS = 240   # server-side; the API server randomises its own cap (1800 s) anyway
_READ_SLACK = 30.0            # client read timeout = server timeout + slack


@dataclass(frozen=True)
class WatchEvent:
    """What a watch reports: ADDED/MODIFIED/DELETED of one object, SYNC of a full list,
    ERROR with the KubeError that ended the watch, UNREACHABLE (with the error) / REACHABLE
    when the API server stops / starts answering again."""

    kind: str                  # the collection's name, e.g. "job", "pods"
    type: str
    obj: dict[str, Any] | None = None
    items: tuple[dict[str, Any], ...] = ()
    error: KubeError | None = None


@dataclass(frozen=True)
class Collection:
    kind: str
    path: str                  # e.g. /apis/batch/v1/namespaces/ns/jobs
    field_selector: str = ""
    label_selector: str = ""

    def query(self) -> list[tuple[str, str | int | bool]]:
        query: list[tuple[str, str | int | bool]] = []
        if self.field_selector:
            query.append(("fieldSelector", self.field_selector))
        if self.label_selector:
            query.append(("labelSelector", self.label_selector))
        return query


def job_collection(namespace: str, job: str) -> Collection:
    return Collection("job", f"/apis/batch/v1/namespaces/{namespace}/jobs", field_selector=f"metadata.name={job}")


def event_collection(namespace: str, involved_uid: str) -> Collection:
    """Events about one object (the Job: its FailedCreate events say why it has no pod)."""
    return Collection("events", f"/api/v1/namespaces/{namespace}/events",
                      field_selector=f"involvedObject.uid={involved_uid}")


def node_collection(name: str) -> Collection:
    return Collection("node", "/api/v1/nodes", field_selector=f"metadata.name={name}")


def pod_collection(namespace: str, job_uid: str) -> Collection:
    # controller-uid, not job-name: a Job deleted and re-created under the same name is not ours.
    return Collection("pods", f"/api/v1/namespaces/{namespace}/pods",
                      label_selector=f"batch.kubernetes.io/controller-uid={job_uid}")


class Watcher(threading.Thread):
    """Feeds WatchEvents of one collection to ``sink`` until ``stop`` is set."""

    def __init__(self, kube: Kube, collection: Collection, sink: Callable[[WatchEvent], None], *,
                 stop: threading.Event, waiter: Waiter | None = None,
                 timeout_seconds: int = WATCH_TIMEOUT_SECONDS) -> None:
        super().__init__(name=f"watch:{collection.kind}", daemon=True)
        self.kube = kube
        self.collection = collection
        self.sink = sink
        self.stop = stop
        self.waiter = waiter or Waiter.interruptible(stop)
        self.timeout_seconds = timeout_seconds
        self.resource_version: str | None = None
        self._stream = StreamSlot()
        self._unreachable = False

    def run(self) -> None:
        backoff = RetryPolicy(base_delay=0.3, max_delay=5.0)
        failures = 0
        while not self.stop.is_set():
            try:
                if self.resource_version is None:
                    self._list()
                self._watch()
                failures = 0
            except Gone:
                self.resource_version = None          # too old: start over with a fresh LIST
            except KubeError as exc:
                if self.stop.is_set():
                    return
                if not is_retryable(exc):
                    self.sink(WatchEvent(self.collection.kind, "ERROR", error=exc))
                    return
                if not self._unreachable:
                    self._unreachable = True
                    self.sink(WatchEvent(self.collection.kind, "UNREACHABLE", error=exc))
                failures += 1
                self.waiter.sleep(backoff.backoff(min(failures, 6), self.waiter.rand()))

    def _answered(self) -> None:
        if self._unreachable:
            self._unreachable = False
            self.sink(WatchEvent(self.collection.kind, "REACHABLE"))

    def shutdown(self) -> None:
        """Unblock a read in progress (called from another thread on cancel)."""
        self._stream.shutdown()

    # --- internals ---------------------------------------------------------------------

    def _list(self) -> None:
        listing = self.kube.request("GET", self.collection.path, query=self.collection.query(),
                                    action=f"listing {self.collection.kind}")
        self._answered()
        self.resource_version = str((listing.get("metadata") or {}).get("resourceVersion") or "")
        self.sink(WatchEvent(self.collection.kind, "SYNC", items=tuple(listing.get("items") or ())))

    def _watch(self) -> None:
        query = self.collection.query() + [
            ("watch", "true"), ("allowWatchBookmarks", "true"),
            ("resourceVersion", self.resource_version or ""), ("timeoutSeconds", self.timeout_seconds)]
        response = self.kube.open_stream(self.collection.path, query=query,
                                         read_timeout=self.timeout_seconds + _READ_SLACK,
                                         action=f"watching {self.collection.kind}")
        self._answered()
        splitter = LineSplitter()
        with self._stream.reading(response):
            while not self.stop.is_set():
                chunk = response.read1(64 * 1024)
                if not chunk:
                    return                            # server-side timeout: resume from our RV
                for line in splitter.feed(chunk):
                    if line.strip():
                        self._handle(json.loads(line))

    def _handle(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type") or "")
        obj = event.get("object") or {}
        if kind == "ERROR":
            from prodigy.k8s.errors import error_from_response

            raise error_from_response(int(obj.get("code") or 500), json.dumps(obj),
                                      action=f"watching {self.collection.kind}")
        version = (obj.get("metadata") or {}).get("resourceVersion")
        if version:
            self.resource_version = str(version)
        if kind != "BOOKMARK":
            self.sink(WatchEvent(self.collection.kind, kind, obj=obj))
