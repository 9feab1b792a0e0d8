"""The open response of a reader thread (log follower, watcher), cut from another thread.

Both readers block in ``read1`` on a long-lived HTTP stream. On Ctrl+C the supervisor must
unblock them at once, so each keeps its current response here: ``shutdown()`` closes the
socket under the reader, and ``reading()`` translates network failures into our error tree
and always gives the connection back.

A connection goes back to the pool for reuse only when its response was read to the end. A
watch left early (its reader told to stop) is still streaming on the server's side: reused,
the next request on that connection would wait behind the watch until the server ends it (up
to its timeout) or read the watch's bytes as its own answer. That connection is closed instead.
A MapReduce session follows several Jobs one after another on one client, so this matters.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prodigy.k8s.errors import translate_transport_error


class StreamSlot:
    """Holds at most one open streaming response; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._response: Any = None

    @contextmanager
    def reading(self, response: Any) -> Iterator[Any]:
        """Hold ``response`` while the caller reads it; urllib3/socket/TLS errors become KubeErrors."""
        with self._lock:
            self._response = response
        try:
            yield response
        except Exception as exc:
            translated = translate_transport_error(exc)
            if translated is None:
                raise
            raise translated from exc
        finally:
            with self._lock:
                self._response = None
            give_back(response)

    def shutdown(self) -> None:
        """Unblock a read in progress (best effort: the socket may already be closed)."""
        with self._lock:
            response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # noqa: BLE001 - closing an already closed socket is fine
                pass


def read_to_the_end(response: Any) -> bool:
    """Did the body end (http.client closes its file at the last chunk)? Unknown shapes: no."""
    body = getattr(response, "_fp", None)
    if body is None:
        return True
    isclosed = getattr(body, "isclosed", None)
    return bool(isclosed()) if callable(isclosed) else False


def give_back(response: Any) -> None:
    """Return a streamed response's connection: to the pool if its body ended, else closed."""
    if not read_to_the_end(response):
        response.close()
    response.release_conn()
