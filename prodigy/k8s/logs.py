"""Following container logs: every line once, in order, across dropped streams.

The API server's log stream ends without an error when the kubelet's idle timeout fires,
when the log file rotates, or when a proxy cuts the connection. So a follower reconnects,
and reconnecting is where lines get lost or doubled: ``sinceTime`` is truncated to whole
seconds between the API server and the kubelet, so the resumed stream repeats the lines of
the boundary second. We therefore ask for ``timestamps=true``, remember the last timestamp
printed and the lines printed at exactly that timestamp, and drop what we have already shown
(``Deduper``). The timestamp prefix is stripped before printing, so a cluster run reads like
a local one.

Bytes are split on ``\\n`` by our own reader (``LineSplitter``): lines are decoded only when
complete (a UTF-8 character may straddle two chunks), and the unterminated last line is
flushed at end of stream instead of dropped.

The pure parts (``parse_line``, ``Deduper``, ``LineSplitter``) carry the logic and the unit
tests; ``LogFollower`` is the thin thread that drives them against the API.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, NamedTuple

from prodigy.k8s.clients import Kube
from prodigy.k8s.errors import BadRequest, KubeError, NotFound
from prodigy.k8s.retry import RetryPolicy, Waiter
from prodigy.k8s.streams import StreamSlot

READ_IDLE_TIMEOUT = 90.0   # a silent step is normal; after this we check the pod and reconnect
_CHUNK = 64 * 1024


class Timestamp(NamedTuple):
    """A kubelet log timestamp as (whole seconds since the epoch, nanoseconds): exact, ordered."""

    seconds: int
    nanos: int

    def rfc3339_second(self) -> str:
        """The ``sinceTime`` to resume from: this timestamp's second (the server truncates anyway)."""
        return datetime.fromtimestamp(self.seconds, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(text: str) -> Timestamp | None:
    """Parse RFC3339Nano as the kubelet writes it (``2026-11-27T10:00:01.123456789Z``; trailing
    zeros of the fraction are trimmed, and the fraction may be absent)."""
    main, dot, rest = text.partition(".")
    fraction, zone = "", ""
    if dot:
        digits_end = len(rest) - len(rest.lstrip("0123456789"))
        fraction, zone = rest[:digits_end], rest[digits_end:]
    else:
        for marker in ("Z", "+", "-"):
            idx = main.rfind(marker)
            if idx > 10:  # past the date's own '-' separators
                main, zone = main[:idx], main[idx:]
                break
    if not zone or len(main) != 19:  # "YYYY-MM-DDTHH:MM:SS" plus a zone, nothing else
        return None
    try:
        when = datetime.fromisoformat(main + ("+00:00" if zone in ("Z", "z") else zone))
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    nanos = int((fraction + "000000000")[:9]) if fraction else 0
    return Timestamp(int(when.timestamp()), nanos)


def parse_line(line: str) -> tuple[Timestamp | None, str]:
    """Split ``"<timestamp> <text>"``. A line without a parseable timestamp is kept whole."""
    stamp, space, text = line.partition(" ")
    ts = parse_timestamp(stamp) if space or stamp else None
    if ts is None:
        return None, line
    return ts, text


class Deduper:
    """Decides whether a (timestamp, text) line from a resumed stream is new.

    Lines arrive in timestamp order. Everything strictly before the last printed timestamp
    was printed already. Lines at exactly that timestamp may be repeats or genuinely new lines
    that share the nanosecond, so we count what we printed there and skip only that many.
    """

    def __init__(self) -> None:
        self.last: Timestamp | None = None
        self._at_last: Counter[str] = Counter()
        self._replay: Counter[str] = Counter()

    def start_after(self, ts: Timestamp, text: str | None = None) -> None:
        """Begin as if ``text`` (at ``ts``) had been printed: a client attaching to a running
        container shows what comes next, not the history (`LogCut`)."""
        self.last = ts
        self._at_last = Counter({text: 1}) if text is not None else Counter()
        self._replay = Counter()

    def begin_resume(self) -> None:
        """Called before reading a reconnected stream: its lines at ``last`` are replays."""
        self._replay = Counter(self._at_last)

    def accept(self, ts: Timestamp | None, text: str) -> bool:
        if ts is None:
            return True   # cannot place it; showing it twice beats losing it
        if self.last is not None:
            if ts < self.last:
                return False
            if ts == self.last:
                if self._replay[text] > 0:
                    self._replay[text] -= 1
                    return False
                self._at_last[text] += 1
                return True
        self.last = ts
        self._at_last = Counter({text: 1})
        self._replay = Counter()
        return True

    def since_time(self) -> str | None:
        return self.last.rfc3339_second() if self.last is not None else None


class LineSplitter:
    """Bytes in, complete lines out. ``flush`` returns the unterminated tail, if any."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, chunk: bytes) -> list[str]:
        self._buffer += chunk
        if b"\n" not in chunk:
            return []
        *complete, rest = bytes(self._buffer).split(b"\n")
        self._buffer = bytearray(rest)
        return [part.rstrip(b"\r").decode("utf-8", "replace") for part in complete]

    def flush(self) -> str | None:
        if not self._buffer:
            return None
        tail = bytes(self._buffer).decode("utf-8", "replace")
        self._buffer.clear()
        return tail


# --- the follower thread ----------------------------------------------------------------------

@dataclass(frozen=True)
class LogSource:
    namespace: str
    pod: str
    container: str
    label: str = ""        # "[pod/container] " when the run has more than one container


@dataclass(frozen=True)
class LogCut:
    """Where "from now" starts when a client attaches to a running pod: the last line
    ``container`` had printed (its kubelet timestamp and text). That container's output
    continues after that line; the pod's other containers show only lines from that moment on
    (an init container that finished earlier shows nothing). Timestamps are the node's, so the
    cut does not depend on the client's clock."""

    container: str
    at: Timestamp
    line: str

    def start_for(self, container: str) -> tuple[Timestamp, str | None]:
        return (self.at, self.line) if container == self.container else (self.at, None)


def container_state(pod: dict[str, Any], container: str) -> str:
    """``running``, ``terminated``, ``waiting`` or ``unknown`` for one (init) container."""
    status = pod.get("status") or {}
    for entry in (status.get("initContainerStatuses") or []) + (status.get("containerStatuses") or []):
        if entry.get("name") == container:
            state = entry.get("state") or {}
            for key in ("terminated", "running", "waiting"):
                if key in state:
                    return key
    return "unknown"


class LogFollower(threading.Thread):
    """Follows one container until it has terminated and its last line is printed."""

    def __init__(self, kube: Kube, source: LogSource, emit: Callable[[str], None], *,
                 stop: threading.Event, waiter: Waiter | None = None,
                 read_timeout: float = READ_IDLE_TIMEOUT,
                 on_error: Callable[[str], None] | None = None,
                 after: tuple[Timestamp, str | None] | None = None) -> None:
        super().__init__(name=f"logs:{source.pod}/{source.container}", daemon=True)
        self.kube = kube
        self.source = source
        self.emit = emit
        self.stop = stop
        self.waiter = waiter or Waiter.interruptible(stop)
        self.read_timeout = read_timeout
        self.on_error = on_error
        self.dedup = Deduper()
        if after is not None:
            self.dedup.start_after(*after)
        self.lines_printed = 0
        self._stream = StreamSlot()

    @property
    def _path(self) -> str:
        return f"/api/v1/namespaces/{self.source.namespace}/pods/{self.source.pod}/log"

    def run(self) -> None:
        backoff = RetryPolicy(base_delay=0.2, max_delay=3.0)
        failures = 0
        while not self.stop.is_set():
            try:
                self._read(follow=True)
                failures = 0
                state = self._state()
            except NotFound:
                return                       # the pod is gone (TTL, cancel): nothing left to read
            except BadRequest:
                state = "waiting"            # "container is waiting to start": not yet
            except KubeError as exc:
                failures += 1
                if failures == 5 and self.on_error is not None:
                    self.on_error(f"log stream of {self.source.pod}/{self.source.container}: {exc.message}")
                state = "retry"
            if self.stop.is_set():
                return
            if state == "terminated":
                self._drain()
                return
            if state == "gone":
                return
            # Dropped while running (idle cut, rotation, proxy), or not started yet: resume.
            self.waiter.sleep(backoff.backoff(min(failures + 1, 5), self.waiter.rand()))

    def shutdown(self) -> None:
        """Unblock a read in progress (called from another thread on cancel)."""
        self._stream.shutdown()

    # --- internals ---------------------------------------------------------------------

    def _read(self, *, follow: bool) -> None:
        query: list[tuple[str, str | int | bool]] = [
            ("container", self.source.container), ("timestamps", "true")]
        if follow:
            query.append(("follow", "true"))
        since = self.dedup.since_time()
        if since is not None:
            query.append(("sinceTime", since))
            self.dedup.begin_resume()
        response = self.kube.open_stream(self._path, query=query, read_timeout=self.read_timeout,
                                         action=f"reading logs of {self.source.pod}")
        splitter = LineSplitter()
        # A read timeout or reset mid-stream raises out of here; the unterminated tail is then
        # dropped on purpose: the resumed stream delivers that line again, whole.
        with self._stream.reading(response):
            while chunk := response.read1(_CHUNK):
                for line in splitter.feed(chunk):
                    self._print(line)
        # A following stream that ends cleanly may still be followed by more output (idle cut);
        # only the final, non-following read knows the tail is the container's last word.
        tail = splitter.flush()
        if tail is not None and not follow:
            self._print(tail)

    def _print(self, raw: str) -> None:
        ts, text = parse_line(raw)
        if self.dedup.accept(ts, text):
            self.lines_printed += 1
            self.emit(self.source.label + text)

    def _state(self) -> str:
        try:
            pod = self.kube.request("GET", f"/api/v1/namespaces/{self.source.namespace}/pods/{self.source.pod}")
        except NotFound:
            return "gone"
        return container_state(pod, self.source.container)

    def _drain(self) -> None:
        """One last non-following read from the resume point: whatever the follow stream
        did not deliver before the container exited is printed now, once."""
        try:
            self._read(follow=False)
        except KubeError:
            pass
