"""`validate:` and `on_incomplete:` after a successful step (upstream's implement.yml loop).

Run the validator; read a ValidationResult JSON from ``result_file`` (or the validator's stdout);
while completion is under ``threshold``, run the ``on_incomplete`` steps (with
``${validation.gaps}``, ``${validation.missing}``, ...) and validate again, up to ``max_attempts``.
Still incomplete: fail with ``Validation failed after N attempts. Completion: X%`` when
``fail_workflow`` (the default), else warn and go on.
"""

from __future__ import annotations

from prodigy.local import outputs
from prodigy.repo import git
from prodigy.local.steps import StepContext, StepFailed, execute_step, run_command
from prodigy.workflow.interpolate import interpolate
from prodigy.workflow.model import Incomplete, Step, Validation


def run_validation(step: Step, validation: Validation, ctx: StepContext) -> outputs.ValidationResult:
    result = _validate_once(validation, ctx)
    incomplete = validation.on_incomplete
    attempts = 0
    while not result.passes(validation.threshold) and incomplete is not None and attempts < incomplete.max_attempts:
        attempts += 1
        ctx.console.substep(f"{outputs.format_validation(result, validation.threshold)}; "
                            f"on_incomplete attempt {attempts}/{incomplete.max_attempts}")
        if not _complete_once(incomplete, ctx):
            break
        result = _validate_once(validation, ctx)
    summary = outputs.format_validation(result, validation.threshold)
    if result.passes(validation.threshold):
        ctx.console.step_progress(summary)
        return result
    fail = incomplete.fail_workflow if incomplete is not None else True
    if fail:
        ctx.console.error(summary)
        tries = max(attempts, 1)
        raise StepFailed(f"Validation failed after {tries} attempt{'s' if tries != 1 else ''}. "
                         f"Completion: {result.completion_percentage:.1f}%", step=step.display)
    ctx.console.warn(f"{summary}; continuing (on_incomplete has fail_workflow: false)")
    return result


def _validate_once(validation: Validation, ctx: StepContext) -> outputs.ValidationResult:
    last_stdout = ""
    for validator in validation.steps:
        ctx.console.substep(f"validate: {validator.display}")
        ran = run_command(validator, ctx, timeout=validation.timeout)
        if not ran.ok:
            result = outputs.ValidationResult(0.0, "failed", problem=f"validator '{validator.display}' failed "
                                                                     f"with exit code {ran.exit_code}")
            ctx.variables.update(result.variables())
            return result
        last_stdout = ran.stdout
    if validation.result_file:
        path = ctx.workdir / interpolate(validation.result_file, ctx.variables)
        try:
            # Written by Claude or a validator: read it as the data it should be, whatever it holds.
            text = path.read_bytes().decode("utf-8", errors="replace") if path.is_file() else None
        except (OSError, ValueError):
            text = None
        if text is None:
            result = outputs.ValidationResult(0.0, "failed", problem=f"result file {path} was not written")
        else:
            result = outputs.parse_validation_result(text, str(path))
    else:
        result = outputs.parse_validation_result(last_stdout, "the validator's output")
    ctx.variables.update(result.variables())
    return result


def _complete_once(incomplete: Incomplete, ctx: StepContext) -> bool:
    """Run the on_incomplete steps; False when one fails (or commit_required and none committed)."""
    head_before = git.head_sha(ctx.workdir)
    for handler in incomplete.steps:
        ctx.console.substep(f"on_incomplete: {handler.display}")
        try:
            if not execute_step(handler, ctx).success:
                return False
        except StepFailed as exc:
            ctx.console.warn(f"on_incomplete step failed: {exc.message.splitlines()[0]}")
            return False
    if incomplete.commit_required and git.head_sha(ctx.workdir) == head_before:
        ctx.console.warn("on_incomplete made no commit (commit_required: true)")
        return False
    return True
