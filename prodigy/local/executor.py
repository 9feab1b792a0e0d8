"""Run a loaded workflow's steps in a directory: the engine shared by local runs and the pod.

    execute(ExecutionRequest(...), console) -> ExecutionResult

It runs in the GIVEN directory (a session worktree locally, the cloned checkout inside a
Kubernetes pod), never creates worktrees, never prompts and never merges. After every step it
saves a checkpoint to ``<state_dir>/checkpoints/``; with ``resume=True`` it continues from the
latest checkpoint there (skipping completed steps, restoring captured variables).

A run is a list of passes: one per ``--args`` value (``${ARG}``), each repeated up to
``max_iterations`` times (a repeat that made no commit ends that input's repeats, like upstream).

The result says how it ended (completed / failed / interrupted), with the exit code the CLI
should use (0 / 1 / 130 or 143), the failing step and error, the step counts and the commits made
since the run's base commit. Signals are the caller's business: install handlers that raise
`prodigy.errors.Interrupted`; this function turns that (or KeyboardInterrupt) into an
``interrupted`` result after saving the checkpoint.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from prodigy.errors import EXIT_FAILURE, EXIT_OK, EXIT_SIGINT, Interrupted
from prodigy.local import checkpoints
from prodigy.repo import git
from prodigy.local.checkpoints import Checkpoint, CheckpointStatus, CompletedStep, RetryState
from prodigy.local.env_resolve import EnvValueError, resolve_computed_env
from prodigy.events import EventLog
from prodigy.local.steps import RetryProgress, StepContext, StepFailed, execute_step
from prodigy import redact
from prodigy.redact import Redactor
from prodigy.ui.console import Console
from prodigy.workflow.interpolate import interpolate
from prodigy.workflow.model import RetryFix, Step, Workflow
from prodigy.workflow.result import ExecutionResult, ExecutionStatus
from prodigy.workflow.outside import declared_outside_names
from prodigy.workflow.variables import standard_variables


@dataclass(frozen=True)
class Pass:
    arg: str | None
    arg_index: int
    iteration: int            # 1-based repeat number (-n)

    def label(self, total_args: int, max_iterations: int) -> str | None:
        parts = []
        if self.arg is not None and total_args > 1:
            parts.append(f"arg {self.arg}")
        elif self.arg is not None:
            parts.append(f"ARG={self.arg}")
        if max_iterations > 1:
            parts.append(f"iteration {self.iteration}/{max_iterations}")
        return ", ".join(parts) or None


def plan_passes(args: tuple[str, ...], max_iterations: int) -> list[Pass]:
    inputs: list[str | None] = list(args) if args else [None]
    return [Pass(arg, index, iteration) for index, arg in enumerate(inputs)
            for iteration in range(1, max(1, max_iterations) + 1)]


@dataclass(frozen=True)
class ExecutionRequest:
    workflow: Workflow
    workdir: Path
    state_dir: Path
    session_id: str
    args: tuple[str, ...] = ()
    max_iterations: int = 1
    resume: bool = False
    environ: Mapping[str, str] | None = None      # default: os.environ
    verbosity: int = 0
    home: Path | None = None                      # PRODIGY_HOME for Claude logs; default from env
    events: EventLog | None = None
    extra_variables: Mapping[str, object] = field(default_factory=dict)


def workflow_hash(workflow: Workflow) -> str:
    payload = json.dumps(workflow.model_dump(mode="json", by_alias=True, exclude={"source"}), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _test_mode(environ: Mapping[str, str]) -> bool:
    return environ.get("PRODIGY_TEST_MODE", "").lower() == "true"


def execute(request: ExecutionRequest, console: Console) -> ExecutionResult:
    started = time.monotonic()
    environ = dict(os.environ if request.environ is None else request.environ)
    workflow = request.workflow
    passes = plan_passes(request.args, request.max_iterations)
    total_steps = len(workflow.steps)
    events = request.events or EventLog.disabled()

    previous = resume_point(request.state_dir, workflow, request.args, request.max_iterations,
                            session_id=request.session_id) if request.resume else None
    redactor = Redactor.of(workflow.secrets.values())
    checkpoint: Checkpoint
    if previous is None:
        checkpoint = Checkpoint(
            workflow_id=checkpoints.new_workflow_id(), session_id=request.session_id,
            workflow_hash=workflow_hash(workflow), total_steps=total_steps, total_passes=len(passes),
            workflow_path=str(workflow.source) if workflow.source else None, workflow_name=workflow.name,
            base_sha=git.head_sha(request.workdir),
        )
    else:
        checkpoint = previous
        if checkpoint.workflow_hash != workflow_hash(workflow):
            console.warn("the workflow file changed since this session started; "
                         "resuming by step position anyway")
        console.info(f"Continuing at step {checkpoint.next_step + 1}/{total_steps}"
                     + (f" of pass {checkpoint.next_pass + 1}/{len(passes)}" if len(passes) > 1 else "")
                     + (f" ({len(checkpoint.completed_steps)} done before)" if checkpoint.completed_steps else ""))
        if checkpoint.retry:
            console.info(f"Its retry loop was interrupted after {checkpoint.retry.attempts_failed} of "
                         f"{checkpoint.retry.max_attempts} attempts")
        checkpoint = replace(checkpoint, status=CheckpointStatus.RUNNING, error=None, failed_step=None,
                             total_passes=len(passes), total_steps=total_steps)
    checkpoint_path = checkpoints.save(request.state_dir, checkpoint, redactor)

    variables: dict[str, object] = {**checkpoint.variables, "SESSION_ID": request.session_id,
                                    **request.extra_variables}
    base_env = {**environ, "PRODIGY_AUTOMATION": "true", "PRODIGY_SESSION_ID": request.session_id}
    base_env.update({k: interpolate(v, variables) for k, v in workflow.all_env.items()})
    steps = workflow.walk()
    ctx = StepContext(workdir=request.workdir, env=base_env, variables=variables, console=console,
                      verbosity=request.verbosity, home=request.home, test_mode=_test_mode(environ),
                      secrets=redactor.values, events=events.masked(redactor),
                      declared_outside=declared_outside_names((s.capture_name for s in steps), (s.id for s in steps)),
                      outside_paths=workflow.outside_paths)
    events = ctx.events

    def record_retry(pass_index: int, step_index: int, step: Step) -> Callable[[int], None]:
        def record(attempts_failed: int) -> None:
            nonlocal checkpoint, checkpoint_path
            max_attempts = step.failure.max_attempts if isinstance(step.failure, RetryFix) else attempts_failed
            checkpoint = replace(checkpoint, retry=RetryState(pass_index, step_index, attempts_failed, max_attempts),
                                 variables=_jsonable(variables), updated_at=time.time())
            checkpoint_path = checkpoints.save(request.state_dir, checkpoint, redactor)
        return record

    status, exit_code, error, failed_step = ExecutionStatus.COMPLETED, EXIT_OK, None, None
    skipped_args: set[int] = set()
    try:
        _add_computed_env(workflow, request.workdir, base_env, ctx)
        for pass_index, run_pass in enumerate(passes):
            if pass_index < checkpoint.next_pass or run_pass.arg_index in skipped_args:
                continue
            pass_head = git.head_sha(request.workdir)
            _enter_pass(run_pass, ctx, workflow)
            label = run_pass.label(len(request.args), request.max_iterations)
            first = checkpoint.next_step if pass_index == checkpoint.next_pass else 0
            for step_index in range(first, total_steps):
                step = workflow.steps[step_index]
                failed_step = step.display
                console.step_header(step_index + 1, total_steps, step.display, label)
                events.emit("step_started", step=step.display, index=step_index, pass_index=pass_index)
                ctx.retry_progress = RetryProgress(step, checkpoint.attempts_failed(pass_index, step_index),
                                                   record_retry(pass_index, step_index, step))
                outcome = execute_step(step, ctx)
                if not outcome.skipped:
                    console.step_done(outcome.duration, len(outcome.commits), len(outcome.files_changed),
                                      outcome.note)
                events.emit("step_completed", step=step.display, index=step_index, success=outcome.success,
                            skipped=outcome.skipped, commits=[c.sha for c in outcome.commits])
                checkpoint = checkpoint.advanced(
                    CompletedStep(pass_index, step_index, step.display, outcome.success, outcome.skipped,
                                  round(outcome.duration, 3), len(outcome.commits)),
                    _jsonable(variables))
                checkpoint_path = checkpoints.save(request.state_dir, checkpoint, redactor)
                failed_step = None
            if request.max_iterations > 1 and git.head_sha(request.workdir) == pass_head:
                console.info("No changes in this iteration; stopping the repeats for this input")
                skipped_args.add(run_pass.arg_index)
                checkpoint = replace(checkpoint, next_pass=_next_pass_after(passes, pass_index, skipped_args))
    except StepFailed as exc:
        status, exit_code, failed_step = ExecutionStatus.FAILED, EXIT_FAILURE, exc.step
        error = ctx.mask(exc.message)
        # A loop that used all its attempts is over: resuming a failed run gives the step a fresh budget.
        checkpoint = replace(checkpoint, retry=None)
    except Interrupted as exc:
        status, exit_code, error = ExecutionStatus.INTERRUPTED, exc.exit_code, exc.message
    except KeyboardInterrupt:
        status, exit_code, error = ExecutionStatus.INTERRUPTED, EXIT_SIGINT, "interrupted"
    if status is not ExecutionStatus.COMPLETED:
        events.emit(f"workflow_{status.value}", step=failed_step, error=error)
    else:
        failed_step = None
        events.emit("workflow_completed")
    checkpoint = replace(checkpoint, status=CheckpointStatus(status.value), error=error, failed_step=failed_step,
                         variables=_jsonable(variables))
    checkpoint_path = checkpoints.save(request.state_dir, checkpoint, redactor)
    return _result(request, checkpoint, status, exit_code, error, failed_step, started, checkpoint_path)


def _add_computed_env(workflow: Workflow, workdir: Path, base_env: dict[str, str], ctx: StepContext) -> None:
    """Structured `env:`/`secrets:` values (command, condition, provider) are worked out first."""
    if not workflow.computed_env:
        return
    try:
        values, hidden = resolve_computed_env(workflow.computed_env, workdir=workdir, env=base_env)
    except EnvValueError as exc:
        raise StepFailed(exc.message, step="workflow env") from exc
    base_env.update(values)
    ctx.variables.update(values)
    # Secret values known only now: masked on the terminal from here on, and in every file prodigy
    # writes (events and checkpoints mask what the process remembers).
    redact.remember(hidden)
    ctx.secrets = (*ctx.secrets, *hidden)
    ctx.redactor = Redactor.of(ctx.secrets) | redact.known()


def _enter_pass(run_pass: Pass, ctx: StepContext, workflow: Workflow) -> None:
    # ARG reaches the environment as PRODIGY_ARG through prodigy.workflow.outside.exported_env.
    ctx.variables.update(standard_variables(project_root=ctx.workdir, worktree=ctx.workdir, arg=run_pass.arg,
                                            iteration=run_pass.iteration, env=workflow.all_env))


def resume_point(state_dir: Path, workflow: Workflow, args: tuple[str, ...], max_iterations: int, *,
                 session_id: str) -> Checkpoint | None:
    """The checkpoint a resume continues from, checked against the workflow and inputs (exit 2 if unusable).

    Callers may check this before changing anything (the session's status) as well: it only reads.
    """
    checkpoint = checkpoints.load_latest(state_dir, session_id=session_id)
    if checkpoint is not None:
        checkpoints.check_resumable(checkpoint, total_steps=len(workflow.steps),
                                    total_passes=len(plan_passes(args, max_iterations)), session_id=session_id)
    return checkpoint


def _next_pass_after(passes: list[Pass], index: int, skipped_args: set[int]) -> int:
    for later in range(index + 1, len(passes)):
        if passes[later].arg_index not in skipped_args:
            return later
    return len(passes)


def _jsonable(variables: Mapping[str, object]) -> dict[str, object]:
    plain: dict[str, object] = json.loads(json.dumps(dict(variables), default=str))
    return plain


def _result(request: ExecutionRequest, checkpoint: Checkpoint, status: ExecutionStatus, exit_code: int,
            error: str | None, failed_step: str | None, started: float, path: Path) -> ExecutionResult:
    head = git.head_sha(request.workdir)
    base = checkpoint.base_sha
    commits = tuple(c.sha for c in git.commits_between(request.workdir, base, head)) if base and head else ()
    files = tuple(git.files_changed(request.workdir, base, head)) if base and head else ()
    done = checkpoint.completed_steps
    return ExecutionResult(
        status=status, exit_code=exit_code, steps_completed=len(done),
        steps_total=checkpoint.total_steps * checkpoint.total_passes,
        steps_skipped=sum(1 for step in done if step.skipped), duration=time.monotonic() - started,
        base_sha=base, head_sha=head, commits=commits, files_changed=files, failed_step=failed_step,
        error=error, checkpoint_path=path,
    )
