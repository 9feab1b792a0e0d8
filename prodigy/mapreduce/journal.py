"""What a MapReduce session has done so far, on disk, so `prodigy resume` can go on from there.

Three files (see `layout`): ``job.json`` (small; rewritten when the phase changes), ``items.json``
(the selected items; written once) and ``journal.jsonl``, an append-only log with one line per
agent event. Appending costs the same for item 1 and item 1,000, and a line that was cut short
by a crash is ignored on reading. `replay` folds the events into each item's current state.

Events: ``started`` (attempt, base), ``step`` (next_step, variables), ``succeeded`` (merged,
commits, output), ``failed`` (error, step, in_dlq), ``interrupted`` (next_step), ``reset`` (a
`dlq retry` makes the item pending again).
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

__all__ = ["ItemState", "ItemStatus", "JobHeader", "JobStore", "Phase", "replay"]

JOB_VERSION = 1


class Phase(StrEnum):
    SETUP = "setup"
    MAP = "map"
    REDUCE = "reduce"
    DONE = "done"


class ItemStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class JobHeader:
    session_id: str
    phase: Phase = Phase.SETUP
    map_base_sha: str | None = None
    total: int = 0
    selection: tuple[str, ...] = ()            # how the items were chosen, for the resume message
    setup_variables: Mapping[str, Any] = field(default_factory=dict)
    # A `dlq retry` session: the session it retries items of, and each item's number there.
    retry_of: str | None = None
    original_indexes: tuple[int, ...] | None = None
    version: int = JOB_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "session_id": self.session_id, "phase": self.phase.value,
                "map_base_sha": self.map_base_sha, "total": self.total, "selection": list(self.selection),
                "setup_variables": dict(self.setup_variables), "retry_of": self.retry_of,
                "original_indexes": list(self.original_indexes) if self.original_indexes is not None else None}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobHeader:
        return cls(session_id=data["session_id"], phase=Phase(data.get("phase", "setup")),
                   map_base_sha=data.get("map_base_sha"), total=int(data.get("total", 0)),
                   selection=tuple(data.get("selection") or ()), setup_variables=data.get("setup_variables") or {},
                   retry_of=data.get("retry_of"),
                   original_indexes=tuple(data["original_indexes"]) if data.get("original_indexes") is not None
                   else None, version=int(data.get("version", JOB_VERSION)))


@dataclass(frozen=True)
class ItemState:
    index: int
    status: ItemStatus = ItemStatus.PENDING
    attempt: int = 0
    base_sha: str | None = None
    next_step: int = 0
    variables: Mapping[str, Any] = field(default_factory=dict)
    merged: bool = False
    commits: tuple[str, ...] = ()
    output: str = ""
    error: str | None = None
    failed_step: str | None = None
    duration: float = 0.0
    in_dlq: bool = False

    @property
    def finished(self) -> bool:
        return self.status in (ItemStatus.SUCCEEDED, ItemStatus.FAILED)


def replay(events: Iterable[Mapping[str, Any]], total: int) -> list[ItemState]:
    """Each item's state after ``events`` (pure). Events for unknown indexes are ignored."""
    states = [ItemState(index) for index in range(total)]
    for event in events:
        index = event.get("index")
        if not isinstance(index, int) or not 0 <= index < total:
            continue
        state = states[index]
        kind = event.get("event")
        if kind == "started":
            state = replace(state, status=ItemStatus.RUNNING, attempt=int(event.get("attempt", state.attempt + 1)),
                            base_sha=event.get("base"), error=None, failed_step=None,
                            next_step=int(event.get("next_step", 0)))
        elif kind == "step":
            state = replace(state, next_step=int(event["next_step"]), variables=event.get("variables") or {})
        elif kind == "succeeded":
            state = replace(state, status=ItemStatus.SUCCEEDED, merged=bool(event.get("merged")),
                            commits=tuple(event.get("commits") or ()), output=str(event.get("output") or ""),
                            duration=float(event.get("duration") or 0.0), error=None, failed_step=None,
                            in_dlq=False)
        elif kind == "failed":
            state = replace(state, status=ItemStatus.FAILED, error=event.get("error"),
                            failed_step=event.get("step"), duration=float(event.get("duration") or 0.0),
                            output=str(event.get("output") or ""), in_dlq=bool(event.get("in_dlq")))
        elif kind == "interrupted":
            state = replace(state, status=ItemStatus.INTERRUPTED, next_step=int(event.get("next_step", 0)))
        elif kind == "reset":
            state = ItemState(index, attempt=state.attempt)
        states[index] = state
    return states


class JobStore:
    """The three files of one session's MapReduce state; `record` may be called from any thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()

    @property
    def header_file(self) -> Path:
        return self.directory / "job.json"

    @property
    def items_file(self) -> Path:
        return self.directory / "items.json"

    @property
    def journal_file(self) -> Path:
        return self.directory / "journal.jsonl"

    def exists(self) -> bool:
        return self.header_file.is_file()

    def load_header(self) -> JobHeader | None:
        try:
            return JobHeader.from_json(json.loads(self.header_file.read_text()))
        except FileNotFoundError:
            return None

    def save_header(self, header: JobHeader) -> JobHeader:
        self._write_atomic(self.header_file, header.to_json())
        return header

    def save_items(self, items: list[Any]) -> None:
        self._write_atomic(self.items_file, items)

    def load_items(self) -> list[Any]:
        try:
            data = json.loads(self.items_file.read_text())
        except FileNotFoundError:
            return []
        return list(data) if isinstance(data, list) else []

    def record(self, event: str, index: int, **fields: Any) -> None:
        line = json.dumps({"event": event, "index": index, "at": round(time.time(), 3), **fields}, default=str)
        with self._lock:
            self.directory.mkdir(parents=True, exist_ok=True)
            with self.journal_file.open("a", encoding="utf-8") as journal:
                journal.write(line + "\n")

    def events(self) -> list[dict[str, Any]]:
        try:
            text = self.journal_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        events = []
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue   # a line cut short by a crash
            if isinstance(event, dict):
                events.append(event)
        return events

    def item_states(self, total: int) -> list[ItemState]:
        return replay(self.events(), total)

    def _write_atomic(self, target: Path, data: Any) -> None:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, default=str)
        os.replace(tmp, target)
