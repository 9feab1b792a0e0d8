"""A JSON-lines event log per session: ``$PRODIGY_HOME/events/<session-id>.jsonl``.

One object per line: ``{"id", "timestamp", "session_id", "event_type", ...fields}``. The log is
append-only and best-effort: a full disk must not fail a workflow, so write errors are ignored.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any


class EventLog:
    def __init__(self, path: Path | None, session_id: str) -> None:
        self.path = path
        self.session_id = session_id

    @classmethod
    def for_session(cls, events_dir: Path, session_id: str) -> EventLog:
        return cls(events_dir / f"{session_id}.jsonl", session_id)

    @classmethod
    def disabled(cls) -> EventLog:
        return cls(None, "")

    def emit(self, event_type: str, **fields: Any) -> None:
        if self.path is None:
            return
        record = {"id": str(uuid.uuid4()), "timestamp": datetime.now(timezone.utc).isoformat(),
                  "session_id": self.session_id, "event_type": event_type, **fields}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(record, default=str) + "\n")
        except OSError:
            pass

    def read(self) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
