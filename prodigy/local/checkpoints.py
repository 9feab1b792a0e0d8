"""Checkpoints: where a run stands, saved after every step so `prodigy resume` can continue.

File: ``<state_dir>/checkpoints/<workflow_id>.checkpoint.json`` (for local sessions
``state_dir`` is ``$PRODIGY_HOME/state/<session-id>``; the in-pod agent passes its own).
A run is a list of *passes* (one per ``--args``/``--map`` input, times ``-n``), each running
every step; the checkpoint records the next (pass, step) to run and the variables so far.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any

CHECKPOINT_VERSION = 1


class CheckpointStatus(str, Enum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class CompletedStep:
    pass_index: int
    step_index: int
    display: str
    success: bool
    skipped: bool
    duration: float
    commits: int


@dataclass(frozen=True)
class RetryState:
    """A shell retry loop (`on_failure: {claude, max_attempts}`) cut short by an interrupt.

    Saved after each failed attempt, so a resume continues the loop with the attempts it has
    left instead of a fresh budget (upstream saves its checkpoints inside retry loops too).
    """

    pass_index: int
    step_index: int
    attempts_failed: int
    max_attempts: int


@dataclass(frozen=True)
class Checkpoint:
    workflow_id: str
    session_id: str
    workflow_hash: str
    total_steps: int
    total_passes: int
    next_pass: int = 0
    next_step: int = 0
    status: CheckpointStatus = CheckpointStatus.RUNNING
    workflow_path: str | None = None
    workflow_name: str | None = None
    base_sha: str | None = None
    completed_steps: tuple[CompletedStep, ...] = ()
    variables: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    failed_step: str | None = None
    retry: RetryState | None = None
    updated_at: float = field(default_factory=time.time)
    version: int = CHECKPOINT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version, "workflow_id": self.workflow_id, "session_id": self.session_id,
            "workflow_hash": self.workflow_hash, "workflow_path": self.workflow_path,
            "workflow_name": self.workflow_name, "base_sha": self.base_sha, "status": self.status.value,
            "execution_state": {"next_pass": self.next_pass, "next_step": self.next_step,
                                "total_steps": self.total_steps, "total_passes": self.total_passes},
            "completed_steps": [vars(step) for step in self.completed_steps],
            "variables": dict(self.variables), "error": self.error, "failed_step": self.failed_step,
            "retry_state": vars(self.retry) if self.retry else None, "updated_at": self.updated_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Checkpoint:
        state = data["execution_state"]
        return cls(
            workflow_id=data["workflow_id"], session_id=data["session_id"], workflow_hash=data["workflow_hash"],
            total_steps=state["total_steps"], total_passes=state["total_passes"], next_pass=state["next_pass"],
            next_step=state["next_step"], status=CheckpointStatus(data["status"]),
            workflow_path=data.get("workflow_path"), workflow_name=data.get("workflow_name"),
            base_sha=data.get("base_sha"),
            completed_steps=tuple(CompletedStep(**step) for step in data.get("completed_steps", [])),
            variables=data.get("variables") or {}, error=data.get("error"), failed_step=data.get("failed_step"),
            retry=RetryState(**data["retry_state"]) if data.get("retry_state") else None,
            updated_at=data.get("updated_at", 0.0), version=data.get("version", CHECKPOINT_VERSION),
        )

    def advanced(self, completed: CompletedStep, variables: Mapping[str, Any]) -> Checkpoint:
        """The checkpoint after `completed` finished: the next step (or the next pass's first)."""
        next_pass, next_step = completed.pass_index, completed.step_index + 1
        if next_step >= self.total_steps:
            next_pass, next_step = next_pass + 1, 0
        return replace(self, next_pass=next_pass, next_step=next_step, updated_at=time.time(), retry=None,
                       completed_steps=(*self.completed_steps, completed), variables=dict(variables))

    def attempts_failed(self, pass_index: int, step_index: int) -> int:
        """Failed attempts an interrupted retry loop of this step already used (0 if none)."""
        retry = self.retry
        if retry and (retry.pass_index, retry.step_index) == (pass_index, step_index):
            return retry.attempts_failed
        return 0

    @property
    def finished(self) -> bool:
        return self.next_pass >= self.total_passes


def checkpoints_dir(state_dir: Path) -> Path:
    return state_dir / "checkpoints"


def new_workflow_id() -> str:
    return f"workflow-{int(time.time() * 1000)}"


def save(state_dir: Path, checkpoint: Checkpoint) -> Path:
    directory = checkpoints_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{checkpoint.workflow_id}.checkpoint.json"
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)
    with os.fdopen(fd, "w") as fh:
        json.dump(checkpoint.to_json(), fh, indent=2, default=str)
    os.replace(tmp, target)
    return target


def load_latest(state_dir: Path) -> Checkpoint | None:
    """The most recently written checkpoint in `state_dir`, or None."""
    files = sorted(checkpoints_dir(state_dir).glob("*.checkpoint.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        return None
    return Checkpoint.from_json(json.loads(files[-1].read_text()))
