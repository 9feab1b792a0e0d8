"""Fuzz interpolation, the exported environment and the `when:` parser (pure functions)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from prodigy.workflow.expressions import MAX_NESTING, ExpressionError, parse
from prodigy.workflow.interpolate import interpolate, is_exported_name, scan, unresolved_quoted
from prodigy.workflow.outside import MAX_EXPORTED_BYTES, MAX_VALUE_BYTES, exported_env

from .conftest import FUZZ

NAMES = st.sampled_from(["ARG", "ARG_1", "x", "shell.output", "merge.target_branch", "item", "item.path", "a.b[0]",
                         "out", "PRODIGY_ARG", "PRODIGY_VAR_X", "CAPTURED_OUTPUT", "error.message", "v1"])
JSONISH = st.recursive(
    st.one_of(st.text(max_size=30), st.integers(), st.floats(), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12,
)
VARIABLES = st.dictionaries(st.one_of(NAMES, st.text(max_size=10)), JSONISH, max_size=8)
TEMPLATE_PIECES = st.lists(st.one_of(
    st.text(max_size=10), st.sampled_from(["$", "${", "}", "|sh", ":-", "|", "$$", "${ARG|sh}", "$ARG", "${x:-d|sh}",
                                           "${PRODIGY_ARG}", "${ a.b[0] }", "${item.path|sh}", "\\"]),
), max_size=20)


@FUZZ
@given(TEMPLATE_PIECES, VARIABLES)
def test_interpolation_never_raises_and_only_shrinks_references(pieces: list[str], variables: dict[str, Any]) -> None:
    template = "".join(pieces)
    result = interpolate(template, variables)
    assert isinstance(result, str)
    for reference in unresolved_quoted(template, variables):
        assert reference.quoted and reference.text in template


@FUZZ
@given(st.text(max_size=200).filter(lambda value: "\x00" not in value), st.sampled_from(["", "x ", "a${y}b "]))
def test_a_quoted_value_is_exactly_one_shell_word(value: str, prefix: str) -> None:
    command = interpolate(prefix + "${v|sh}", {"v": value, "y": "Y"})
    words = shlex.split(command, posix=True)
    assert words[-1] == value
    assert len(words) == len(shlex.split(prefix.replace("${y}", "Y"))) + 1


@FUZZ
@given(VARIABLES, st.sampled_from(["$PRODIGY_ARG", "${PRODIGY_ARG}", "${PRODIGY_VAR_X}", "$PRODIGY_VAR_MERGE_X",
                                   "${PRODIGY_VAR_Y:-d}"]))
def test_exported_names_reach_the_shell_as_written(variables: dict[str, Any], reference: str) -> None:
    variables = {**variables, "PRODIGY_ARG": "$(pwned)", "PRODIGY_VAR_X": "$(pwned)", "PRODIGY_VAR_MERGE_X": "x"}
    assert interpolate(f"echo {reference}", variables) == f"echo {reference}"


@FUZZ
@given(VARIABLES, st.frozensets(st.text(max_size=6), max_size=3))
def test_exported_environment_is_always_a_valid_bounded_environment(variables: dict[str, Any],
                                                                     declared: frozenset[str]) -> None:
    env = exported_env(variables, declared)
    total = 0
    for name, value in env.items():
        assert re.fullmatch(r"PRODIGY_(ARG|VAR_[A-Z0-9_]+)", name), name
        assert is_exported_name(name)
        assert "\x00" not in value
        value.encode("utf-8", "surrogateescape")
        size = len(name) + len(value.encode("utf-8", "surrogateescape")) + 2
        assert size <= MAX_VALUE_BYTES
        total += size
    assert total <= MAX_EXPORTED_BYTES


@FUZZ
@given(st.text(max_size=100), VARIABLES)
def test_scan_finds_every_dollar_reference(template: str, variables: dict[str, Any]) -> None:
    for reference in scan(template):
        assert template[reference.start:].startswith(reference.text)


CONDITION_PIECES = st.lists(st.one_of(
    st.sampled_from(["(", ")", "!", "&&", "||", "==", "!=", ">=", "<=", ">", "<", " ", "${", "}", "x", "a.b[0]",
                     "'s'", '"q\\"', "1", "-2.5", "true", "null", "${ARG}", "${}", "@", "\n"]),
    st.text(max_size=4),
), max_size=60)


@FUZZ
@given(CONDITION_PIECES, VARIABLES)
def test_when_parser_raises_only_expression_errors_and_evaluates_to_bool(pieces: list[str],
                                                                        variables: dict[str, Any]) -> None:
    source = "".join(pieces)
    try:
        expression = parse(source)
    except ExpressionError as error:
        assert str(error)
        return
    assert expression.evaluate(variables) in (True, False)


@FUZZ
@given(st.integers(0, 3000), st.sampled_from(["(", "!", "!(", "((!"]), st.integers(0, 2000))
def test_deep_or_long_conditions_are_bounded(depth: int, opener: str, chain: int) -> None:
    closer = ")" * (depth * opener.count("("))
    source = opener * depth + "x" + closer + " && y" * chain
    try:
        expression = parse(source)
    except ExpressionError:
        return
    assert depth * len(opener) <= 3 * MAX_NESTING
    assert expression.evaluate({"x": "1", "y": True}) in (True, False)
