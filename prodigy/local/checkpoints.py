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
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

from prodigy import redact
from prodigy.errors import UsageError
from prodigy.redact import Redactor

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
        """Build from the saved JSON; raises `CheckpointProblem` naming what is wrong with it."""
        _check_shape(data)
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


class CheckpointProblem(ValueError):
    """A checkpoint file's content is not a checkpoint this prodigy can continue from."""


class CheckpointError(UsageError):
    """A session's checkpoint cannot be used; the message names the file and the way out (exit 2)."""


def _require(condition: bool, problem: str) -> None:
    if not condition:
        raise CheckpointProblem(problem)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _check_shape(data: Any) -> None:
    """Types and bounds of a saved checkpoint, before any of it is trusted."""
    _require(isinstance(data, Mapping), f"expected a JSON object, found {type(data).__name__}")
    version = data.get("version", CHECKPOINT_VERSION)
    _require(version == CHECKPOINT_VERSION and not isinstance(version, bool),
             f"it has version {version!r}; this prodigy reads version {CHECKPOINT_VERSION} "
             "(written by a different prodigy release?)")
    for key in ("workflow_id", "session_id", "workflow_hash"):
        _require(isinstance(data.get(key), str), f"`{key}` is missing or not a string")
    _require(data.get("status") in tuple(status.value for status in CheckpointStatus),
             f"`status` is {data.get('status')!r}, not one of {', '.join(s.value for s in CheckpointStatus)}")
    state = data.get("execution_state")
    _require(isinstance(state, Mapping), "`execution_state` is missing or not an object")
    for key in ("next_pass", "next_step", "total_steps", "total_passes"):
        _require(_is_count(state.get(key)), f"`execution_state.{key}` is missing or not a whole number >= 0")
    total_steps, total_passes = state["total_steps"], state["total_passes"]
    next_pass, next_step = state["next_pass"], state["next_step"]
    _require(total_steps >= 1 and total_passes >= 1, "it records a run of no steps")
    _require(next_pass <= total_passes, f"it continues at pass {next_pass + 1} of {total_passes}")
    _require(next_step < total_steps and (next_pass < total_passes or next_step == 0),
             f"it continues at step {next_step + 1} of {total_steps}, past the end")
    for key in ("workflow_path", "workflow_name", "base_sha", "error", "failed_step"):
        _require(data.get(key) is None or isinstance(data.get(key), str), f"`{key}` is not a string")
    _require(isinstance(data.get("variables") or {}, Mapping), "`variables` is not an object")
    _require(isinstance(data.get("updated_at", 0.0), int | float), "`updated_at` is not a number")
    completed = data.get("completed_steps", [])
    _require(isinstance(completed, list), "`completed_steps` is not a list")
    names = {f.name for f in fields(CompletedStep)}
    for index, step in enumerate(completed):
        _require(isinstance(step, Mapping) and set(step) == names,
                 f"`completed_steps[{index}]` does not have exactly the keys {', '.join(sorted(names))}")
    retry = data.get("retry_state")
    if retry:
        _require(isinstance(retry, Mapping) and set(retry) == {f.name for f in fields(RetryState)}
                 and all(_is_count(value) for value in retry.values()),
                 "`retry_state` is not a retry record of whole numbers")


def checkpoints_dir(state_dir: Path) -> Path:
    return state_dir / "checkpoints"


def new_workflow_id() -> str:
    return f"workflow-{int(time.time() * 1000)}"


def save(state_dir: Path, checkpoint: Checkpoint, redactor: Redactor | None = None) -> Path:
    """Write the checkpoint atomically, mode 0600 (captured output lives in it), secrets masked."""
    directory = checkpoints_dir(state_dir)
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / f"{checkpoint.workflow_id}.checkpoint.json"
    data = ((redactor or Redactor()) | redact.known()).data(checkpoint.to_json())
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=directory)   # mkstemp creates the file 0600
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=2, default=str)
    os.replace(tmp, target)
    return target


def _newest_first(directory: Path) -> list[Path]:
    stamped = []
    for path in directory.glob("*.checkpoint.json"):
        try:
            stamped.append((path.stat().st_mtime, path))
        except OSError:
            continue
    return [path for _, path in sorted(stamped, reverse=True)]


def load_latest(state_dir: Path, *, session_id: str | None = None) -> Checkpoint | None:
    """The most recently written checkpoint in `state_dir`, or None; `CheckpointError` if it is unusable."""
    files = _newest_first(checkpoints_dir(state_dir))
    if not files:
        return None
    path = files[0]
    try:
        return Checkpoint.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        session = session_id or state_dir.name
        raise CheckpointError(
            f"the checkpoint of session {session} cannot be used: {path}: {reason}",
            hint=f"without it prodigy cannot tell where to continue; discard the session with: "
                 f"prodigy worktree clean -f {session} (its commits are on branch prodigy-{session} "
                 "until then)") from None


def check_resumable(checkpoint: Checkpoint, *, total_steps: int, total_passes: int, session_id: str) -> None:
    """Refuse a checkpoint that does not fit the workflow and inputs it is resumed with."""
    problem = None
    if checkpoint.next_pass > total_passes:
        problem = (f"it continues at pass {checkpoint.next_pass + 1}, but this run has "
                   f"{total_passes} pass{'es' if total_passes != 1 else ''}")
    elif checkpoint.next_pass < total_passes and checkpoint.next_step >= total_steps:
        problem = (f"it continues at step {checkpoint.next_step + 1}, but the workflow now has "
                   f"{total_steps} step{'s' if total_steps != 1 else ''}")
    if problem:
        raise CheckpointError(
            f"the checkpoint of session {session_id} does not fit its workflow: {problem}",
            hint=f"restore the workflow file the session ran with, or discard the session with: "
                 f"prodigy worktree clean -f {session_id}")
