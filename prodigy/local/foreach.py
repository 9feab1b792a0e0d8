"""`foreach:` steps: run the `do:` steps once per item, with ``${item}`` (and ``${item_index}``).

Items come from a list (each interpolated) or from a shell command's non-empty output lines.
Items run one at a time in the worktree: parallel items would race on the same checkout and the
same variables, so ``parallel:`` is accepted and treated as sequential (said once with -v).
"""

from __future__ import annotations

from pathlib import Path

from prodigy.local.shell import run_shell
from prodigy.local.steps import CommandResult, StepContext, StepFailed, execute_step
from prodigy.workflow.interpolate import interpolate
from prodigy.workflow.model import Step


def run_foreach(step: Step, cwd: Path, env: dict[str, str], ctx: StepContext) -> CommandResult:
    spec = step.foreach
    assert spec is not None
    if isinstance(spec.items, str):
        source = run_shell(interpolate(spec.items, ctx.variables), cwd=cwd, env=env)
        if not source.success:
            return CommandResult(source.exit_code, source.stdout, source.stderr,
                                 error=f"foreach: the item command failed with exit code {source.exit_code}: "
                                       f"{source.stderr.strip()}")
        items = [line.strip() for line in source.stdout.splitlines() if line.strip()]
    else:
        items = [interpolate(item, ctx.variables) for item in spec.items]
    if spec.max_items is not None:
        items = items[: spec.max_items]
    if spec.max_parallel > 1:
        ctx.console.detail("foreach: items run one at a time in the worktree (parallel is not used)")
    failed: list[str] = []
    for index, item in enumerate(items):
        ctx.variables.update({"item": item, "item_index": index, "item_total": len(items)})
        ctx.console.substep(f"item {index + 1}/{len(items)}: {item}")
        try:
            for body_step in spec.steps:
                execute_step(body_step, ctx)
        except StepFailed as exc:
            if not spec.continue_on_error:
                raise StepFailed(f"foreach item '{item}' failed: {exc.message}", step=step.display) from exc
            ctx.console.warn(f"foreach item '{item}' failed; continuing (continue_on_error)")
            failed.append(item)
    for name in ("item", "item_index", "item_total"):
        ctx.variables.pop(name, None)
    note = f"{len(items)} items" + (f", {len(failed)} failed" if failed else "")
    return CommandResult(0, stdout="\n".join(items), note=note)
