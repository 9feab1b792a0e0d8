"""The `when:` condition language: parse once at load time, evaluate against variables at run time.

Grammar (a small recursive-descent parser; nothing is ever passed to ``eval``)::

    expr       := or
    or         := and ( "||" and )*
    and        := comparison ( "&&" comparison )*
    comparison := unary ( ( "==" | "!=" | ">=" | "<=" | ">" | "<" | "=~" ) unary )?
    unary      := "!" unary | operand
    operand    := "(" expr ")" | "${" path "}" | identifier-path | string | number | true | false | null

A variable is looked up with the same rules as interpolation (flat dotted key first, then a nested
walk). A variable that is not defined is ``null``. Comparisons between two values that both look
like numbers are numeric, so a captured ``"42"`` compares greater than ``5``. ``a =~ 'regex'`` is
true when the regular expression matches somewhere in ``a``'s text (upstream's docs use it; a
null side never matches). A bare operand is
*truthy* unless it is null, false, zero, an empty string/list/mapping, or the string "false" / "0"
(captured shell output is text, and ``echo false`` should not run the step).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union

from prodigy.workflow.interpolate import MISSING, lookup

__all__ = ["ExpressionError", "Expression", "parse", "evaluate", "truthy"]


class ExpressionError(ValueError):
    """A `when:` expression that cannot be parsed; the message points at the offending column."""


@dataclass(frozen=True)
class Literal:
    value: object


@dataclass(frozen=True)
class Variable:
    path: str


@dataclass(frozen=True)
class Not:
    operand: Node


@dataclass(frozen=True)
class Binary:
    op: str
    left: Node
    right: Node


Node = Union[Literal, Variable, Not, Binary]


@dataclass(frozen=True)
class Expression:
    """A parsed condition; keep it and evaluate it as often as needed."""

    source: str
    root: Node

    def evaluate(self, variables: Mapping[str, object]) -> bool:
        return truthy(_eval(self.root, variables))


_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<var>\$\{[^}]*\})
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<number>-?\d+(?:\.\d+)?)
  | (?P<op>=~|==|!=|>=|<=|&&|\|\||[><!()])
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*|\[\d+\])*)
    """,
    re.VERBOSE,
)
_COMPARISONS = ("==", "!=", ">=", "<=", ">", "<", "=~")
# Parsing and evaluation recurse: a condition nested hundreds of levels deep would exhaust Python's
# stack. Real conditions use a handful of each; these bounds keep every tree shallow.
MAX_NESTING = 32        # parentheses and `!` inside each other
MAX_OPERATORS = 128     # &&, ||, comparisons in one condition
_KEYWORDS: dict[str, object] = {"true": True, "false": False, "null": None}


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    column: int


def _tokenize(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            raise ExpressionError(_pointed(source, position, f"unexpected character {source[position]!r}"))
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    return tokens


_SHOWN = 60  # characters of a long condition shown around the problem


def _pointed(source: str, column: int, problem: str) -> str:
    if len(source) <= _SHOWN:
        return f"{problem} at column {column + 1} in `{source}`\n    {source}\n    {' ' * column}^"
    start = max(0, min(column - _SHOWN // 2, len(source) - _SHOWN))
    window = ("…" if start else "") + source[start:start + _SHOWN] + ("…" if start + _SHOWN < len(source) else "")
    caret = column - start + (1 if start else 0)
    return f"{problem} at column {column + 1} of the condition\n    {window}\n    {' ' * caret}^"


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = _tokenize(source)
        self.index = 0
        self.nesting = 0
        self.operators = 0

    def _nest(self, token: _Token) -> None:
        self.nesting += 1
        if self.nesting > MAX_NESTING:
            raise ExpressionError(_pointed(self.source, token.column,
                                           f"nested more than {MAX_NESTING} levels deep"))

    def _count_operator(self) -> None:
        self.operators += 1
        if self.operators > MAX_OPERATORS:
            token = self.tokens[self.index - 1]
            raise ExpressionError(_pointed(self.source, token.column,
                                           f"more than {MAX_OPERATORS} operators in one condition; split it up"))

    def parse(self) -> Node:
        if not self.tokens:
            raise ExpressionError("empty condition: write an expression such as `${flag}` or `${count} > 0`")
        node = self._or()
        if self.index < len(self.tokens):
            token = self.tokens[self.index]
            raise ExpressionError(_pointed(self.source, token.column, f"unexpected {token.text!r}"))
        return node

    def _peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _accept(self, *texts: str) -> str | None:
        token = self._peek()
        if token is not None and token.kind == "op" and token.text in texts:
            self.index += 1
            return token.text
        return None

    def _or(self) -> Node:
        node = self._and()
        while self._accept("||"):
            self._count_operator()
            node = Binary("||", node, self._and())
        return node

    def _and(self) -> Node:
        node = self._comparison()
        while self._accept("&&"):
            self._count_operator()
            node = Binary("&&", node, self._comparison())
        return node

    def _comparison(self) -> Node:
        node = self._unary()
        token = self._peek()
        op = self._accept(*_COMPARISONS)
        if op is not None:
            self._count_operator()
            node = Binary(op, node, self._unary())
            if op == "=~" and isinstance(node.right, Literal) and isinstance(node.right.value, str):
                try:
                    re.compile(node.right.value)
                except re.error as error:
                    assert token is not None
                    raise ExpressionError(_pointed(self.source, token.column,
                                                   f"bad regular expression after =~ ({error})")) from None
        return node

    def _unary(self) -> Node:
        token = self._peek()
        if token is not None and self._accept("!"):
            self._nest(token)
            node = Not(self._unary())
            self.nesting -= 1
            return node
        return self._operand()

    def _operand(self) -> Node:
        token = self._peek()
        if token is None:
            raise ExpressionError(_pointed(self.source, len(self.source), "expression ends too early"))
        self.index += 1
        if token.kind == "op" and token.text == "(":
            self._nest(token)
            node = self._or()
            if not self._accept(")"):
                raise ExpressionError(_pointed(self.source, self._column(), "missing ')'"))
            self.nesting -= 1
            return node
        if token.kind == "var":
            path = token.text[2:-1].strip()
            if not path:
                raise ExpressionError(_pointed(self.source, token.column, "empty variable reference '${}'"))
            return Variable(path)
        if token.kind == "string":
            return Literal(_unquote(token.text))
        if token.kind == "number":
            return Literal(float(token.text) if "." in token.text else int(token.text))
        if token.kind == "ident":
            if token.text in _KEYWORDS:
                return Literal(_KEYWORDS[token.text])
            return Variable(token.text)
        raise ExpressionError(_pointed(self.source, token.column, f"expected a value, found {token.text!r}"))

    def _column(self) -> int:
        token = self._peek()
        return token.column if token is not None else len(self.source)


def _unquote(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text[1:-1])


def parse(source: str) -> Expression:
    """Parse a `when:` condition; raises ExpressionError with a caret under the problem."""
    return Expression(source, _Parser(source).parse())


def evaluate(source: str, variables: Mapping[str, object]) -> bool:
    """Parse and evaluate in one go (prefer `parse` once + `Expression.evaluate` in loops)."""
    return parse(source).evaluate(variables)


def truthy(value: object) -> bool:
    if value is None or value is MISSING:
        return False
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "0")
    return bool(value)


def _eval(node: Node, variables: Mapping[str, object]) -> object:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Variable):
        value = lookup(node.path, variables)
        return None if value is MISSING else value
    if isinstance(node, Not):
        return not truthy(_eval(node.operand, variables))
    if node.op == "&&":
        return truthy(_eval(node.left, variables)) and truthy(_eval(node.right, variables))
    if node.op == "||":
        return truthy(_eval(node.left, variables)) or truthy(_eval(node.right, variables))
    return _compare(node.op, _eval(node.left, variables), _eval(node.right, variables))


def _as_number(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _comparable_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value).strip()


_ORDERINGS: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq, "!=": operator.ne, ">": operator.gt, "<": operator.lt, ">=": operator.ge, "<=": operator.le,
}


def _compare(op: str, left: object, right: object) -> bool:
    if op == "=~":
        text, pattern = _comparable_text(left), _comparable_text(right)
        if text is None or pattern is None:
            return False
        try:
            return re.search(pattern, text) is not None
        except re.error:
            return False
    apply = _ORDERINGS[op]
    left_number, right_number = _as_number(left), _as_number(right)
    if left_number is not None and right_number is not None:
        return apply(left_number, right_number)
    # Captured output is text: `${ok} == true` must match the string "true" as well as the boolean.
    left_text, right_text = _comparable_text(left), _comparable_text(right)
    if op in ("==", "!="):
        return apply(left_text, right_text)
    if left_text is None or right_text is None:
        return False
    return apply(left_text, right_text)
