"""Pure parts of the kubelet's container log endpoint.

* the CRI log line format the agent stores (``<RFC3339Nano> stdout|stderr F|P <text>``),
* parsing the ``/containerLogs`` query the apiserver forwards (``PodLogOptions``),
* choosing which container instance's log to serve, with the kubelet's error texts
  (``validateContainerLogStatus`` in pkg/kubelet/kubelet_pods.go),
* rendering stored lines for a query (``ReadLogs`` in k8s.io/cri-client/pkg/logs).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from urllib.parse import parse_qs

STREAMS = ("stdout", "stderr")
_RFC3339 = re.compile(r"^(\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2})(?:\.(\d+))?([Zz]|[+-]\d{2}:\d{2})$")


class LogQueryError(Exception):
    """A request the kubelet refuses; ``status`` is the HTTP code it answers with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class LogEntry(NamedTuple):
    timestamp: datetime
    nanos: int  # nanoseconds within the second; datetime keeps only microseconds
    stream: str
    partial: bool
    text: bytes  # content including its newline for full lines


def format_timestamp(ns_since_epoch: int) -> str:
    seconds, nanos = divmod(ns_since_epoch, 1_000_000_000)
    whole = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{whole}.{nanos:09d}Z"


def format_cri_line(ns_since_epoch: int, stream: str, text: bytes, partial: bool) -> bytes:
    """One stored line. ``text`` has no trailing newline; the file line always ends in one."""
    tag = b"P" if partial else b"F"
    return b"%s %s %s %s\n" % (format_timestamp(ns_since_epoch).encode(), stream.encode(), tag, text)


def parse_timestamp(text: str) -> tuple[datetime, int]:
    """RFC 3339 with up to nine fractional digits -> (datetime in UTC, nanoseconds)."""
    match = _RFC3339.match(text.strip())
    if not match:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    whole, fraction, zone = match.groups()
    nanos = int((fraction or "").ljust(9, "0")[:9])
    zone = "+00:00" if zone in ("Z", "z") else zone
    moment = datetime.fromisoformat(whole + zone).astimezone(UTC)
    return moment.replace(microsecond=nanos // 1000), nanos


def parse_cri_line(line: bytes) -> LogEntry | None:
    try:
        stamp, stream, tag, text = line.split(b" ", 3)
    except ValueError:
        return None
    if stream.decode() not in STREAMS:
        return None
    partial = tag.split(b":")[0] == b"P"
    if partial and text.endswith(b"\n"):
        text = text[:-1]
    moment, nanos = parse_timestamp(stamp.decode())
    return LogEntry(moment, nanos, stream.decode(), partial, text)


@dataclass(frozen=True)
class LogOptions:
    follow: bool = False
    previous: bool = False
    timestamps: bool = False
    since: datetime | None = None
    tail_lines: int | None = None
    limit_bytes: int | None = None
    streams: tuple[str, ...] = STREAMS


def _one(query: Mapping[str, list[str]], key: str) -> str | None:
    values = query.get(key)
    return values[0] if values else None


def _bool(value: str | None) -> bool:
    if value is None or value == "":
        return False
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise LogQueryError(400, '{"message": "Unable to decode query."}')


def _int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise LogQueryError(400, '{"message": "Unable to decode query."}') from None


def parse_log_query(raw_query: str, now: datetime) -> LogOptions:
    """PodLogOptions from the query string, with the kubelet's legacy ``tail`` handling."""
    query = parse_qs(raw_query, keep_blank_values=True)
    tail = _one(query, "tail")
    if tail:
        query["tailLines"] = [tail]
        if tail == "all":
            del query["tailLines"]
    tail_lines = _int(_one(query, "tailLines"))
    limit_bytes = _int(_one(query, "limitBytes"))
    since_seconds = _int(_one(query, "sinceSeconds"))
    since_time_text = _one(query, "sinceTime")
    try:
        since_time = parse_timestamp(since_time_text)[0] if since_time_text else None
    except ValueError:
        raise LogQueryError(400, '{"message": "Unable to decode query."}') from None
    invalid = (
        (tail_lines is not None and tail_lines < 0)
        or (limit_bytes is not None and limit_bytes < 1)
        or (since_seconds is not None and since_time is not None)
        or (since_seconds is not None and since_seconds < 1)
    )
    stream = _one(query, "stream") or "All"
    if stream not in ("All", "Stdout", "Stderr") or (stream != "All" and tail_lines is not None):
        invalid = True
    if invalid:
        raise LogQueryError(422, '{"message": "Invalid request."}')
    candidates = [t for t in (since_time, now - timedelta(seconds=since_seconds or 0) if since_seconds else None) if t]
    return LogOptions(
        follow=_bool(_one(query, "follow")),
        previous=_bool(_one(query, "previous")),
        timestamps=_bool(_one(query, "timestamps")),
        since=max(candidates) if candidates else None,
        tail_lines=tail_lines,
        limit_bytes=limit_bytes,
        streams=STREAMS if stream == "All" else (stream.lower(),),
    )


def _find(statuses: Iterable[Mapping[str, Any]], name: str) -> Mapping[str, Any] | None:
    return next((s for s in statuses if s.get("name") == name), None)


def container_id_for_logs(
    pod_name: str, container: str, status: Mapping[str, Any], previous: bool
) -> str:
    """The instance whose log is served, or LogQueryError(400) with the kubelet's text."""
    found = _find(status.get("containerStatuses") or (), container) or _find(
        status.get("initContainerStatuses") or (), container
    )
    where = f"container {container!r} in pod {pod_name!r}".replace("'", '"')
    if found is None:
        raise LogQueryError(400, f"{where} is not available")
    state = found.get("state") or {}
    last = (found.get("lastState") or {}).get("terminated") or {}
    if previous:
        if not last.get("containerID"):
            raise LogQueryError(400, f"previous terminated {where} not found")
        return str(last["containerID"])
    if "running" in state:
        return str(found.get("containerID", ""))
    if "terminated" in state:
        cid = state["terminated"].get("containerID") or last.get("containerID")
        if not cid:
            raise LogQueryError(400, f"{where} is terminated")
        return str(cid)
    if last:
        if not last.get("containerID"):
            raise LogQueryError(400, f"{where} is terminated")
        return str(last["containerID"])
    if "waiting" in state:
        reason = state["waiting"].get("reason", "")
        detail = {
            "ErrImagePull": "image can't be pulled",
            "ImagePullBackOff": "trying and failing to pull image",
        }.get(reason, reason)
        raise LogQueryError(400, f"{where} is waiting to start: {detail}")
    raise LogQueryError(400, f"{where} is waiting to start - no logs yet")


class LogRenderer:
    """Turns stored entries into response bytes for one request (tail is applied by the caller)."""

    def __init__(self, options: LogOptions) -> None:
        self.options = options
        self.remaining = options.limit_bytes
        self.at_line_start = True

    @property
    def exhausted(self) -> bool:
        return self.remaining is not None and self.remaining <= 0

    def render(self, entry: LogEntry) -> bytes:
        opts = self.options
        if opts.since is not None and entry.timestamp < opts.since:
            return b""
        text = entry.text
        if opts.timestamps and self.at_line_start:
            stamp = entry.timestamp.strftime("%Y-%m-%dT%H:%M:%S") + f".{entry.nanos:09d}Z "
            text = stamp.encode() + text
        if entry.stream not in opts.streams:
            return b""
        if self.remaining is not None:
            text = text[: self.remaining]
            self.remaining -= len(text)
        self.at_line_start = not entry.partial
        return text


def tail(entries: Sequence[LogEntry], lines: int | None) -> Sequence[LogEntry]:
    if lines is None:
        return entries
    return entries[max(0, len(entries) - lines) :] if lines else []


def render_all(entries: Iterable[LogEntry], options: LogOptions) -> Iterator[bytes]:
    renderer = LogRenderer(options)
    for entry in entries:
        if renderer.exhausted:
            return
        chunk = renderer.render(entry)
        if chunk:
            yield chunk
