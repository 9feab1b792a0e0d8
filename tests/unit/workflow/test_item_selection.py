"""Choosing MapReduce work items: json_path, filter, sort_by, distinct, offset, max_items."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodigy.workflow import jsonpath
from prodigy.workflow.item_filter import FilterError, lookup, parse_filter, parse_sort, sort_items
from prodigy.workflow.item_selection import (
    SelectionSpec,
    items_from_command_output,
    parse_json_input,
    select_items,
)

DOC = {"items": [{"id": 1, "tags": ["a"], "meta": {"score": 3}}, {"id": 2, "tags": [], "meta": {"score": 9}}],
       "nested": {"deep": {"id": 7}}}


@pytest.mark.parametrize(("expression", "expected"), [
    ("$.items[*]", DOC["items"]),
    ("$.items[*].id", [1, 2]),
    ("items[*].id", [1, 2]),                       # upstream accepts a bare leading field
    ("$.items[1].meta.score", [9]),
    ("$.items[5]", []),                            # out of range selects nothing
    ("$.missing[*]", []),
    ("$..id", [1, 2, 7]),
    ("$.items[?(@.id > 1)]", [DOC["items"][1]]),
    ("$.items[?(@.id == 1)].tags[0]", ["a"]),
    ("$['nested'].deep", [{"id": 7}]),
    ("$", [DOC]),
])
def test_json_path_selects_like_upstream(expression: str, expected: list[object]) -> None:
    assert jsonpath.select(DOC, expression) == expected


@pytest.mark.parametrize("expression", ["$.items[", "$.items[?(@.id > 1]", "$..", "$.items[x]",
                                        "$.items[?(id)]"])
def test_malformed_json_paths_are_errors(expression: str) -> None:
    with pytest.raises(jsonpath.JsonPathError):
        jsonpath.compile_path(expression)


ITEMS = [
    {"name": "a", "score": 9, "path": "src/a.rs", "issues": True, "tags": ["x", "y"]},
    {"name": "b", "score": 2, "path": "README.md", "issues": True, "tags": []},
    {"name": "c", "score": 7, "path": "src/c.rs", "issues": False},
    {"name": "d", "score": None, "path": "src/d.rs", "issues": True},
]


def _names(expression: str) -> list[str]:
    selected = [item for item in ITEMS if parse_filter(expression).matches(item)]
    return [str(item["name"]) for item in selected]


@pytest.mark.parametrize(("expression", "names"), [
    ("score >= 5", ["a", "c"]),
    ("item.score >= 5", ["a", "c"]),                    # upstream's documented form means the same
    ("score == 9", ["a"]),                             # an integer equals the number 9
    ("score == null", ["d"]),
    ("missing == null", ["a", "b", "c", "d"]),         # a missing field equals null
    ("name != 'a'", ["b", "c", "d"]),
    (r"path matches '\.rs$' && issues == true", ["a", "d"]),
    (r"path matches '\.rs$' AND NOT issues == false", ["a", "d"]),
    ("score > 8 || name == 'b'", ["a", "b"]),
    ("score > 8 OR name == 'b'", ["a", "b"]),
    ("!(score > 3)", ["b", "d"]),
    ("name in ['a', 'c']", ["a", "c"]),
    ("score in [2, 7]", ["b", "c"]),
    ("tags[0] == 'x'", ["a"]),
    ("contains(path, 'src')", ["a", "c", "d"]),
    ("tags contains 'y'", ["a"]),
    ("starts_with(path, 'README')", ["b"]),
    ("ends_with(path, '.md')", ["b"]),
    ("is_null(score)", ["d"]),
    ("is_not_null(tags)", ["a", "b"]),
    ("length(tags, 2)", ["a"]),
    ("is_array(tags) && length(tags, 0)", ["b"]),
    ("matches(path, '^src/[ac]')", ["a", "c"]),
    ("name > 'b'", ["c", "d"]),                        # strings compare as strings
    ("score > 'b'", []),                               # a number never compares with a string
])
def test_filters(expression: str, names: list[str]) -> None:
    assert _names(expression) == names


def test_item_prefix_means_the_item_unless_the_item_has_a_field_called_item() -> None:
    assert parse_filter("item.score > 1").matches({"score": 2})
    assert parse_filter("item matches '^src'").matches("src/x.rs")          # a text item (a command line)
    assert parse_filter("item == 'src/x.rs'").matches({"item": "src/x.rs"})  # upstream's {"item": line}
    assert not parse_filter("item.score > 1").matches({"item": {"other": 1}, "score": 2})
    assert lookup({"item": {"score": 5}}, "item.score") == 5


@pytest.mark.parametrize(("expression", "message"), [
    ("", "empty"),
    ("score >", "ends too early"),
    ("score", "expected a comparison after 'score'"),
    ("score ~ 3", "unknown operator '~' after 'score'"),
    ("a == 1 b", "unexpected 'b'"),
    ("(a == 1", "ends too early"),
    ("x matches '('", "bad regular expression"),
    ("length(tags)", "length() takes a field and a value"),
    ("is_null(a, 1)", "is_null() takes only a field name"),
    ("x in 3", "expected '['"),
])
def test_filter_errors_say_what_is_wrong(expression: str, message: str) -> None:
    with pytest.raises(FilterError, match="invalid filter") as caught:
        parse_filter(expression)
    assert message in str(caught.value)


def test_sort_keys_directions_and_nulls() -> None:
    items = [{"n": 2, "s": "b"}, {"n": None, "s": "a"}, {"s": "c"}, {"n": 5, "s": "a"}, {"n": 2, "s": "a"}]
    by_n_desc = sort_items(items, parse_sort("n DESC"))
    assert [item.get("n") for item in by_n_desc] == [5, 2, 2, None, None]      # nulls last by default
    assert [item.get("n") for item in sort_items(items, parse_sort("n ASC NULLS FIRST"))][:2] == [None, None]
    assert sort_items(items, parse_sort("n DESC, s"))[1:3] == [{"n": 2, "s": "a"}, {"n": 2, "s": "b"}]
    assert sort_items(items, parse_sort("item.n"))[0] == {"n": 2, "s": "b"}   # ties keep input order
    assert sort_items(["b", "a", "c"], parse_sort("item"))== ["a", "b", "c"]


@pytest.mark.parametrize("text", ["", "n SIDEWAYS", "n DESC NULLS MIDDLE", "9bad"])
def test_sort_errors(text: str) -> None:
    with pytest.raises(FilterError, match="invalid sort_by"):
        parse_sort(text)


@given(st.lists(st.fixed_dictionaries({"n": st.one_of(st.none(), st.integers(-50, 50)), "k": st.integers(0, 3)}),
                max_size=30))
def test_sorting_is_a_stable_permutation_with_nulls_last(items: list[dict[str, object]]) -> None:
    ordered = sort_items(items, parse_sort("n DESC"))
    assert sorted(map(repr, ordered)) == sorted(map(repr, items))
    numbers = [item["n"] for item in ordered]
    present = [number for number in numbers if number is not None]
    assert numbers[:len(present)] == present and present == sorted(present, reverse=True)  # type: ignore[type-var]
    for value in set(present):
        same = [item for item in items if item["n"] == value]
        assert [item for item in ordered if item["n"] == value] == same


@given(st.lists(st.integers(0, 20), max_size=40), st.integers(0, 25), st.integers(0, 25), st.integers(0, 20))
def test_pipeline_counts_and_order(values: list[int], offset: int, limit: int, threshold: int) -> None:
    document = [{"v": value, "g": value % 4} for value in values]
    spec = SelectionSpec(filter=parse_filter(f"v >= {threshold}"), sort_by=parse_sort("v DESC"), distinct="g",
                         offset=offset, max_items=limit)
    selection = select_items(document, spec)
    kept = sorted((item for item in document if item["v"] >= threshold), key=lambda item: -item["v"])
    seen: set[int] = set()
    distinct = [item for item in kept if not (item["g"] in seen or seen.add(item["g"]))]  # type: ignore[func-returns-value]
    assert list(selection.items) == distinct[offset:][:limit]
    assert (selection.found, selection.after_filter, selection.after_distinct) == (len(values), len(kept),
                                                                                   len(distinct))


def test_selection_describes_each_stage_that_changed_something() -> None:
    spec = SelectionSpec(json_path="$.items[*]", filter=parse_filter("score > 100"))
    selection = select_items({"items": ITEMS}, spec)
    assert selection.selected == 0 and selection.found == 4
    assert selection.describe(spec) == ["filter `score > 100` kept 0 of 4"]
    spec = SelectionSpec(offset=1, max_items=1)
    assert select_items([1, 2, 3], spec).describe(spec) == ["offset 1 skipped 1", "max_items 1 kept 1 of 2"]
    assert select_items({"one": 1}, SelectionSpec()).items == ({"one": 1},)    # a single document: one item


def test_command_output_is_a_json_array_a_json_value_or_lines() -> None:
    assert items_from_command_output('[{"id": 1}, {"id": 2}]\n') == [{"id": 1}, {"id": 2}]
    assert items_from_command_output('{"id": 1}') == [{"id": 1}]
    assert items_from_command_output("./a.rs\n\n./b.rs\n") == ["./a.rs", "./b.rs"]
    assert items_from_command_output('{"id": 1}\nplain\n') == [{"id": 1}, "plain"]
    assert items_from_command_output("  \n") == []


def test_an_input_file_that_is_not_json_names_the_place() -> None:
    with pytest.raises(ValueError, match=r"items.json is not valid JSON \(.* at line 2, column 1\)"):
        parse_json_input('{"a": 1,\n}', "items.json")
