"""Framing a binary file as text lines, so it can travel through a container's log.

    prodigy-result/1 begin
    prodigy-result/1 data 0 <base64 of up to 6 KiB>
    prodigy-result/1 data 1 <base64>
    ...
    prodigy-result/1 end <size> <sha256> <lines>

Why this shape: container runtimes split log lines longer than 16 KiB, so data lines stay
short (8 KiB of base64). Sequence numbers catch a dropped or repeated line, the trailer's size
and sha256 catch everything else, and the checksum comes last so the writer streams in one pass.
Lines without the prefix are ignored: the results container may also print notes for humans.
`none <reason>` says there is deliberately nothing to collect (the agent died before exporting).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO

from prodigy.k8s.transport.manifest import TransportError

PREFIX = "prodigy-result/1"
RAW_BYTES_PER_LINE = 6 * 1024


def encode_frames(source: IO[bytes]) -> Iterator[str]:
    """Yield the lines (without newlines) that carry `source` from its current position to EOF."""
    yield f"{PREFIX} begin"
    digest = hashlib.sha256()
    size = 0
    seq = 0
    while block := source.read(RAW_BYTES_PER_LINE):
        digest.update(block)
        size += len(block)
        yield f"{PREFIX} data {seq} {base64.b64encode(block).decode('ascii')}"
        seq += 1
    yield f"{PREFIX} end {size} {digest.hexdigest()} {seq}"


def none_frame(reason: str) -> str:
    return f"{PREFIX} none {' '.join(reason.split())}"


@dataclass(frozen=True)
class DecodeOutcome:
    """`size` bytes were written and verified, or `missing_reason` says why there is no result."""

    size: int = 0
    sha256: str = ""
    missing_reason: str | None = None

    @property
    def found(self) -> bool:
        return self.missing_reason is None


def decode_frames(lines: Iterable[str], sink: IO[bytes]) -> DecodeOutcome:
    """Write the framed payload found in `lines` to `sink`; raise TransportError if it is damaged.

    `sink` must be seekable: a second `begin` (a re-emitted result) rewinds it. Returns an outcome
    with `missing_reason` set when the log holds a `none` frame or no frame at all.
    """
    state = _Decoder(sink)
    for line in lines:
        state.feed(line.rstrip("\r\n"))
    return state.finish()


def _is_number(text: str) -> bool:
    # str.isdigit() accepts "²" and other digits int() rejects; the sender writes ASCII only.
    return text.isascii() and text.isdigit()


class _Decoder:
    def __init__(self, sink: IO[bytes]) -> None:
        self.sink = sink
        self.started = False
        self.outcome: DecodeOutcome | None = None
        self.missing: str | None = None
        self._reset()

    def _reset(self) -> None:
        self.digest = hashlib.sha256()
        self.size = 0
        self.seq = 0
        self.sink.seek(0)
        self.sink.truncate()

    def feed(self, line: str) -> None:
        if not line.startswith(PREFIX + " "):
            return
        kind, _, rest = line[len(PREFIX) + 1:].partition(" ")
        if kind == "begin":
            self._reset()
            self.started, self.outcome = True, None
        elif kind == "none":
            self.missing = rest or "the agent exported no result"
        elif kind == "data" and self.started and self.outcome is None:
            self._data(rest)
        elif kind == "end" and self.started and self.outcome is None:
            self._end(rest)

    def _data(self, rest: str) -> None:
        seq_text, _, payload = rest.partition(" ")
        if not _is_number(seq_text) or int(seq_text) != self.seq:
            raise TransportError(f"result stream is damaged: expected line {self.seq}, got {seq_text!r}",
                                 hint="collect again with `prodigy cluster collect <session>` while the Job exists")
        try:
            block = base64.b64decode(payload, validate=True)
        except ValueError as exc:   # binascii.Error, or text that is not ASCII at all
            raise TransportError(f"result stream is damaged at line {self.seq}: {exc}") from exc
        self.digest.update(block)
        self.size += len(block)
        self.sink.write(block)
        self.seq += 1

    def _end(self, rest: str) -> None:
        fields = rest.split()
        if len(fields) != 3 or not _is_number(fields[0]) or not _is_number(fields[2]):
            raise TransportError(f"result stream has a malformed trailer: {rest!r}")
        size, sha, count = int(fields[0]), fields[1], int(fields[2])
        if count != self.seq or size != self.size or sha != self.digest.hexdigest():
            raise TransportError(
                f"result checksum mismatch: received {self.size} bytes in {self.seq} lines "
                f"(sha256 {self.digest.hexdigest()[:12]}), sender wrote {size} bytes in {count} lines "
                f"(sha256 {sha[:12]})",
                hint="collect again with `prodigy cluster collect <session>` while the Job exists",
            )
        self.sink.flush()
        self.outcome = DecodeOutcome(size=size, sha256=sha)

    def finish(self) -> DecodeOutcome:
        if self.outcome is not None:
            return self.outcome
        if self.started:
            raise TransportError(
                f"result stream ended early after {self.size} bytes (no trailer): the log was cut short",
                hint="collect again with `prodigy cluster collect <session>` while the Job exists",
            )
        return DecodeOutcome(missing_reason=self.missing or "the results container printed no result")
