"""How a workflow run ended: the record every executor returns and the finish path reads.

The local executor builds it from its checkpoint; a cluster run rebuilds it from the small JSON
summary the agent writes to its pod's termination message (`to_summary` / `from_summary`), so
both kinds of run end through the same finish path with the same record. Pure data.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from prodigy.errors import EXIT_FAILURE


class ExecutionStatus(str, Enum):
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class ExecutionResult:
    status: ExecutionStatus
    exit_code: int
    steps_completed: int
    steps_total: int
    steps_skipped: int
    duration: float
    base_sha: str | None
    head_sha: str | None
    commits: tuple[str, ...] = ()           # shas made since base_sha, oldest first
    files_changed: tuple[str, ...] = ()
    failed_step: str | None = None
    error: str | None = None
    checkpoint_path: Path | None = None

    def to_json(self) -> dict[str, object]:
        """The small summary the pod writes to its termination message."""
        return {"status": self.status.value, "exit_code": self.exit_code, "failed_step": self.failed_step,
                "error": self.error, "steps_completed": self.steps_completed, "steps_total": self.steps_total,
                "base_sha": self.base_sha, "head_sha": self.head_sha, "commits": len(self.commits)}

    @classmethod
    def from_summary(cls, summary: Mapping[str, Any], duration: float) -> ExecutionResult:
        """Rebuild the result from a pod's summary (``to_json``); tolerant of a partial one."""
        try:
            status = ExecutionStatus(summary.get("status", "failed"))
        except ValueError:
            status = ExecutionStatus.FAILED
        return cls(
            status=status, exit_code=_int(summary.get("exit_code"), EXIT_FAILURE),
            steps_completed=_int(summary.get("steps_completed"), 0), steps_total=_int(summary.get("steps_total"), 0),
            steps_skipped=0, duration=duration, base_sha=_str(summary.get("base_sha")),
            head_sha=_str(summary.get("head_sha")), failed_step=_str(summary.get("failed_step")),
            error=_str(summary.get("error")))


def _int(value: object, default: int) -> int:
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    try:
        return int(str(value))
    except ValueError:
        return default


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None
