"""The ``--dry-run`` plan: what a run would do, as text. Pure; nothing is executed or created."""

from __future__ import annotations

from collections.abc import Sequence

from prodigy.workflow.model import Handler, RetryFix, Step, StepKind, Validation, Workflow

__all__ = ["format_plan", "format_step_options"]

_INDENT = "   "


def format_plan(
    workflow: Workflow,
    *,
    inputs: Sequence[str] = (),
    max_iterations: int = 1,
) -> str:
    """Describe the run: workflow, iterations, every step with its options and handlers, the merge.

    ``inputs`` are the ``--args``/``--map`` values (one pass over the steps per input).
    """
    lines = [f"Workflow: {workflow.name}" + (f" ({workflow.source})" if workflow.source else "")]
    if inputs:
        shown = ", ".join(inputs)
        lines.append(f"Runs: once per input ({len(inputs)}): ARG = {shown}")
    if max_iterations > 1:
        lines.append(f"Iterations: up to {max_iterations}")
    if workflow.env or workflow.secrets:
        names = sorted(workflow.env) + [f"{name} (secret)" for name in sorted(workflow.secrets)]
        lines.append(f"Environment: {', '.join(names)}")
    count = len(workflow.steps)
    lines.append(f"Steps ({count}):")
    for index, step in enumerate(workflow.steps, start=1):
        lines.extend(_format_step(step, f"{index}.", depth=1))
    lines.append("Merge:")
    if workflow.merge is None:
        lines.append(f"{_INDENT}git merge --no-ff into the original branch (Claude /prodigy-merge-worktree on conflict)")
    else:
        if workflow.merge.timeout is not None:
            lines.append(f"{_INDENT}timeout: {workflow.merge.timeout}s")
        for index, step in enumerate(workflow.merge.steps, start=1):
            lines.extend(_format_step(step, f"{index}.", depth=1))
    lines.append("Dry run: nothing was executed.")
    return "\n".join(lines)


def _format_step(step: Step, number: str, *, depth: int) -> list[str]:
    pad = _INDENT * depth
    lines = [f"{pad}{number} {_headline(step)}"]
    detail = pad + " " * (len(number) + 1)
    options = format_step_options(step)
    if options:
        lines.append(f"{detail}{options}")
    if step.kind is StepKind.SHELL and "\n" in step.command.strip():
        lines.extend(f"{detail}| {line}" for line in step.command.strip().splitlines())
    if step.foreach is not None:
        for index, child in enumerate(step.foreach.steps, start=1):
            lines.extend(_format_step(child, f"{number}{index}.", depth=depth + 1))
    failure = step.failure
    if isinstance(failure, RetryFix):
        lines.append(
            f"{detail}on failure: retry up to {failure.max_attempts} attempts, fixing with claude: {failure.claude}"
            + ("; then fail the workflow" if failure.fail_workflow else "; then continue")
        )
    elif isinstance(failure, Handler):
        lines.extend(_format_handler(failure, detail))
    if step.on_success is not None:
        lines.append(f"{detail}on success: {_headline(step.on_success)}")
    validation = step.validation
    if validation is not None:
        lines.extend(_format_validation(validation, detail))
    return lines


def _headline(step: Step) -> str:
    if step.foreach is not None:
        spec = step.foreach
        source = f"items {spec.items!r}" if isinstance(spec.items, list) else f"lines of `{spec.items}`"
        extras = []
        if spec.max_parallel > 1:
            extras.append(f"{spec.max_parallel} in parallel")
        if spec.max_items is not None:
            extras.append(f"at most {spec.max_items}")
        if spec.continue_on_error:
            extras.append("continue on error")
        suffix = f" ({', '.join(extras)})" if extras else ""
        label = f"{step.name}: " if step.name else ""
        return f"{label}foreach over {source}{suffix}"
    if step.write_file is not None:
        spec_wf = step.write_file
        label = f"{step.name}: " if step.name else ""
        return f"{label}write_file: {spec_wf.path} ({spec_wf.format}, mode {spec_wf.mode})"
    if step.name is not None:
        return f"{step.name} ({step.kind.value}: {_first_line(step.command)})"
    return step.display


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()
    return (lines[0] + (" …" if len(lines) > 1 else "")) if lines else ""


def format_step_options(step: Step) -> str:
    """The options that change how a step runs, e.g. ``when: ${ok} · timeout: 60s · commit required``."""
    parts: list[str] = []
    if step.id is not None:
        parts.append(f"id: {step.id}")
    if step.when is not None:
        parts.append(f"when: {step.when}")
    if step.commit_required:
        parts.append("commit required")
    if step.timeout is not None:
        parts.append(f"timeout: {step.timeout}s")
    if step.working_dir is not None:
        parts.append(f"working_dir: {step.working_dir}")
    if step.env:
        parts.append(f"env: {', '.join(sorted(step.env))}")
    if step.captures_output:
        target = step.capture_name or f"{step.kind.value}.output"
        parts.append(f"capture -> {target} ({step.capture_format.value}, {step.capture_streams.value})")
    if step.output_file is not None:
        parts.append(f"output_file: {step.output_file}")
    return " · ".join(parts)


def _format_handler(handler: Handler, detail: str) -> list[str]:
    if not handler.steps:
        return [f"{detail}on failure: " + ("fail the workflow" if handler.fail_workflow else "ignore and continue")]
    outcome = "fail the workflow" if handler.fail_workflow else "continue"
    retries = f", re-run the step up to {handler.max_retries}x" if handler.max_retries else ""
    lines = [f"{detail}on failure (then {outcome}{retries}):"]
    lines.extend(f"{detail}{_INDENT}- {_headline(step)}" for step in handler.steps)
    return lines


def _format_validation(validation: Validation, detail: str) -> list[str]:
    source = f", result file {validation.result_file}" if validation.result_file else ""
    lines = [f"{detail}validate (threshold {validation.threshold:g}%{source}):"]
    lines.extend(f"{detail}{_INDENT}- {_headline(step)}" for step in validation.steps)
    incomplete = validation.on_incomplete
    if incomplete is not None:
        outcome = "fail the workflow" if incomplete.fail_workflow else "continue"
        lines.append(f"{detail}on incomplete (up to {incomplete.max_attempts} attempts, then {outcome}):")
        lines.extend(f"{detail}{_INDENT}- {_headline(step)}" for step in incomplete.steps)
    return lines
