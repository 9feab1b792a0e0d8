"""What a MapReduce session says and hands on between phases, wherever it ran.

    announce_selection(console, lines, found, selected, source)   "Map: 5 items from notes.json" ...
    enter_map(store, header, items, lines, base, captured)         items frozen, phase -> map
    report_map(console, states, header, session_id)                "Map phase: 4 of 5 items succeeded"
    reduce_variables(header, states, items)                        what reduce sees: setup's + ${map.*}
    arg_variables(args)                                            ${ARG}, ${ARG_1}... from --args
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from prodigy.mapreduce.journal import ItemState, ItemStatus, JobHeader, JobStore, Phase
from prodigy.ui.console import Console
from prodigy.ui.format import plural
from prodigy.workflow.mapreduce_vars import AgentResult, item_id, map_variables

__all__ = ["agent_results", "announce_selection", "arg_variables", "enter_map", "reduce_variables", "report_map"]


def announce_selection(console: Console, lines: Sequence[str], *, found: int, selected: int, source: str) -> None:
    for line in lines:
        console.info(f"Map: {line}")
    if selected == 0 and found:
        console.warn(f"no work items selected: {found} found, 0 left after " + "; ".join(lines[1:])
                     + " — the map phase has nothing to do")
    elif found == 0:
        console.warn(f"the map input ({source}) has no work items; the map phase has nothing to do")


def enter_map(store: JobStore, header: JobHeader, items: list[Any], lines: Sequence[str], *, base: str,
              captured: Mapping[str, Any]) -> JobHeader:
    """The items are chosen once, here, and kept: a resume works on the same items."""
    store.save_items(items)
    return store.save_header(replace(header, phase=Phase.MAP, map_base_sha=base, total=len(items),
                                     selection=tuple(lines), setup_variables=dict(captured)))


def report_map(console: Console, states: Sequence[ItemState], header: JobHeader, session_id: str) -> None:
    succeeded = sum(1 for state in states if state.status is ItemStatus.SUCCEEDED)
    failed = [state for state in states if state.status is ItemStatus.FAILED]
    merged = sum(1 for state in states if state.merged)
    line = f"Map phase: {succeeded} of {plural(len(states), 'item')} succeeded ({merged} merged)"
    if not failed:
        console.info(line)
        return
    console.info(line + f", {len(failed)} failed")
    queued = sum(1 for state in failed if state.in_dlq)
    if queued:
        owner = header.retry_of or session_id
        console.warn(f"{plural(queued, 'failed item')} in the dead-letter queue: "
                     f"prodigy dlq list {owner}  (retry with: prodigy dlq retry {owner})")


def agent_results(states: Sequence[ItemState], items: Sequence[Any]) -> list[AgentResult]:
    return [AgentResult(item_id=item_id(state.index), success=state.status is ItemStatus.SUCCEEDED,
                        output=state.output, error=state.error, commits=state.commits, duration=state.duration,
                        item=items[state.index] if state.index < len(items) else None)
            for state in states if state.finished]


def reduce_variables(header: JobHeader, states: Sequence[ItemState], items: Sequence[Any]) -> dict[str, object]:
    return {**header.setup_variables, **map_variables(agent_results(states, items), header.total)}


def arg_variables(args: tuple[str, ...]) -> dict[str, object]:
    if not args:
        return {}
    return {"ARG": args[0], **{f"ARG_{number}": word for number, word in enumerate(args[0].split(), start=1)}}
