"""Container log files in the CRI format, written line by line as the process prints.

One file per container instance (``<pod dir>/logs/<container>/<restart>.log``), so the
previous instance stays readable for ``previous=true``. Two pump threads read the
child's stdout and stderr; every line is written and flushed at once, long lines are
split into 16 KiB partial (``P``) records like containerd does, and a last line without
a newline is kept as a partial record so the reader reproduces the output exactly.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from testcluster.nodeagent.logquery import LogEntry, format_cri_line, parse_cri_line

MAX_LINE = 16 * 1024


class ContainerLog:
    """The log of one container instance; knows when the writer is done."""

    def __init__(self, path: Path, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = path.open("ab")
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._open_streams = 0
        self._closed = False
        self._clock_ns = clock_ns

    @property
    def closed(self) -> bool:
        return self._closed

    def write(self, stream: str, text: bytes, partial: bool) -> None:
        with self._lock:
            self._file.write(format_cri_line(self._clock_ns(), stream, text, partial))
            self._file.flush()
            self._changed.notify_all()

    def pump(self, stream: str, pipe: BinaryIO) -> threading.Thread:
        """Copy ``pipe`` into the log in a thread until EOF."""
        with self._lock:
            self._open_streams += 1
        thread = threading.Thread(target=self._pump, args=(stream, pipe), name=f"log-{stream}", daemon=True)
        thread.start()
        return thread

    def _pump(self, stream: str, pipe: BinaryIO) -> None:
        try:
            while chunk := pipe.readline(MAX_LINE):
                if chunk.endswith(b"\n"):
                    self.write(stream, chunk[:-1], partial=False)
                else:
                    self.write(stream, chunk, partial=True)
        except (OSError, ValueError):
            pass
        finally:
            pipe.close()
            with self._lock:
                self._open_streams -= 1
                if self._open_streams == 0:
                    self._closed = True
                    self._file.close()
                self._changed.notify_all()

    def wait_closed(self, timeout: float) -> bool:
        """Wait until both pipes reached EOF (the output is complete)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._closed, timeout)

    def wait_for_change(self, timeout: float) -> None:
        with self._changed:
            if not self._closed:
                self._changed.wait(timeout)

    def tail_text(self, lines: int) -> list[str]:
        """The last ``lines`` lines of output, for FallbackToLogsOnError."""
        entries = list(read_entries(self.path))
        text = b"".join(e.text for e in entries)
        return [line.decode(errors="replace") for line in text.splitlines(keepends=True)[-lines:]]


def read_entries(path: Path) -> Iterator[LogEntry]:
    if not path.exists():
        return
    with path.open("rb") as handle:
        for line in handle:
            entry = parse_cri_line(line.rstrip(b"\n"))
            if entry is not None:
                yield _with_newline(entry)


def _with_newline(entry: LogEntry) -> LogEntry:
    """Full records carry their newline in the served text, partial ones do not."""
    return entry if entry.partial else entry._replace(text=entry.text + b"\n")


def follow_entries(log: ContainerLog, start: int, stop: Callable[[], bool]) -> Iterator[LogEntry]:
    """Entries after the first ``start`` records, waiting for more while the writer is open.

    ``stop`` is asked between waits: the reader gave up or the agent is stopping.
    """
    with log.path.open("rb") as handle:
        index = 0
        pending = b""
        while not stop():
            line = handle.readline()
            if line.endswith(b"\n"):
                line, pending = pending + line, b""
                index += 1
                if index > start:
                    entry = parse_cri_line(line.rstrip(b"\n"))
                    if entry is not None:
                        yield _with_newline(entry)
                continue
            pending += line
            if log.closed:
                # One last read: the writer may have finished between our read and the check.
                rest = handle.read()
                if not rest:
                    return
                pending += rest
                for tail in pending.splitlines():
                    index += 1
                    if index > start and (entry := parse_cri_line(tail)) is not None:
                        yield _with_newline(entry)
                return
            log.wait_for_change(0.5)
