"""The variables MapReduce phases see. Pure.

Map phase, per work item (upstream `resources/agent.rs`, `coordination/executor.rs`)::

    ${item}          the whole item (JSON for objects and lists, the text for strings)
    ${item.field}    a field of it, ${item.a.b[0]} nested
    ${item_index}    its position among the selected items, from 0
    ${item_total}    how many items were selected
    ${item_id}       item_<index>, also the env var PRODIGY_ITEM_ID
    ${item_json}     the item as JSON text
    ${item.item}     for an item that is a line of an input command's output: the line (upstream's name)

Reduce phase (upstream `reduce_phase.rs`)::

    ${map.total} ${map.successful} ${map.failed} ${map.success_rate}  (a whole percentage)
    ${map.results}       the agents' results (JSON when interpolated; ${map.results[0].output} works)
    ${map.results_json}  the same as JSON text
    ${map.outputs}       the successful agents' outputs, as a JSON list
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["AgentResult", "item_id", "item_label", "item_variables", "map_variables"]


def item_id(index: int) -> str:
    return f"item_{index}"


def item_variables(item: object, *, index: int, total: int) -> dict[str, object]:
    variables: dict[str, object] = {
        "item": item, "item_index": index, "item_total": total, "item_id": item_id(index),
        "item_json": json.dumps(item, separators=(",", ":"), default=str)}
    if isinstance(item, str):
        variables["item.item"] = item   # upstream's name for a line of an input command's output
    return variables


def item_label(item: object, limit: int = 60) -> str:
    """A short, single-line description of a work item for progress lines."""
    if isinstance(item, Mapping):
        for key in ("name", "title", "path", "file", "id", "item"):
            value = item.get(key)
            if isinstance(value, str | int | float) and not isinstance(value, bool):
                text = f"{key}={value}"
                break
        else:
            text = json.dumps(item, separators=(",", ":"), default=str)
    elif isinstance(item, str):
        text = item
    else:
        text = json.dumps(item, separators=(",", ":"), default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


@dataclass(frozen=True)
class AgentResult:
    """How one work item's agent ended, as the reduce phase sees it."""

    item_id: str
    success: bool
    output: str = ""
    error: str | None = None
    commits: tuple[str, ...] = ()
    duration: float = 0.0
    item: object = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        return {"item_id": self.item_id, "agent_id": self.item_id, "success": self.success,
                "status": "success" if self.success else "failed", "output": self.output, "error": self.error,
                "commits": list(self.commits), "duration": round(self.duration, 3), "item": self.item,
                **self.extra}


def map_variables(results: Sequence[AgentResult], total: int | None = None) -> dict[str, object]:
    count = len(results) if total is None else total
    successful = sum(1 for result in results if result.success)
    failed = sum(1 for result in results if not result.success)
    as_json = [result.to_json() for result in results]
    return {
        "map.total": count,
        "map.successful": successful,
        "map.failed": failed,
        "map.success_rate": int(successful * 100 / count) if count else 0,
        "map.results": as_json,
        "map.results_json": json.dumps(as_json, default=str),
        "map.outputs": json.dumps([result.output for result in results if result.success and result.output],
                                  default=str),
    }
