"""`when:` conditions: parsing, evaluation against variables, and errors with a caret."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodigy.workflow.expressions import ExpressionError, evaluate, parse, truthy

VARIABLES: dict[str, object] = {
    "flag": True,
    "off": False,
    "count": "42",  # captured shell output is text
    "n": 7,
    "name": "prod",
    "shell.exit_code": 0,
    "item": {"severity": "high", "tags": ["a"]},
    "empty": "",
    "text_false": "false",
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("${flag}", True),
        ("${off}", False),
        ("flag", True),
        ("!${flag}", False),
        ("!!flag", True),
        ("${undefined}", False),
        ("!${undefined}", True),
        ("${empty}", False),
        ("${text_false}", False),
        ("${count} > 5", True),
        ("${count} >= 42 && ${count} <= 42", True),
        ("${count} < 5", False),
        ("${n} == 7", True),
        ("${n} != 7.0", False),
        ("${name} == 'prod'", True),
        ('${name} == "staging"', False),
        ("${name} != 'staging'", True),
        ("${shell.exit_code} == 0", True),
        ("${item.severity} == 'high'", True),
        ("item.severity == 'high' || false", True),
        ("${flag} && ${off}", False),
        ("${flag} || ${off}", True),
        ("!(${flag} && ${off})", True),
        ("(${n} > 1 || ${off}) && ${name} == 'prod'", True),
        ("${flag} == true", True),
        ("${text_false} == false", True),
        ("${undefined} == null", True),
        ("${undefined} > 1", False),
        ("'b' > 'a'", True),
        ("${name} == 'it\\'s'", False),
    ],
)
def test_evaluate(expression: str, expected: bool) -> None:
    assert evaluate(expression, VARIABLES) is expected


def test_parsed_expression_can_be_reused() -> None:
    condition = parse("${n} > 3")
    assert condition.evaluate({"n": 5}) is True
    assert condition.evaluate({"n": "2"}) is False
    assert condition.source == "${n} > 3"


@pytest.mark.parametrize(
    ("expression", "problem", "column"),
    [
        ("${a} ==", "expression ends too early", 8),
        ("(${a}", "missing ')'", 6),
        ("${a} ${b}", "unexpected '${b}'", 6),
        ("${a} = 1", "unexpected character '='", 6),
        ("&& ${a}", "expected a value, found '&&'", 1),
        ("${}", "empty variable reference", 1),
        ("   ", "empty condition", None),
    ],
)
def test_syntax_errors_point_at_the_column(expression: str, problem: str, column: int | None) -> None:
    with pytest.raises(ExpressionError) as caught:
        parse(expression)
    message = str(caught.value)
    assert problem in message
    if column is not None:
        assert f"at column {column} " in message
        assert message.splitlines()[-1].index("^") - 4 == column - 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("", False), ("0", False), ("FALSE", False), ("no", True), ("x", True), (0, False), (2, True),
     ([], False), ([0], True)],
)
def test_truthiness(value: object, expected: bool) -> None:
    assert truthy(value) is expected


@given(st.integers(), st.integers())
def test_numeric_comparisons_match_python(a: int, b: int) -> None:
    variables = {"a": str(a), "b": b}
    assert evaluate("${a} < ${b}", variables) is (a < b)
    assert evaluate("${a} == ${b}", variables) is (a == b)
    assert evaluate("!(${a} >= ${b})", variables) is (a < b)


@given(st.booleans(), st.booleans(), st.booleans())
def test_boolean_algebra_and_precedence(p: bool, q: bool, r: bool) -> None:
    variables = {"p": p, "q": q, "r": r}
    assert evaluate("p || q && r", variables) is (p or (q and r))
    assert evaluate("!p && q", variables) is ((not p) and q)
    # `!` binds tighter than `==`, as in C, JavaScript and Rust.
    assert evaluate("!p == q", variables) is ((not p) == q)
    assert evaluate("!(p || q) == true", variables) is (not (p or q))
