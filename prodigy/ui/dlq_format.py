"""Pure formatting for `prodigy dlq list|show` and `prodigy logs`. No I/O."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["DlqRow", "format_dlq_entry", "format_dlq_table", "format_log_table", "LogRow"]


@dataclass(frozen=True)
class DlqRow:
    item_id: str
    failures: int
    last_attempt: str
    step: str | None
    error: str


def _first_line(text: str, limit: int = 70) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    first = lines[0].strip() if lines else ""
    return first if len(first) <= limit else first[:limit - 1] + "…"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    cells = [list(header)] + [list(row) for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return ["  ".join([*(cell.ljust(width) for cell, width in zip(row[:-1], widths)), row[-1]]).rstrip()
            for row in cells]


def format_dlq_table(rows: Sequence[DlqRow]) -> list[str]:
    return _table(("ITEM", "FAILURES", "LAST ATTEMPT", "FAILED AT", "ERROR"),
                  [(row.item_id, str(row.failures), row.last_attempt, _first_line(row.step or "-", 40),
                    _first_line(row.error)) for row in rows])


def format_dlq_entry(entry: dict[str, object]) -> list[str]:
    """Everything about one queued item: the item itself, then each failure, newest last."""
    lines = [f"Item: {entry['item_id']}", "Data:"]
    lines.extend("  " + line for line in json.dumps(entry.get("item"), indent=2, default=str).splitlines())
    if entry.get("worktree"):
        lines.append(f"Worktree: {entry['worktree']} (branch {entry.get('branch')})")
    failures = entry.get("failures")
    assert isinstance(failures, list)
    lines.append(f"Failures ({len(failures)}):")
    for failure in failures:
        lines.append(f"  attempt {failure['attempt']} at {failure['at']}"
                     + (f", step {failure['step']}" if failure.get("step") else ""))
        lines.extend("    " + line for line in str(failure["error"]).strip().splitlines())
        if failure.get("log"):
            lines.append(f"    log: {failure['log']}")
    return lines


@dataclass(frozen=True)
class LogRow:
    item_id: str
    size: int
    path: str


def format_log_table(rows: Sequence[LogRow]) -> list[str]:
    return _table(("AGENT", "BYTES", "LOG"), [(row.item_id, str(row.size), row.path) for row in rows])
