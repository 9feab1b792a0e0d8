"""`map.filter` and `map.sort_by`: which work items an agent gets, and in what order. Pure.

Filter grammar (upstream's `data_pipeline/filter.rs`, plus what its docs promise)::

    expr    := or
    or      := and ( ("||" | OR) and )*
    and     := not ( ("&&" | AND) not )*
    not     := ("!" | NOT) not | "(" expr ")" | test
    test    := path OP value                      OP: == = != > < >= <= matches contains
                                                       starts_with ends_with
             | path in [value, ...]
             | FUNC(path [, value])               FUNC: contains starts_with ends_with matches
                                                       length is_null is_not_null is_number
                                                       is_string is_bool is_array is_object
    value   := 'text' | "text" | number | true | false | null | bare-word (text)
    path    := name ( .name | [index] )*

**Which field a path means.** Upstream's docs write ``item.score >= 5``; upstream's evaluator
looks that up as a field called ``item`` inside the work item and so silently selects nothing,
while a bare ``score >= 5`` works. Here both mean the work item's ``score``: a path whose first
name is ``item`` refers to the work item itself, *unless* the work item has a field of its own
called ``item`` (as the items read from a command's output lines do: ``{"item": "<line>"}``), in
which case ``item`` is that field, as upstream reads it.

Comparisons follow upstream: a missing field equals ``null``; ``> < >= <=`` compare two numbers
or two strings and are false otherwise; ``matches`` is a regular-expression search. Where
upstream's code contradicts its own intent, the intent wins: ``count == 5`` matches an integer 5
(upstream compares an integer with the float 5.0 and never matches), ``in [1, 2]`` compares
numbers as numbers, and function arguments are unquoted.

Sort keys: ``"field [ASC|DESC] [NULLS FIRST|LAST], ..."``; missing and null values sort last
unless ``NULLS FIRST``; ties keep input order.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

__all__ = [
    "FilterError",
    "FilterExpression",
    "MISSING",
    "SortKey",
    "lookup",
    "parse_filter",
    "parse_sort",
    "sort_items",
]


class FilterError(ValueError):
    """A `filter:` or `sort_by:` expression that cannot be parsed."""


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()

# -- paths ------------------------------------------------------------------------------------------

_PATH: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+|\[\d+\])*")
_SEGMENT: Final = re.compile(r"\[(\d+)\]|([^.\[\]]+)")


def path_segments(path: str) -> tuple[str | int, ...]:
    return tuple(int(index) if index else name for index, name in _SEGMENT.findall(path))


def lookup(item: object, path: str | Sequence[str | int]) -> object:
    """The value at ``path`` in ``item`` (see "Which field a path means"), or MISSING."""
    segments = path_segments(path) if isinstance(path, str) else tuple(path)
    if segments[:1] == ("item",) and not (isinstance(item, dict) and "item" in item):
        segments = segments[1:]
    value: object = item
    for segment in segments:
        if isinstance(segment, int) and isinstance(value, list) and 0 <= segment < len(value):
            value = value[segment]
        elif isinstance(segment, str) and isinstance(value, dict) and segment in value:
            value = value[segment]
        else:
            return MISSING
    return value


# -- tokens -----------------------------------------------------------------------------------------

_TOKEN: Final = re.compile(r"""
    \s*(?:
        (?P<string>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")
      | (?P<op>==|!=|>=|<=|&&|\|\||[=<>!(),\[\]])
      | (?P<word>[^\s=!<>(),\[\]'"&|]+(?:\[\d+\][^\s=!<>(),\[\]'"&|]*)*)
    )""", re.VERBOSE)

_WORD_OPERATORS: Final = {"and": "&&", "or": "||", "not": "!"}
_INFIX_WORDS: Final = ("matches", "contains", "starts_with", "ends_with")
_FUNCTIONS: Final = ("contains", "starts_with", "ends_with", "matches", "length", "is_null", "is_not_null",
                     "is_number", "is_string", "is_bool", "is_array", "is_object")


@dataclass(frozen=True)
class _Token:
    kind: str      # string | op | word
    text: str


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        if text[position:].strip() == "":
            break
        match = _TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise FilterError(f"unexpected {text[position:].strip()[:20]!r}")
        kind = match.lastgroup or "word"
        tokens.append(_Token(kind, match.group(kind)))
        position = match.end()
    return tokens


# -- expressions ------------------------------------------------------------------------------------

Value: TypeAlias = object


@dataclass(frozen=True)
class _Compare:
    path: str
    operator: str
    value: Value


@dataclass(frozen=True)
class _In:
    path: str
    values: tuple[Value, ...]


@dataclass(frozen=True)
class _Call:
    name: str
    path: str
    argument: Value


@dataclass(frozen=True)
class _Not:
    operand: _Node


@dataclass(frozen=True)
class _Both:
    left: _Node
    right: _Node


@dataclass(frozen=True)
class _Either:
    left: _Node
    right: _Node


_Node: TypeAlias = "_Compare | _In | _Call | _Not | _Both | _Either"


@dataclass(frozen=True)
class FilterExpression:
    """A parsed filter; `matches(item)` says whether a work item is selected."""

    text: str
    root: _Node

    def matches(self, item: object) -> bool:
        return _evaluate(self.root, item)


def parse_filter(text: str) -> FilterExpression:
    """Parse ``text``; raise `FilterError` with what is wrong and where."""
    try:
        parser = _Parser(_tokenize(text))
        root = parser.parse()
    except FilterError as error:
        raise FilterError(f"invalid filter {text!r}: {error}") from None
    return FilterExpression(text, root)


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.position = 0

    def parse(self) -> _Node:
        if not self.tokens:
            raise FilterError("it is empty")
        node = self._or()
        if self.position < len(self.tokens):
            raise FilterError(f"unexpected {self.tokens[self.position].text!r}")
        return node

    def _peek(self) -> _Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _operator(self) -> str | None:
        token = self._peek()
        if token is None or token.kind == "string":
            return None
        return _WORD_OPERATORS.get(token.text.lower(), token.text) if token.kind == "word" else token.text

    def _take(self) -> _Token:
        token = self._peek()
        if token is None:
            raise FilterError("it ends too early")
        self.position += 1
        return token

    def _expect(self, text: str) -> None:
        token = self._take()
        if token.text != text:
            raise FilterError(f"expected {text!r}, found {token.text!r}")

    def _or(self) -> _Node:
        node = self._and()
        while self._operator() == "||":
            self.position += 1
            node = _Either(node, self._and())
        return node

    def _and(self) -> _Node:
        node = self._not()
        while self._operator() == "&&":
            self.position += 1
            node = _Both(node, self._not())
        return node

    def _not(self) -> _Node:
        operator = self._operator()
        if operator == "!":
            self.position += 1
            return _Not(self._not())
        if operator == "(":
            self.position += 1
            node = self._or()
            self._expect(")")
            return node
        return self._test()

    def _test(self) -> _Node:
        token = self._take()
        if token.kind != "word":
            raise FilterError(f"expected a field name, found {token.text!r}")
        following = self._peek()
        if token.text in _FUNCTIONS and following is not None and following.text == "(":
            return self._call(token.text)
        path = token.text
        if not _PATH.fullmatch(path):
            raise FilterError(f"{path!r} is not a field name")
        operator = self._operator()
        if operator is None:
            raise FilterError(f"expected a comparison after {path!r} (e.g. {path} == 'value')")
        self.position += 1
        lowered = operator.lower()
        if lowered == "in":
            return _In(path, self._list())
        if lowered in _INFIX_WORDS:
            return _checked(_Compare(path, lowered, self._value()))
        if operator not in ("==", "=", "!=", ">", "<", ">=", "<="):
            raise FilterError(f"unknown operator {operator!r} after {path!r}")
        return _Compare(path, "==" if operator == "=" else operator, self._value())

    def _call(self, name: str) -> _Node:
        self._expect("(")
        path_token = self._take()
        if path_token.kind != "word" or not _PATH.fullmatch(path_token.text):
            raise FilterError(f"{name}() needs a field name first, found {path_token.text!r}")
        argument: Value = MISSING
        if self._operator() == ",":
            self.position += 1
            argument = self._value()
        self._expect(")")
        needs_argument = name in ("contains", "starts_with", "ends_with", "matches", "length")
        if needs_argument and argument is MISSING:
            raise FilterError(f"{name}() takes a field and a value, e.g. {name}(name, 'x')")
        if not needs_argument and argument is not MISSING:
            raise FilterError(f"{name}() takes only a field name")
        call = _Call(name, path_token.text, argument)
        if name == "matches":
            _checked(_Compare(call.path, "matches", argument))
        return call

    def _list(self) -> tuple[Value, ...]:
        self._expect("[")
        values: list[Value] = []
        while self._operator() != "]":
            values.append(self._value())
            if self._operator() == ",":
                self.position += 1
            elif self._operator() != "]":
                raise FilterError("expected ',' or ']' in the list")
        self._expect("]")
        return tuple(values)

    def _value(self) -> Value:
        token = self._take()
        if token.kind == "string":
            return _unquote(token.text)
        if token.kind != "word":
            raise FilterError(f"expected a value, found {token.text!r}")
        return _literal(token.text)


def _unquote(text: str) -> str:
    # No escape processing, like upstream: 'a\.rs$' is the regular expression a\.rs$ as written.
    return text[1:-1]


def _literal(text: str) -> Value:
    if text == "true":
        return True
    if text == "false":
        return False
    if text == "null":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if re.fullmatch(r"[+-]?\d+", text) else number


def _checked(compare: _Compare) -> _Compare:
    if compare.operator == "matches":
        if not isinstance(compare.value, str):
            raise FilterError(f"`matches` needs a quoted regular expression, got {compare.value!r}")
        try:
            re.compile(compare.value)
        except re.error as error:
            raise FilterError(f"bad regular expression {compare.value!r}: {error}") from None
    return compare


# -- evaluation -------------------------------------------------------------------------------------

def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(actual: object, expected: object) -> bool:
    if actual is MISSING or actual is None:
        return expected is None
    if _is_number(actual) and _is_number(expected):
        return float(actual) == float(expected)  # type: ignore[arg-type]
    if isinstance(actual, bool) or isinstance(expected, bool):
        return actual is expected
    return actual == expected


_ORDER: Final[dict[str, Callable[[object, object], bool]]] = {
    ">": lambda a, b: a > b,  # type: ignore[operator]
    "<": lambda a, b: a < b,  # type: ignore[operator]
    ">=": lambda a, b: a >= b,  # type: ignore[operator]
    "<=": lambda a, b: a <= b,  # type: ignore[operator]
}


def _compare(actual: object, operator: str, expected: object) -> bool:
    if operator == "==":
        return _equal(actual, expected)
    if operator == "!=":
        return not _equal(actual, expected)
    if operator in _ORDER:
        if _is_number(actual) and _is_number(expected):
            return _ORDER[operator](actual, expected)
        if isinstance(actual, str) and isinstance(expected, str):
            return _ORDER[operator](actual, expected)
        return False
    if operator == "matches":
        return isinstance(actual, str) and isinstance(expected, str) and re.search(expected, actual) is not None
    if operator == "contains":
        if isinstance(actual, list):
            return any(_equal(element, expected) for element in actual)
        return isinstance(actual, str) and isinstance(expected, str) and expected in actual
    if operator == "starts_with":
        return isinstance(actual, str) and isinstance(expected, str) and actual.startswith(expected)
    if operator == "ends_with":
        return isinstance(actual, str) and isinstance(expected, str) and actual.endswith(expected)
    raise AssertionError(operator)


_TYPE_CHECKS: Final[dict[str, Callable[[object], bool]]] = {
    "is_null": lambda value: value is None,
    "is_not_null": lambda value: value is not MISSING and value is not None,
    "is_number": _is_number,
    "is_string": lambda value: isinstance(value, str),
    "is_bool": lambda value: isinstance(value, bool),
    "is_array": lambda value: isinstance(value, list),
    "is_object": lambda value: isinstance(value, dict),
}


def _evaluate(node: _Node, item: object) -> bool:
    if isinstance(node, _Either):
        return _evaluate(node.left, item) or _evaluate(node.right, item)
    if isinstance(node, _Both):
        return _evaluate(node.left, item) and _evaluate(node.right, item)
    if isinstance(node, _Not):
        return not _evaluate(node.operand, item)
    if isinstance(node, _In):
        actual = lookup(item, node.path)
        return actual is not MISSING and any(_equal(actual, value) for value in node.values)
    if isinstance(node, _Call):
        actual = lookup(item, node.path)
        if node.name in _TYPE_CHECKS:
            return _TYPE_CHECKS[node.name](actual)
        if node.name == "length":
            size = len(actual) if isinstance(actual, str | list | dict) else None
            expected: Any = node.argument
            return size is not None and _is_number(expected) and float(size) == float(expected)
        return _compare(actual, node.name, node.argument)
    return _compare(lookup(item, node.path), node.operator, node.value)


# -- sorting ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SortKey:
    path: str
    descending: bool = False
    nulls_first: bool = False


def parse_sort(text: str) -> tuple[SortKey, ...]:
    """``"score DESC NULLS LAST, name"`` -> keys; raise `FilterError` on anything else."""
    keys: list[SortKey] = []
    for part in text.split(","):
        words = part.split()
        if not words:
            continue
        path, rest = words[0], [word.upper() for word in words[1:]]
        if not _PATH.fullmatch(path):
            raise FilterError(f"invalid sort_by {text!r}: {path!r} is not a field name")
        descending = False
        if rest and rest[0] in ("DESC", "DESCENDING", "ASC", "ASCENDING"):
            descending = rest.pop(0).startswith("DESC")
        nulls_first = False
        if rest[:1] == ["NULLS"] and len(rest) >= 2 and rest[1] in ("FIRST", "LAST"):
            nulls_first = rest[1] == "FIRST"
            rest = rest[2:]
        if rest:
            raise FilterError(f"invalid sort_by {text!r}: unexpected {' '.join(rest)!r} after {path!r} "
                              "(use: field [ASC|DESC] [NULLS FIRST|LAST], ...)")
        keys.append(SortKey(path, descending, nulls_first))
    if not keys:
        raise FilterError(f"invalid sort_by {text!r}: no field given")
    return tuple(keys)


def _type_rank(value: object) -> int:
    if isinstance(value, bool):
        return 1
    if _is_number(value):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, list):
        return 4
    return 5


def _compare_values(a: object, b: object) -> int:
    rank_a, rank_b = _type_rank(a), _type_rank(b)
    if rank_a != rank_b:
        return -1 if rank_a < rank_b else 1
    key_a: Any = len(a) if isinstance(a, list | dict) else a
    key_b: Any = len(b) if isinstance(b, list | dict) else b
    return int(key_a > key_b) - int(key_a < key_b)


def sort_items(items: Sequence[object], keys: Sequence[SortKey]) -> list[object]:
    """A stable sort of ``items`` by ``keys``."""

    def order(a: object, b: object) -> int:
        for key in keys:
            value_a, value_b = lookup(a, key.path), lookup(b, key.path)
            empty_a = value_a is MISSING or value_a is None
            empty_b = value_b is MISSING or value_b is None
            if empty_a and empty_b:
                continue
            if empty_a or empty_b:
                first = -1 if key.nulls_first else 1
                return first if empty_a else -first
            result = _compare_values(value_a, value_b)
            if result:
                return -result if key.descending else result
        return 0

    return sorted(items, key=functools.cmp_to_key(order))
