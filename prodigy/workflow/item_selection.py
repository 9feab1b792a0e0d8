"""From a MapReduce input to the work items the agents get. Pure: text in, items and counts out.

Order of the pipeline (upstream's `DataPipeline::process`)::

    json_path -> filter -> sort_by -> distinct -> offset -> max_items

Every stage's item count is kept in `Selection`, so a run can say exactly where items went
(``12 items; filter kept 0 of 12``) instead of silently running nothing.

Input text is either a JSON document (a file) or a command's output: the whole output as JSON
when it parses (an array is the item list, anything else one item), else one item per non-empty
line, each line parsed as JSON when it is JSON and otherwise the line itself as a string.
(Upstream wraps such a line as ``{"item": "<line>"}``, so its ``${item}`` prints that object
where its own examples expect the line; here ``${item}`` is the line, and ``${item.item}`` still
works, see `prodigy.workflow.mapreduce_vars`.)
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from prodigy.workflow import jsonpath
from prodigy.workflow.item_filter import FilterExpression, SortKey, lookup, sort_items

__all__ = ["InputError", "Selection", "SelectionSpec", "items_from_command_output", "parse_json_input",
           "select_items"]


class InputError(ValueError):
    """The input cannot be read as work items."""


@dataclass(frozen=True)
class SelectionSpec:
    json_path: str | None = None
    filter: FilterExpression | None = None
    sort_by: tuple[SortKey, ...] = ()
    distinct: str | None = None
    offset: int | None = None
    max_items: int | None = None


@dataclass(frozen=True)
class Selection:
    """The selected items plus how many there were after each stage."""

    items: tuple[object, ...]
    found: int               # after json_path (or the whole input)
    after_filter: int
    after_distinct: int
    after_offset: int

    @property
    def selected(self) -> int:
        return len(self.items)

    def describe(self, spec: SelectionSpec) -> list[str]:
        """One line per stage that changed something, e.g. ``filter `score >= 5` kept 3 of 12``."""
        lines = []
        if spec.filter is not None:
            lines.append(f"filter `{spec.filter.text}` kept {self.after_filter} of {self.found}")
        if spec.distinct is not None and self.after_distinct != self.after_filter:
            lines.append(f"distinct `{spec.distinct}` kept {self.after_distinct} of {self.after_filter}")
        if spec.offset:
            lines.append(f"offset {spec.offset} skipped {self.after_distinct - self.after_offset}")
        if spec.max_items is not None and self.selected < self.after_offset:
            lines.append(f"max_items {spec.max_items} kept {self.selected} of {self.after_offset}")
        return lines


def parse_json_input(text: str, source: str) -> object:
    """A JSON input file's document; `InputError` names the file, line and column when it is not JSON."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise InputError(f"{source} is not valid JSON ({error.msg} at line {error.lineno}, "
                         f"column {error.colno})") from None


def items_from_command_output(stdout: str) -> list[object]:
    """Work items from an input command's stdout (see the module docstring)."""
    text = stdout.strip()
    if not text:
        return []
    try:
        whole = json.loads(text)
    except json.JSONDecodeError:
        pass
    else:
        return list(whole) if isinstance(whole, list) else [whole]
    items: list[object] = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line:
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError:
            items.append(line)
    return items


def select_items(document: object, spec: SelectionSpec) -> Selection:
    """Run the pipeline over ``document`` (a parsed JSON file, or the list of command items)."""
    if spec.json_path:
        items = jsonpath.select(document, spec.json_path)
    else:
        items = list(document) if isinstance(document, list) else [document]
    found = len(items)
    if spec.filter is not None:
        items = [item for item in items if spec.filter.matches(item)]
    after_filter = len(items)
    if spec.sort_by:
        items = sort_items(items, spec.sort_by)
    if spec.distinct is not None:
        items = _distinct(items, spec.distinct)
    after_distinct = len(items)
    if spec.offset:
        items = items[spec.offset:]
    after_offset = len(items)
    if spec.max_items is not None:
        items = items[:spec.max_items]
    return Selection(tuple(items), found, after_filter, after_distinct, after_offset)


def _distinct(items: list[object], path: str) -> list[object]:
    seen: set[str] = set()
    kept = []
    for item in items:
        value = lookup(item, path)
        key = json.dumps(value if isinstance(value, (dict, list, str, int, float, bool)) or value is None else None,
                         sort_keys=True)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept
