"""The JSONPath subset MapReduce `json_path:` uses (upstream's `data_pipeline/json_path.rs`).

    $                 the document
    .name  / name     a field of an object
    [3]               an element of a list
    [*]  / name[*]    every element of a list
    ..name            every value of a field called ``name``, at any depth
    [?(@.f OP v)]     the elements of a list whose field ``f`` compares true (== = != > < >= <=)

Selection never fails on data that does not fit: a missing field or an index out of range simply
selects nothing, as upstream does. A malformed expression is an error (`JsonPathError`), reported
when the workflow is loaded. Hand-written rather than a library: upstream's dialect is small and
lenient in its own ways (a bare leading field, ``name[*]``), and the point is to select exactly what
upstream selects. Pure; no I/O.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TypeAlias

__all__ = ["JsonPathError", "compile_path", "select"]


class JsonPathError(ValueError):
    """A `json_path:` expression that cannot be parsed."""


@dataclass(frozen=True)
class _Field:
    name: str


@dataclass(frozen=True)
class _Index:
    index: int


@dataclass(frozen=True)
class _All:
    pass


@dataclass(frozen=True)
class _Descend:
    name: str


@dataclass(frozen=True)
class _Where:
    field: str
    operator: str
    value: str


_Component: TypeAlias = _Field | _Index | _All | _Descend | _Where
_FILTER = re.compile(r"^\s*@\.?(?P<field>[^\s=!<>]+)\s*(?P<op>==|=|!=|>=|<=|>|<)\s*(?P<value>.+?)\s*$")


def compile_path(expression: str) -> tuple[_Component, ...]:
    """Parse ``expression``; raise `JsonPathError` naming what is wrong."""
    text = expression.strip()
    components: list[_Component] = []
    position = 0
    if text.startswith("$"):
        position = 1
        if text[position:position + 1] == "." and text[position:position + 2] != "..":
            position += 1
    while position < len(text):
        if text.startswith("..", position):
            position += 2
            name, position = _field_name(text, position)
            if not name:
                raise JsonPathError(f"`..` must be followed by a field name in {expression!r}")
            components.append(_Descend(name))
        elif text[position] == "[":
            end = text.find("]", position)
            if text.startswith("[?(", position):
                end = text.find(")]", position)
                if end < 0:
                    raise JsonPathError(f"unclosed filter `[?(` in {expression!r}")
                components.append(_where(text[position + 3:end], expression))
                position = end + 2
            elif end < 0:
                raise JsonPathError(f"unclosed `[` in {expression!r}")
            else:
                inside = text[position + 1:end].strip()
                if inside == "*":
                    components.append(_All())
                elif inside.isdigit():
                    components.append(_Index(int(inside)))
                elif len(inside) >= 2 and inside[0] == inside[-1] and inside[0] in "'\"":
                    components.append(_Field(inside[1:-1]))
                else:
                    raise JsonPathError(f"`[{inside}]` is not an index, `*` or a quoted field name in {expression!r}")
                position = end + 1
        else:
            name, position = _field_name(text, position)
            if name:
                components.append(_Field(name))
        if text.startswith(".", position) and not text.startswith("..", position):
            position += 1
    return tuple(components)


def _field_name(text: str, position: int) -> tuple[str, int]:
    end = position
    while end < len(text) and text[end] not in ".[":
        end += 1
    return text[position:end].strip(), end


def _where(body: str, expression: str) -> _Where:
    match = _FILTER.match(body)
    if match is None:
        raise JsonPathError(f"filter `[?({body})]` in {expression!r} must look like `@.field OP value`")
    value = match["value"]
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    return _Where(match["field"], match["op"], value)


def select(document: object, expression: str) -> list[object]:
    """Every value ``expression`` selects in ``document`` (in document order)."""
    values: list[object] = [document]
    for component in compile_path(expression):
        values = [found for value in values for found in _apply(component, value)]
    return values


def _apply(component: _Component, value: object) -> Iterator[object]:
    if isinstance(component, _Field):
        if isinstance(value, dict) and component.name in value:
            yield value[component.name]
    elif isinstance(component, _Index):
        if isinstance(value, list) and component.index < len(value):
            yield value[component.index]
    elif isinstance(component, _All):
        if isinstance(value, list):
            yield from value
    elif isinstance(component, _Descend):
        yield from _descend(value, component.name)
    elif isinstance(value, list):
        yield from (element for element in value if _matches(element, component))


def _descend(value: object, name: str) -> Iterator[object]:
    if isinstance(value, dict):
        if name in value:
            yield value[name]
        for child in value.values():
            yield from _descend(child, name)
    elif isinstance(value, list):
        for child in value:
            yield from _descend(child, name)


def _matches(element: object, where: _Where) -> bool:
    if not isinstance(element, dict) or where.field not in element:
        return where.operator == "!="
    actual = element[where.field]
    if where.operator in ("==", "="):
        return _equal(actual, where.value)
    if where.operator == "!=":
        return not _equal(actual, where.value)
    number = _number(where.value)
    if isinstance(actual, bool) or not isinstance(actual, int | float) or number is None:
        return False
    return {">": actual > number, "<": actual < number, ">=": actual >= number, "<=": actual <= number}[where.operator]


def _equal(actual: object, expected: str) -> bool:
    if isinstance(actual, str):
        return actual == expected
    if isinstance(actual, bool):
        return json.dumps(actual) == expected
    if isinstance(actual, int | float):
        number = _number(expected)
        return number is not None and float(actual) == number
    return False


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None

