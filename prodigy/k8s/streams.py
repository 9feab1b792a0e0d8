"""The open response of a reader thread (log follower, watcher), cut from another thread.

Both readers block in ``read1`` on a long-lived HTTP stream. On Ctrl+C the supervisor must
unblock them at once, so each keeps its current response here: ``shutdown()`` closes the
socket under the reader, and ``reading()`` translates network failures into our error tree
and always returns the connection to the pool.
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
            response.release_conn()

    def shutdown(self) -> None:
        """Unblock a read in progress (best effort: the socket may already be closed)."""
        with self._lock:
            response = self._response
        if response is not None:
            try:
                response.shutdown()
            except Exception:  # noqa: BLE001 - closing an already closed socket is fine
                pass
