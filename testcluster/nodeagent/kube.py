"""A thin JSON layer over the official client: plain dicts in and out.

The agent reads and writes raw API objects (the status builders produce dicts, and the
fields the kubelet touches are easier to follow as JSON than as generated models), so it
uses the client's configuration, authentication and connection pool, not its models.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

T = TypeVar("T")

STRATEGIC = "application/strategic-merge-patch+json"
MERGE = "application/merge-patch+json"


class Kube:
    def __init__(self, kubeconfig: Path) -> None:
        configuration = client.Configuration()
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(kubeconfig), client_configuration=configuration
        )
        # Pod workers, container runners, events, heartbeat and the watch call concurrently.
        configuration.connection_pool_maxsize = 32
        self.host = configuration.host
        self.api = client.ApiClient(configuration)
        self.api.user_agent = "prodigy-testcluster-nodeagent/v1.37.2"

    @property
    def server_address(self) -> tuple[str, int]:
        url = urlsplit(self.host)
        return url.hostname or "127.0.0.1", url.port or 443

    def _call(
        self,
        method: str,
        path: str,
        query: Mapping[str, Any] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        timeout: Any = 30,
    ) -> Any:
        params = [(k, str(v).lower() if isinstance(v, bool) else v) for k, v in (query or {}).items() if v is not None]
        request = self.api.param_serialize(
            method=method,
            resource_path=path,
            query_params=params or None,
            header_params={"Content-Type": content_type, "Accept": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api.call_api(*request, _request_timeout=timeout)
        return response

    def request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = self._call(method, path, **kwargs)
        data = response.read()
        if not 200 <= response.status <= 299:
            error = ApiException(status=response.status, reason=response.reason)
            error.body = data
            raise error
        return json.loads(data) if data else {}

    def get(self, path: str, **query: Any) -> dict[str, Any] | None:
        try:
            return self.request("GET", path, query=query)
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def watch(self, path: str, **query: Any) -> Iterator[dict[str, Any]]:
        """Watch events as dicts until the server closes the stream (``timeoutSeconds``)."""
        query = {**query, "watch": True}
        response = self._call("GET", path, query=query, timeout=(10, float(query.get("timeoutSeconds", 300)) + 30))
        if not 200 <= response.status <= 299:
            data = response.read()
            raise ApiException(status=response.status, reason=f"{response.reason}: {data[:200]!r}")
        raw = response.response
        buffer = b""
        try:
            for chunk in raw.stream(amt=None, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            # Never hand a half-read stream back to the pool: close it, then release.
            raw.close()
            raw.release_conn()


def transient(error: BaseException) -> bool:
    """An apiserver restarting or draining: connection errors, timeouts, 429 and 5xx. Worth
    retrying, unlike an answer about the request itself (404, 409, 422...)."""
    if isinstance(error, ApiException):
        return error.status is None or error.status == 429 or error.status >= 500
    return isinstance(error, (OSError, urllib3.exceptions.HTTPError))


def retry_transient(call: Callable[[], T], *, stop: threading.Event, what: str,
                    first_delay: float = 0.2, max_delay: float = 5.0) -> T | None:
    """``call()`` until it succeeds or fails for good (re-raised); None once ``stop`` is set.

    The kubelet never gives up on reporting a pod: a dropped status update would leave the
    pod Running in the API forever, and everything that waits on it (the Job, a client) too.
    """
    delay = first_delay
    while not stop.is_set():
        try:
            return call()
        except Exception as error:
            if not transient(error):
                raise
            log.warning("%s failed (%s); retrying in %.1fs", what, error, delay)
        stop.wait(delay)
        delay = min(delay * 2, max_delay)
    return None


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Posts core/v1 Events like the kubelet, from a background thread (best effort)."""

    def __init__(self, kube: Kube, node: str) -> None:
        self.kube = kube
        self.node = node
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="events", daemon=True)
        self._thread.start()

    def emit(self, pod: Mapping[str, Any], kind: str, reason: str, message: str, field_path: str = "") -> None:
        meta = pod["metadata"]
        stamp = now_rfc3339()
        involved = {
            "apiVersion": "v1",
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
            "resourceVersion": meta.get("resourceVersion"),
        }
        if field_path:
            involved["fieldPath"] = field_path
        self._queue.put(
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": f"{meta['name']}.{time.time_ns():x}", "namespace": meta["namespace"]},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "type": kind,
                "source": {"component": "kubelet", "host": self.node},
                "reportingComponent": "kubelet",
                "reportingInstance": self.node,
                "firstTimestamp": stamp,
                "lastTimestamp": stamp,
                "count": 1,
            }
        )

    def _run(self) -> None:
        while (event := self._queue.get()) is not None:
            namespace = event["metadata"]["namespace"]
            try:
                self.kube.request("POST", f"/api/v1/namespaces/{namespace}/events", body=event)
            except Exception as error:  # events are best effort, like the kubelet's
                log.debug("event %s dropped: %s", event["reason"], error)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)
