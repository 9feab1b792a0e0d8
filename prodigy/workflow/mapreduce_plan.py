"""The ``--dry-run``/``validate --plan`` text of a MapReduce workflow. Pure; nothing is run."""

from __future__ import annotations

from collections.abc import Sequence

from prodigy.workflow.mapreduce import ItemFailure, MapReduceWorkflow
from prodigy.workflow.model import Step
from prodigy.workflow.plan import format_step_options

__all__ = ["format_mapreduce_plan", "summarize_mapreduce"]

_INDENT = "   "


def summarize_mapreduce(workflow: MapReduceWorkflow) -> str:
    """``setup 2 steps, map 3 steps per item (up to 10 agents), reduce 1 step``."""
    parts = []
    if workflow.setup is not None:
        parts.append(f"setup {_steps(len(workflow.setup.steps))}")
    parts.append(f"map {_steps(len(workflow.map.agent_steps))} per item (up to {workflow.map.max_parallel} agents)")
    if workflow.reduce:
        parts.append(f"reduce {_steps(len(workflow.reduce))}")
    return ", ".join(parts)


def _steps(count: int) -> str:
    return f"{count} step{'' if count == 1 else 's'}"


def format_mapreduce_plan(workflow: MapReduceWorkflow) -> str:
    lines = [f"MapReduce workflow: {workflow.name}" + (f" ({workflow.source})" if workflow.source else "")]
    if workflow.env or workflow.secrets:
        names = sorted(workflow.env) + [f"{name} (secret)" for name in sorted(workflow.secrets)]
        lines.append(f"Environment: {', '.join(names)}")
    if workflow.setup is not None:
        timeout = f" (timeout {workflow.setup.timeout}s)" if workflow.setup.timeout else ""
        lines.append(f"Setup, in the session worktree{timeout}:")
        lines.extend(_numbered(workflow.setup.steps))
    spec = workflow.map
    lines.append("Map:")
    lines.append(f"{_INDENT}input: {spec.input}" + (f"  json_path: {spec.json_path}" if spec.json_path else ""))
    selection = [
        f"filter: {spec.filter.text}" if spec.filter else None,
        f"sort_by: {spec.sort_text}" if spec.sort_text else None,
        f"distinct: {spec.distinct}" if spec.distinct else None,
        f"offset: {spec.offset}" if spec.offset else None,
        f"max_items: {spec.max_items}" if spec.max_items is not None else None,
    ]
    shown = [part for part in selection if part]
    if shown:
        lines.append(f"{_INDENT}" + " · ".join(shown))
    timeout = f", each within {spec.agent_timeout}s" if spec.agent_timeout else ""
    lines.append(f"{_INDENT}up to {spec.max_parallel} agents at once, each in its own worktree{timeout}; "
                 "per item:")
    lines.extend(_numbered(spec.agent_steps, depth=2))
    policy = workflow.error_policy
    failure = {ItemFailure.DLQ: "to the dead-letter queue", ItemFailure.SKIP: "skipped",
               ItemFailure.STOP: "stops the map phase",
               ItemFailure.RETRY: f"retried (up to {policy.retry_attempts} attempts), then to the dead-letter queue"}
    lines.append(f"{_INDENT}a failed item goes {failure[policy.on_item_failure]}" if policy.on_item_failure is not
                 ItemFailure.STOP else f"{_INDENT}a failed item {failure[policy.on_item_failure]}")
    limits = [f"max_failures: {policy.max_failures}" if policy.max_failures is not None else None,
              f"failure_threshold: {policy.failure_threshold:g}" if policy.failure_threshold is not None else None,
              "continue_on_failure: false" if not policy.continue_on_failure else None]
    if any(limits):
        lines.append(f"{_INDENT}stop when " + ", ".join(limit for limit in limits if limit))
    lines.append(f"{_INDENT}successful agents are merged into the session worktree one at a time "
                 "(git merge --no-ff; Claude /prodigy-merge-worktree on a conflict)")
    if workflow.reduce:
        lines.append("Reduce, in the session worktree (${map.total}, ${map.successful}, ${map.failed}, "
                     "${map.results} ...):")
        lines.extend(_numbered(workflow.reduce))
    lines.append("Merge:")
    if workflow.merge is None:
        lines.append(f"{_INDENT}git merge --no-ff into the original branch "
                     "(Claude /prodigy-merge-worktree on conflict)")
    else:
        lines.extend(_numbered(workflow.merge.steps))
    lines.append("Dry run: nothing was executed.")
    return "\n".join(lines)


def _numbered(steps: Sequence[Step], depth: int = 1) -> list[str]:
    lines = []
    for index, step in enumerate(steps, start=1):
        lines.append(f"{_INDENT * depth}{index}. {step.display}")
        options = format_step_options(step)
        if options:
            lines.append(f"{_INDENT * depth}   {options}")
    return lines
