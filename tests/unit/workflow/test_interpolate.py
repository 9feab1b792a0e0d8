"""Interpolation: the table from prodigy-behaviour.md §2.7 / §6.5 item 6, plus properties."""

from __future__ import annotations

import re
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodigy.workflow.interpolate import MISSING, interpolate, lookup, references, render, split_path

VARIABLES: dict[str, object] = {
    "ARG": "42",
    "shell.output": "flat wins",
    "shell": {"output": "nested loses"},
    "item": {"a": [{"b": "deep"}], "name": "item-one", "id": 7},
    "map.results": [{"output": "r0"}, {"output": "r1"}],
    "count": 3,
    "ratio": 60.5,
    "ok": True,
    "off": False,
    "nothing": None,
    "names": ["a", "b", "c"],
    "mixed": [1, "two"],
    "obj": {"k": "v", "n": 1},
    "empty": "",
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("/x $ARG", "/x 42"),
        ("/x ${ARG}", "/x 42"),
        ("${shell.output}", "flat wins"),
        ("${item.a[0].b}", "deep"),
        ("${item.name}-${item.id}", "item-one-7"),
        ("${map.results[1].output}", "r1"),
        ("${count} items, ${ratio}%", "3 items, 60.5%"),
        ("${ok}/${off}", "true/false"),
        ("${names}", "a, b, c"),
        ("${mixed}", '[1,"two"]'),
        ("${obj}", '{"k":"v","n":1}'),
        ("[${empty}]", "[]"),
        # Non-strict: unresolved references stay exactly as written.
        ("${undefined}", "${undefined}"),
        ("${item.missing}", "${item.missing}"),
        ("${item.a[5].b}", "${item.a[5].b}"),
        ("echo $HOME and ${PATH}", "echo $HOME and ${PATH}"),
        ("$1 $@ $$ $", "$1 $@ $$ $"),
        # Defaults apply only when the variable is missing (or null).
        ("${undefined:-fallback}", "fallback"),
        ("${ARG:-fallback}", "42"),
        ("${nothing:-fallback}", "fallback"),
        ("${undefined:-}", ""),
        ("${undefined:-a b:-c}", "a b:-c"),
        ("${ ARG }", "42"),
        ("$ARG_suffix", "$ARG_suffix"),
        ("${ARG}_suffix", "42_suffix"),
    ],
)
def test_interpolation_table(template: str, expected: str) -> None:
    assert interpolate(template, VARIABLES) == expected


@pytest.mark.parametrize(
    ("path", "segments"),
    [
        ("a", ["a"]),
        ("a.b[0].c", ["a", "b", 0, "c"]),
        ("map.results[10]", ["map", "results", 10]),
        ("a..b", None),
        ("a[x]", None),
        ("", None),
    ],
)
def test_split_path(path: str, segments: list[str | int] | None) -> None:
    assert split_path(path) == segments


def test_lookup_distinguishes_missing_from_null() -> None:
    assert lookup("nothing", VARIABLES) is None
    assert lookup("absent", VARIABLES) is MISSING


def test_render_values() -> None:
    samples: list[object] = ["s", 1, 2.5, True, None, ["x", "y"], [1], {}]
    assert [render(value) for value in samples] == [
        "s", "1", "2.5", "true", "null", "x, y", "[1]", "{}",
    ]


def test_references_lists_names_without_defaults() -> None:
    assert references("/fix ${shell.output} $ARG ${x:-d} $HOME") == {"shell.output", "ARG", "x", "HOME"}


# --- properties -------------------------------------------------------------------------------

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
plain_text = st.text(alphabet=st.characters(blacklist_characters="$"), max_size=60)
values = st.one_of(st.text(max_size=20), st.integers(), st.booleans(), st.floats(allow_nan=False))


@given(plain_text, st.dictionaries(identifiers, values))
def test_text_without_dollar_is_unchanged(text: str, variables: dict[str, object]) -> None:
    assert interpolate(text, variables) == text


@given(st.lists(st.tuples(plain_text, identifiers, st.booleans()), max_size=5))
def test_unresolved_references_round_trip_verbatim(parts: list[tuple[str, str, bool]]) -> None:
    # Separate each reference from the next text with a character that cannot continue an identifier.
    template = "".join(f"{text} ${{{name}}}" if braced else f"{text} ${name} " for text, name, braced in parts)
    assert interpolate(template, {}) == template


@given(identifiers, st.text(alphabet=string.ascii_letters + " -_./", max_size=20), st.booleans(), values)
def test_default_is_used_iff_the_variable_is_missing(
    name: str, default: str, defined: bool, value: object
) -> None:
    variables = {name: value} if defined else {}
    result = interpolate(f"${{{name}:-{default}}}", variables)
    assert result == (render(value) if defined else default)


@given(st.dictionaries(identifiers, st.text(max_size=30).map(lambda text: text + "${ARG} $ARG"), min_size=1))
def test_values_are_never_interpolated_again(variables: dict[str, object]) -> None:
    variables = {**variables, "ARG": "should-not-appear"}
    names = [name for name in variables if name != "ARG"]
    template = " ".join(f"${{{name}}}" for name in names)
    result = interpolate(template, variables)
    assert result == " ".join(render(variables[name]) for name in names)


@given(identifiers, st.text(max_size=30))
def test_braced_and_bare_forms_agree(name: str, value: str) -> None:
    variables = {name: value}
    assert interpolate(f"${{{name}}}", variables) == interpolate(f"${name}", variables) == value


@given(
    # No braces and no "$$" (a "$" glued to a substituted value could spell a new reference).
    st.text(alphabet=st.characters(blacklist_characters="{}"), max_size=80).filter(lambda text: "$$" not in text),
    st.dictionaries(identifiers, values.filter(lambda value: "$" not in str(value))),
)
def test_every_bare_reference_left_in_the_output_was_unresolvable(text: str, variables: dict[str, object]) -> None:
    result = interpolate(text, variables)
    for match in re.finditer(r"\$([A-Za-z_][A-Za-z0-9_]*)", result):
        assert match.group(1) not in variables


# -- the |sh filter and exported names (issue 10) ---------------------------------------------------

from prodigy.workflow.interpolate import scan, unresolved_quoted  # noqa: E402


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("cat ${ARG|sh}", "cat 42"),
        ("cat ${file|sh}", "cat '$(touch pwned) it'\"'\"'s.md'"),
        ("${ file | sh }", "'$(touch pwned) it'\"'\"'s.md'"),
        ("${undefined:-a b|sh}", "'a b'"),
        ("${undefined:-|sh}", "''"),
        ("${nothing:-x|sh}", "x"),
        ("${names|sh}", "'a, b, c'"),
        ("${obj|sh}", "'{\"k\":\"v\",\"n\":1}'"),
        ("${empty|sh}", "''"),
        # Undefined without a default: left as written (the executor refuses to run it).
        ("echo ${undefined|sh}", "echo ${undefined|sh}"),
        # Only `|sh` is a filter; anything else is part of the name (and so unresolved).
        ("${ARG|json}", "${ARG|json}"),
        ("${undefined:-a|b}", "a|b"),
        # Names prodigy exports are never interpolated, even when a variable has that name.
        ("echo \"$PRODIGY_ARG\" ${PRODIGY_VAR_X} ${PRODIGY_VAR_Y:-d}", "echo \"$PRODIGY_ARG\" ${PRODIGY_VAR_X} ${PRODIGY_VAR_Y:-d}"),
    ],
)
def test_shell_filter_and_exported_names(template: str, expected: str) -> None:
    variables = {**VARIABLES, "file": "$(touch pwned) it's.md", "PRODIGY_ARG": "no", "PRODIGY_VAR_X": "no"}
    assert interpolate(template, variables) == expected


def test_references_are_parsed_with_default_and_filter() -> None:
    [reference] = scan("x ${ a.b[0]:-d e|sh } y")
    assert (reference.name, reference.default, reference.quoted, reference.braced, reference.start) == \
        ("a.b[0]", "d e", True, True, 2)
    assert [ref.text for ref in unresolved_quoted("${ARG|sh} ${x|sh} ${y} ${z:-|sh}", {"ARG": "1"})] == ["${x|sh}"]
    assert references("${shell.output|sh} $ARG ${x:-d|sh}") == {"shell.output", "ARG", "x"}
    assert [ref.braced for ref in scan("$ARG ${ARG}")] == [False, True]


@given(st.text(max_size=80).filter(lambda text: "\x00" not in text))
def test_a_quoted_value_survives_the_shell_as_one_word(value: str) -> None:
    import shlex

    assert shlex.split(interpolate("printf %s ${v|sh}", {"v": value})) == ["printf", "%s", value]
