"""A JSON-lines event log per session: ``$PRODIGY_HOME/events/<session-id>.jsonl``.

One object per line: ``{"id", "timestamp", "session_id", "event_type", ...fields}``. The log is
append-only and best-effort: a full disk must not fail a workflow, so write errors are ignored.
Events carry commands and error texts, so the file is created mode 0600 and every string in a
record has the workflow's secrets masked (`prodigy.redact`) before it is written.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from prodigy import redact
from prodigy.redact import Redactor


class EventLog:
    def __init__(self, path: Path | None, session_id: str, redactor: Redactor | None = None) -> None:
        self.path = path
        self.session_id = session_id
        self.redactor = redactor or Redactor()

    @classmethod
    def for_session(cls, events_dir: Path, session_id: str) -> EventLog:
        return cls(events_dir / f"{session_id}.jsonl", session_id)

    @classmethod
    def disabled(cls) -> EventLog:
        return cls(None, "")

    def masked(self, redactor: Redactor) -> EventLog:
        """The same log, masking ``redactor``'s secrets as well."""
        return EventLog(self.path, self.session_id, self.redactor | redactor)

    def emit(self, event_type: str, **fields: Any) -> None:
        if self.path is None:
            return
        record = {"id": str(uuid.uuid4()), "timestamp": datetime.now(timezone.utc).isoformat(),
                  "session_id": self.session_id, "event_type": event_type, **fields}
        line = json.dumps((self.redactor | redact.known()).data(record), default=str) + "\n"
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            with os.fdopen(fd, "a", encoding="utf-8") as fh:
                fh.write(line)
        except (OSError, ValueError):
            pass

    def read(self) -> list[dict[str, Any]]:
        if self.path is None or not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
