"""Run one agent: the `agent_template` steps for one work item, in the agent's worktree.

Steps go through the same `execute_step` as every standard step, so every option works
(`on_failure`, `commit_required`, `validate`, `timeout`, captures ...). The agent runs in a worker
thread: its output goes to its own console (the agent's log file), and it is stopped through its
`ProcessScope` (Ctrl+C in the main thread, or its time limit) rather than by a signal.

`run_agent` never raises for the agent's own failures: it returns how the agent ended, with the
step to continue from (after an interrupt) and the variables captured so far.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from prodigy.errors import Interrupted, ProdigyError
from prodigy.local.process_scope import ProcessScope
from prodigy.local.steps import StepContext, StepFailed, execute_step
from prodigy.ui.console import Console
from prodigy.workflow.interpolate import interpolate
from prodigy.workflow.mapreduce_vars import item_variables
from prodigy.workflow.model import Step
from prodigy.workflow.variables import standard_variables

__all__ = ["AgentEnd", "AgentOutcome", "AgentRequest", "agent_deadline", "agent_env", "agent_variables", "run_agent"]

# An agent's output as `${map.results[N].output}` is capped; its log file keeps everything.
OUTPUT_LIMIT = 64 * 1024


class AgentEnd(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True)
class AgentOutcome:
    end: AgentEnd
    next_step: int
    variables: dict[str, Any]
    output: str
    duration: float
    error: str | None = None
    failed_step: str | None = None
    exit_code: int | None = None      # for an interrupt: 130 / 143
    commits: tuple[str, ...] = ()     # made by the steps this run ran, oldest first


@dataclass(frozen=True)
class AgentRequest:
    steps: Sequence[Step]
    workdir: Path
    env: Mapping[str, str]
    variables: Mapping[str, object]
    console: Console
    start_step: int = 0
    verbosity: int = 0
    test_mode: bool = False
    secrets: tuple[str, ...] = ()
    home: Path | None = None


def agent_variables(base: Mapping[str, object], *, workdir: Path, workflow_env: Mapping[str, str], item: object,
                    number: int, total: int, resumed: Mapping[str, object] | None = None) -> dict[str, object]:
    """What an agent's steps see: setup's variables and ${ARG}, what it captured before an
    interrupt, the standard variables of its checkout, and ``${item...}``."""
    return {**base, **(resumed or {}),
            **standard_variables(project_root=workdir, worktree=workdir, env=dict(workflow_env)),
            **item_variables(item, index=number, total=total)}


def agent_env(environ: Mapping[str, str], *, session_id: str, workflow_env: Mapping[str, str],
              variables: Mapping[str, object], the_id: str, branch: str) -> dict[str, str]:
    """An agent's environment, on this machine or in its pod alike."""
    return {**environ, "PRODIGY_AUTOMATION": "true", "PRODIGY_SESSION_ID": session_id,
            **{key: interpolate(value, variables) for key, value in workflow_env.items()},
            "PRODIGY_ITEM_ID": the_id, "PRODIGY_WORKTREE": branch.removeprefix("prodigy-")}


def agent_deadline(scope: ProcessScope, seconds: int | None, the_id: str) -> threading.Timer | None:
    """Stop the agent's processes after ``seconds`` (`agent_timeout_secs`): its step fails."""
    if not seconds:
        return None
    error = StepFailed(f"Agent {the_id} timed out after {seconds} seconds (agent_timeout_secs)",
                       step=f"{the_id} (timed out)")
    timer = threading.Timer(seconds, scope.stop, args=(error,))
    timer.daemon = True
    timer.start()
    return timer


def run_agent(request: AgentRequest, *, on_step: Callable[[int, int, Step], None],
              on_step_done: Callable[[int, dict[str, Any]], None]) -> AgentOutcome:
    """Run the steps from ``request.start_step``; ``on_step(index, total, step)`` before each one,
    ``on_step_done(next_step, variables)`` after each one (the caller checkpoints there)."""
    started = time.monotonic()
    variables: dict[str, object] = dict(request.variables)
    ctx = StepContext(workdir=request.workdir, env=dict(request.env), variables=variables, console=request.console,
                      verbosity=request.verbosity, home=request.home, test_mode=request.test_mode,
                      secrets=request.secrets)
    steps = list(request.steps)
    output: list[str] = []
    commits: list[str] = []
    index = request.start_step
    try:
        while index < len(steps):
            step = steps[index]
            on_step(index, len(steps), step)
            request.console.step_header(index + 1, len(steps), step.display)
            outcome = execute_step(step, ctx)
            if not outcome.skipped:
                request.console.step_done(outcome.duration, len(outcome.commits), len(outcome.files_changed),
                                          outcome.note)
            if outcome.stdout:
                output.append(outcome.stdout)
            commits.extend(commit.sha for commit in outcome.commits)
            index += 1
            on_step_done(index, _jsonable(variables))
    except StepFailed as failed:
        return _end(AgentEnd.FAILED, index, variables, output, started, error=failed.message, step=failed.step)
    except Interrupted as interrupted:
        return _end(AgentEnd.INTERRUPTED, index, variables, output, started, error=interrupted.message,
                    exit_code=interrupted.exit_code)
    except ProdigyError as error:   # a git command failed underneath a step
        return _end(AgentEnd.FAILED, index, variables, output, started, error=error.message,
                    step=steps[index].display if index < len(steps) else None)
    return _end(AgentEnd.SUCCEEDED, index, variables, output, started, commits=tuple(commits))


def _end(end: AgentEnd, index: int, variables: Mapping[str, object], output: list[str], started: float, *,
         error: str | None = None, step: str | None = None, exit_code: int | None = None,
         commits: tuple[str, ...] = ()) -> AgentOutcome:
    text = "".join(output)
    if len(text) > OUTPUT_LIMIT:
        text = text[:OUTPUT_LIMIT] + "\n… (output truncated; the agent's log has all of it)\n"
    return AgentOutcome(end, index, _jsonable(variables), text, time.monotonic() - started, error, step, exit_code,
                        commits)


def _jsonable(variables: Mapping[str, object]) -> dict[str, Any]:
    plain: dict[str, Any] = json.loads(json.dumps(dict(variables), default=str))
    return plain
