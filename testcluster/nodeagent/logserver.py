"""The kubelet's HTTPS endpoint the apiserver proxies ``pods/log`` to.

``GET /containerLogs/{namespace}/{pod}/{container}?follow=&previous=&timestamps=&
sinceSeconds=&sinceTime=&tailLines=&tail=&limitBytes=&stream=`` answers with chunked
plain text, one chunk per log record, so ``kubectl logs -f`` sees each line as soon as
the process writes it. Errors are plain text with the kubelet's status codes and words.
Client certificates are not checked (the apiserver runs without a kubelet CA).
"""

from __future__ import annotations

import logging
import select
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from testcluster.nodeagent.logquery import (
    LogQueryError,
    LogRenderer,
    container_id_for_logs,
    parse_log_query,
    tail,
)
from testcluster.nodeagent.logs import ContainerLog, follow_entries, read_entries

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PodLogs:
    """What the log endpoint needs to know about one pod, taken under the pod's lock."""

    containers: frozenset[str]
    status: Mapping[str, Any]
    logs: Mapping[str, ContainerLog]  # container ID -> its log


PodLookup = Callable[[str, str], PodLogs | None]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: LogServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("log server: " + format, *args)

    def _plain(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = [unquote(p) for p in url.path.split("/")]
        if url.path == "/healthz":
            self._plain(200, "ok")
            return
        if len(parts) != 5 or parts[1] != "containerLogs":
            self._plain(404, "404 page not found")
            return
        _, _, namespace, pod, container = parts
        try:
            self._serve_logs(namespace, pod, container, url.query)
        except LogQueryError as error:
            self._plain(error.status, error.message)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client went away (kubectl logs -f interrupted)

    def _serve_logs(self, namespace: str, pod: str, container: str, query: str) -> None:
        if not container:
            raise LogQueryError(400, '{"message": "Missing container name."}')
        options = parse_log_query(query, datetime.now(UTC))
        found = self.server.lookup(namespace, pod)
        if found is None:
            raise LogQueryError(404, f'pod "{pod}" does not exist')
        if container not in found.containers:
            raise LogQueryError(404, f'container "{container}" not found in pod "{pod}"')
        container_id = container_id_for_logs(pod, container, found.status, options.previous)
        instance = found.logs.get(container_id)
        if instance is None:
            raise LogQueryError(400, f'container "{container}" in pod "{pod}" is not available')
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        entries = list(read_entries(instance.path))
        chosen = tail(entries, options.tail_lines)
        renderer = LogRenderer(options)
        self._send(renderer, chosen)
        if options.follow and not renderer.exhausted:
            self._send(renderer, follow_entries(instance, len(entries), self._client_gone))
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _client_gone(self) -> bool:
        """While following a quiet container: did the reader hang up (or the agent stop)?"""
        if self.server.stopping.is_set():
            return True
        readable, _, _ = select.select([self.connection], [], [], 0)
        if not readable:
            return False
        try:
            data: bytes = self.connection.recv(1)
        except (OSError, ssl.SSLError):
            return True
        return data == b""  # nothing else is sent after a GET

    def _send(self, renderer: LogRenderer, entries: Iterable[Any]) -> None:
        for entry in entries:
            chunk = renderer.render(entry)
            if chunk:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                self.wfile.flush()
            if renderer.exhausted:
                return


class LogServer(ThreadingHTTPServer):
    """Threaded HTTPS server; the TLS handshake happens in the connection's thread."""

    daemon_threads = True

    def __init__(self, port: int, cert: Path, key: Path, lookup: PodLookup) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.lookup = lookup
        self.stopping = threading.Event()
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(str(cert), str(key))

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            wrapped = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as error:
            log.debug("TLS handshake failed from %s: %s", client_address, error)
            return
        try:
            super().finish_request(wrapped, client_address)
        finally:
            wrapped.close()  # the wrapper owns the descriptor now; shutdown_request sees a detached socket

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.2}, name="log-server", daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
