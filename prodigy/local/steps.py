"""Run one workflow step with all of its options.

`execute_step(step, ctx)` is the whole contract: it evaluates ``when``, interpolates the command,
runs it (shell, claude, write_file, foreach), applies ``on_failure`` (the shell retry loop or a
handler), enforces ``commit_required``, records captures / ``output_file``, then runs ``on_success``
and ``validate``. It returns a `StepOutcome`, or raises `StepFailed` when the failure stops the
workflow. Nested steps (handlers, validators, foreach bodies) go through the same function.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from prodigy import redact
from prodigy.errors import UsageError, WorkflowFailed
from prodigy.local import outputs
from prodigy.local.claude import MISSING_EXIT_CODE, claude_available, missing_claude_message, run_claude
from prodigy.events import EventLog
from prodigy.local.containment import PathRefused, Roots, contain
from prodigy.repo import git
from prodigy.local.shell import run_shell
from prodigy.redact import Redactor
from prodigy.ui.console import Console
from prodigy.workflow.expressions import evaluate
from prodigy.workflow.interpolate import interpolate, unresolved_quoted
from prodigy.workflow.model import Handler, RetryFix, Step, StepKind, WriteFileSpec
from prodigy.workflow.outside import exported_env
from prodigy.workflow.variables import CaptureError, parse_capture

REDACTED = redact.MASK


class StepFailed(WorkflowFailed):
    """A step failed and its options say the workflow stops here."""

    def __init__(self, message: str, *, step: str) -> None:
        super().__init__(message)
        self.step = step


@dataclass(frozen=True)
class RetryProgress:
    """Ties one step's shell retry loop to the run's checkpoint (set by the executor per step).

    `attempts_failed` comes from the checkpoint of an interrupted earlier run: the loop goes on
    with the attempts left. `record(n)` saves the checkpoint after the n-th failed attempt.
    """

    step: Step
    attempts_failed: int
    record: Callable[[int], None]


@dataclass
class StepContext:
    """What every step of one run shares. `variables` is updated as steps capture output."""

    workdir: Path
    env: dict[str, str]
    variables: dict[str, object]
    console: Console
    verbosity: int = 0
    home: Path | None = None
    test_mode: bool = False
    secrets: tuple[str, ...] = ()
    events: EventLog = field(default_factory=EventLog.disabled)
    retry_progress: RetryProgress | None = None
    # Capture names and `<id>.output` of the workflow: outside values (prodigy.workflow.outside).
    declared_outside: frozenset[str] = frozenset()
    # The workflow's `outside_paths:`; everything else written must stay inside `workdir`.
    outside_paths: tuple[str, ...] = ()
    redactor: Redactor = field(init=False)

    def __post_init__(self) -> None:
        # Secrets of every workflow loaded in this process too: a merge block masks its output as well.
        self.redactor = Redactor.of(self.secrets) | redact.known()

    def mask(self, text: str) -> str:
        return self.redactor.text(text)

    @property
    def roots(self) -> Roots:
        return Roots.of((self.workdir,), self.outside_paths)


@dataclass(frozen=True)
class CommandResult:
    """One run of a step's command."""

    exit_code: int
    stdout: str = ""
    stderr: str = ""
    duration: float = 0.0
    error: str | None = None      # what to tell the user if this run counts as the step's failure
    note: str | None = None

    @property
    def ok(self) -> bool:
        return self.exit_code == 0


@dataclass(frozen=True)
class StepOutcome:
    success: bool                  # False: the step failed but on_failure lets the workflow go on
    skipped: bool = False
    exit_code: int = 0
    stdout: str = ""
    duration: float = 0.0
    commits: tuple[git.Commit, ...] = ()
    files_changed: tuple[str, ...] = ()
    note: str | None = None


def _no_commit_validation(env: Mapping[str, str]) -> bool:
    return env.get("PRODIGY_NO_COMMIT_VALIDATION", "").lower() == "true"


def execute_step(step: Step, ctx: StepContext, *, timeout: int | None = None) -> StepOutcome:
    if step.when is not None and not evaluate(step.when, ctx.variables):
        ctx.console.step_skipped(f"`when: {step.when}` is false")
        return StepOutcome(success=True, skipped=True, stdout="Skipped due to when condition")
    started = time.monotonic()
    head_before = git.head_sha(ctx.workdir)
    result = _run_with_recovery(step, ctx, timeout)
    head_after = git.head_sha(ctx.workdir)
    commits: tuple[git.Commit, ...] = ()
    files: tuple[str, ...] = ()
    if head_before and head_after and head_before != head_after:
        commits = tuple(git.commits_between(ctx.workdir, head_before, head_after))
        files = tuple(git.files_changed(ctx.workdir, head_before, head_after))
    if result.ok and step.commit_required and not commits and not _no_commit_validation(ctx.env):
        for line in outputs.no_commits_explanation(step.display):
            ctx.console.error(line)
        raise StepFailed(outputs.no_commits_error(step.display), step=step.display)
    _record_outputs(step, result, commits, files, ctx)
    if result.ok and step.on_success is not None:
        ctx.console.substep(f"on_success: {step.on_success.display}")
        execute_step(step.on_success, ctx)
    if result.ok and step.validation is not None:
        from prodigy.local.validation import run_validation  # validation runs steps through this module

        run_validation(step, step.validation, ctx)
    return StepOutcome(success=result.ok, exit_code=result.exit_code, stdout=result.stdout,
                       duration=time.monotonic() - started, commits=commits, files_changed=files, note=result.note)


# -- running the command --------------------------------------------------------------------------

def run_command(step: Step, ctx: StepContext, *, extra_env: Mapping[str, str] | None = None,
                timeout: int | None = None) -> CommandResult:
    """Run the step's command once, streaming its output; never raises for a non-zero exit.

    Whatever makes the command impossible to start (a working_dir outside the worktree or missing,
    an environment entry no process can carry, a NUL byte, an undefined ``${name|sh}``) is this
    run's failure, with the reason as its error, so the usual on_failure / Resume with: apply.
    """
    try:
        cwd = _working_dir(step, ctx)
    except PathRefused as exc:
        return _cannot_run(step, str(exc), ctx)
    env = {**ctx.env, **exported_env(ctx.variables, ctx.declared_outside),
           **{k: interpolate(v, ctx.variables) for k, v in step.env.items()}, **(extra_env or {})}
    problem = _environment_problem(env)
    if problem:
        return _cannot_run(step, problem, ctx)
    limit = timeout or step.timeout
    if step.kind in (StepKind.SHELL, StepKind.CLAUDE):
        command = interpolate(step.command, ctx.variables)
        problem = _command_problem(step.command, command, ctx)
        if problem:
            return _cannot_run(step, problem, ctx)
        if step.kind is StepKind.CLAUDE:
            return _run_claude(command, cwd, env, limit, ctx)
        process = run_shell(command, cwd=cwd, env=env, timeout=limit,
                            on_stdout=_sink(ctx, stderr=False), on_stderr=_sink(ctx, stderr=True))
        error = outputs.step_failure_message(step.display, process.exit_code, process.stdout, process.stderr)
        return CommandResult(process.exit_code, process.stdout, process.stderr, process.duration,
                             error=None if process.success else ctx.mask(error))
    if step.kind is StepKind.WRITE_FILE:
        assert step.write_file is not None
        return _write_file(step.write_file, cwd, ctx)
    from prodigy.local.foreach import run_foreach  # foreach runs steps through this module

    return run_foreach(step, cwd, env, ctx)


def _cannot_run(step: Step, problem: str, ctx: StepContext) -> CommandResult:
    """A run that could not start: it fails like a non-zero exit, so on_failure and resume apply."""
    return CommandResult(1, error=ctx.mask(f"Step '{step.display}': {problem}"))


def _working_dir(step: Step, ctx: StepContext) -> Path:
    if not step.working_dir:
        return ctx.workdir
    text = interpolate(step.working_dir, ctx.variables)
    cwd = contain(ctx.workdir, text, ctx.roots, what="working_dir")
    if not cwd.is_dir():
        state = "is not a directory" if cwd.exists() else "does not exist"
        raise PathRefused(f"working_dir {text!r} {state} ({cwd})")
    return cwd


def _environment_problem(env: Mapping[str, str]) -> str | None:
    """Why ``env`` cannot be a process environment (execve takes NAME=VALUE C strings), or None."""
    for name, value in env.items():
        if not name or "=" in name or "\x00" in name:
            return (f"environment variable name {name!r} is not allowed (a name must be non-empty, without '=' "
                    "or NUL bytes); rename it in `env:`")
        if "\x00" in value:
            return f"environment variable {name} contains a NUL byte, which no process environment can hold"
    return None


def _command_problem(template: str, command: str, ctx: StepContext) -> str | None:
    missing = unresolved_quoted(template, ctx.variables)
    if missing:
        names = ", ".join(reference.text for reference in missing)
        return (f"{names}: no such variable is defined at this step, so the command cannot be built "
                "(check the name, or give a default: ${name:-default|sh})")
    if "\x00" in command:
        return "the command contains a NUL byte (from the workflow or an interpolated value); a command cannot hold one"
    return None


def _sink(ctx: StepContext, *, stderr: bool) -> Callable[[str], None]:
    return lambda line: ctx.console.step_output(ctx.mask(line), stderr=stderr)


def _run_claude(command: str, cwd: Path, env: dict[str, str], timeout: int | None, ctx: StepContext) -> CommandResult:
    if ctx.test_mode:
        ctx.console.step_progress(ctx.mask(f"[TEST MODE] Would execute Claude command: {command}"))
        return CommandResult(0)
    if not claude_available(env):      # e.g. a cluster image without Claude Code: a failed step, not a crash
        return CommandResult(MISSING_EXIT_CODE, error=ctx.mask(missing_claude_message(command, env)))
    result = run_claude(command, cwd=cwd, env=env, timeout=timeout, verbosity=ctx.verbosity,
                        emit=lambda line: ctx.console.step_progress(ctx.mask(line)),
                        on_stderr=_sink(ctx, stderr=True), home=ctx.home, redactor=ctx.redactor)
    ctx.events.emit("claude_finished", command=command, success=result.success, cost_usd=result.outcome.cost_usd,
                    tool_uses=result.outcome.tool_uses, log=str(result.log_path) if result.log_path else None)
    exit_code = result.process.exit_code if result.process.exit_code != 0 else (0 if result.success else 1)
    return CommandResult(exit_code, result.output, result.process.stderr, result.process.duration,
                         error=None if result.success else ctx.mask(result.failure_message(command)))


def _write_file(spec: WriteFileSpec, cwd: Path, ctx: StepContext) -> CommandResult:
    try:
        target = contain(cwd, interpolate(spec.path, ctx.variables), ctx.roots, what="write_file path")
    except PathRefused as exc:
        return CommandResult(1, error=ctx.mask(f"write_file: {exc}"))
    content = interpolate(spec.content, ctx.variables)
    try:
        if spec.format == "json":
            content = json.dumps(json.loads(content), indent=2) + "\n"
        elif spec.format == "yaml":
            content = _normalised_yaml(content)
    except (ValueError, RecursionError, UsageError) as exc:
        detail = exc.message if isinstance(exc, UsageError) else str(exc) or "nested too deeply"
        return CommandResult(1, error=ctx.mask(f"write_file {target}: content is not valid {spec.format}: {detail}"))
    if target.is_dir():
        return CommandResult(1, error=f"write_file {target}: is a directory; give a file name")
    try:
        if spec.create_dirs:
            target.parent.mkdir(parents=True, exist_ok=True)
        if not target.parent.is_dir():
            return CommandResult(1, error=f"write_file {target}: directory {target.parent} does not exist "
                                          "(add `create_dirs: true`)")
        target.write_text(content, encoding="utf-8", errors="surrogateescape")
        os.chmod(target, spec.mode_bits)
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        return CommandResult(1, error=ctx.mask(f"write_file {target}: cannot write it: {reason}"))
    ctx.console.step_progress(f"wrote {target.relative_to(ctx.workdir) if target.is_relative_to(ctx.workdir) else target}"
                              f" ({len(content.encode())} bytes)")
    return CommandResult(0, stdout=str(target))


def _normalised_yaml(text: str) -> str:
    import io

    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    from prodigy import yaml_input

    yaml_input.check_yaml_structure(text, Path("write_file content"), what="YAML", limits=yaml_input.Limits(),
                                    error=UsageError)
    yaml = YAML(typ="safe")
    try:
        data = yaml.load(text)
    except YAMLError as exc:
        raise ValueError(str(exc)) from exc
    out = io.StringIO()
    YAML().dump(data, out)
    return out.getvalue()


# -- on_failure -----------------------------------------------------------------------------------

def _run_with_recovery(step: Step, ctx: StepContext, timeout: int | None) -> CommandResult:
    failure = step.failure
    if isinstance(failure, RetryFix):
        return _retry_loop(step, failure, ctx, timeout)
    result = run_command(step, ctx, timeout=timeout)
    if result.ok:
        return result
    if failure is None:
        raise StepFailed(result.error or f"Step '{step.display}' failed", step=step.display)
    return _handle_failure(step, failure, result, ctx, timeout)


def _retry_loop(step: Step, fix: RetryFix, ctx: StepContext, timeout: int | None) -> CommandResult:
    """Upstream's shell `on_failure: {claude, max_attempts}`: run, fix with Claude, run again."""
    # Only the workflow's own step is checkpointed; loops nested in handlers start afresh.
    progress = ctx.retry_progress if ctx.retry_progress and ctx.retry_progress.step is step else None
    first = 1
    if progress and progress.attempts_failed:
        # Resumed after an interrupt: run the command again first (the interrupted fix may have
        # committed), numbering on from the attempts already used.
        first = min(progress.attempts_failed + 1, fix.max_attempts)
        ctx.console.substep(f"continuing the retry loop at attempt {first}/{fix.max_attempts}")
    result = CommandResult(1)
    for attempt in range(first, fix.max_attempts + 1):
        attempt_env = {"SHELL_ATTEMPT": str(attempt), "TEST_ATTEMPT": str(attempt)}
        result = run_command(step, ctx, extra_env=attempt_env, timeout=timeout)
        if result.ok:
            return replace(result, note=f"passed on attempt {attempt}" if attempt > 1 else None)
        if progress:
            progress.record(attempt)
        if attempt >= fix.max_attempts:
            break
        # Over 10 KB the fix command gets a file path instead of the text (upstream's rule);
        # the file only has to live as long as that command.
        output_file: Path | None = None
        if outputs.shell_output_too_big(result.stdout, result.stderr):
            output_file = outputs.write_shell_output_file(result.stdout, result.stderr)
            shell_output = str(output_file)
        else:
            shell_output = outputs.shell_output_text(result.stdout, result.stderr)
        ctx.variables.update({"shell.attempt": attempt, "shell.exit_code": result.exit_code,
                              "shell.output": shell_output})
        fix_step = Step(claude=fix.claude)
        ctx.console.substep(f"attempt {attempt}/{fix.max_attempts} failed (exit code {result.exit_code}); "
                            f"on_failure: {fix_step.display}")
        try:
            fixed = run_command(fix_step, ctx)
        finally:
            if output_file is not None:
                output_file.unlink(missing_ok=True)
        if not fixed.ok:
            ctx.console.warn(f"Debug command failed, but continuing with retry ({fixed.error})")
    if fix.fail_workflow:
        raise StepFailed(f"Shell command failed after {fix.max_attempts} attempts and fail_workflow is true\n"
                         f"{result.error or ''}".rstrip(), step=step.display)
    ctx.console.warn(f"'{step.display}' failed after {fix.max_attempts} attempts; "
                     "the workflow continues (on_failure has fail_workflow: false)")
    return replace(result, note="[Note: Command failed but workflow continues due to on_failure configuration]")


def _handle_failure(step: Step, handler: Handler, failed: CommandResult, ctx: StepContext,
                    timeout: int | None) -> CommandResult:
    """A generic handler: recover by running its steps; else retry; else fail or continue."""
    ctx.variables.update({
        "error.message": (failed.stderr or failed.error or "").strip(), "error.exit_code": failed.exit_code,
        "error.step": step.display, "error.timestamp": datetime.now(timezone.utc).isoformat(),
    })
    if handler.steps:
        recovered = True
        for handler_step in handler.steps:
            ctx.console.substep(f"on_failure: {handler_step.display}")
            try:
                if not execute_step(handler_step, ctx).success:
                    recovered = False
            except StepFailed as exc:
                ctx.console.warn(f"on_failure handler failed: {exc.message.splitlines()[0]}")
                recovered = False
            if not recovered:
                break
        if recovered:
            return CommandResult(0, failed.stdout, failed.stderr, failed.duration,
                                 note="recovered by on_failure handler")
    result = failed
    for retry in range(1, handler.max_retries + 1):
        ctx.console.substep(f"retry {retry}/{handler.max_retries}: {step.display}")
        result = run_command(step, ctx, timeout=timeout)
        if result.ok:
            return replace(result, note=f"passed on retry {retry}")
    if handler.fail_workflow:
        raise StepFailed(result.error or f"Step '{step.display}' failed", step=step.display)
    ctx.console.warn(f"'{step.display}' failed; the workflow continues (on_failure)")
    return replace(result, note="[Note: Command failed but workflow continues due to on_failure configuration]")


# -- outputs --------------------------------------------------------------------------------------

def _record_outputs(step: Step, result: CommandResult, commits: tuple[git.Commit, ...], files: tuple[str, ...],
                    ctx: StepContext) -> None:
    text = outputs.select_streams(result.stdout, result.stderr, step.capture_streams)
    kind = step.kind.value
    variables = ctx.variables
    # `<kind>.output` is always kept (upstream sets it only when captured; a superset costs nothing).
    variables.update({f"{kind}.output": text.strip(), f"{kind}.exit_code": result.exit_code,
                      "last.output": text.strip(), "last.exit_code": result.exit_code,
                      "step.commits": [c.sha for c in commits], "step.files_changed": list(files)})
    if step.captures_output:
        try:
            value = parse_capture(text, step.capture_format)
        except CaptureError as exc:
            raise StepFailed(f"Step '{step.display}': cannot capture its output as {step.capture_format.value}: {exc}",
                             step=step.display) from exc
        variables["CAPTURED_OUTPUT"] = value
        name = step.capture_name
        if name:
            variables.update({name: value, f"{name}.exit_code": result.exit_code, f"{name}.success": result.ok,
                              f"{name}.stderr": result.stderr.strip(), f"{name}.duration": round(result.duration, 3)})
    if step.id:
        variables.update({f"{step.id}.output": text.strip(), f"{step.id}.exit_code": result.exit_code})
        for name, declared in step.outputs.items():
            found = outputs.declared_output(commits, declared.file_pattern)
            if found is not None:
                variables[f"{step.id}.{name}"] = found
    if step.output_file:
        _write_output_file(step, text, ctx)


def _write_output_file(step: Step, text: str, ctx: StepContext) -> None:
    assert step.output_file is not None
    try:
        target = contain(ctx.workdir, interpolate(step.output_file, ctx.variables), ctx.roots, what="output_file")
        if target.is_dir():
            raise PathRefused(f"output_file {target} is a directory; give a file name")
        target.parent.mkdir(parents=True, exist_ok=True)
        # Output, like the terminal: secrets are masked here too.
        target.write_text(ctx.mask(text), encoding="utf-8", errors="surrogateescape")
    except (PathRefused, OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise StepFailed(ctx.mask(f"Step '{step.display}': cannot write its output_file: {reason}"),
                         step=step.display) from exc
