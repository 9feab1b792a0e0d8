"""Work items to a map Job's pods: chunking into ConfigMaps and reading one item by index. Pure."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodigy.k8s.mapreduce.items import (
    CHUNK_KEY,
    INDEX_KEY,
    ItemsError,
    assignment,
    chunk_file,
    plan_items,
    read_assignment,
)
from prodigy.k8s.mapreduce.manifests import items_additions, items_configmap_name

JSON_VALUES = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=40),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4),
                           max_leaves=12)


def read(plan_text: str, chunks: list[str], job_index: int) -> object:
    return assignment(plan_text, lambda n: chunks[n], job_index).item


def test_small_items_share_one_chunk_and_each_index_reads_its_own_item() -> None:
    items = [{"id": 1, "title": "install"}, "a line of text", 3, None]
    plan = plan_items(items, [0, 1, 2, 3], total=4, variables={"ARG": "x"})
    assert len(plan.chunks) == 1
    texts = [chunk.text for chunk in plan.chunks]
    for index, item in enumerate(items):
        got = assignment(plan.index_text, lambda n: texts[n], index)
        assert (got.item, got.number, got.total, got.variables) == (item, index, 4, {"ARG": "x"})


def test_items_are_cut_into_chunks_below_the_limit_in_order() -> None:
    items = [{"n": n, "pad": "x" * 300} for n in range(40)]
    plan = plan_items(items, list(range(40)), total=40, variables={}, limit=2_000)
    assert len(plan.chunks) > 5
    assert all(len(chunk.text.encode()) <= 2_000 for chunk in plan.chunks)
    texts = [chunk.text for chunk in plan.chunks]
    assert [read(plan.index_text, texts, i)["n"] for i in range(40)] == list(range(40))  # type: ignore[index]


def test_a_resumed_or_retried_job_maps_its_indexes_to_the_items_numbers() -> None:
    # Completion index 0 runs item_7 of a session of 9 items (a resume: the others are merged).
    plan = plan_items(["g", "i"], [7, 8], total=9, variables={})
    first = assignment(plan.index_text, lambda n: plan.chunks[n].text, 0)
    second = assignment(plan.index_text, lambda n: plan.chunks[n].text, 1)
    assert (first.number, first.item, first.total) == (7, "g", 9)
    assert (second.number, second.item) == (8, "i")


def test_an_item_too_large_for_a_configmap_is_refused_with_its_number() -> None:
    with pytest.raises(ItemsError, match="item_5 is .* bytes of JSON"):
        plan_items(["small", "x" * 5_000], [4, 5], total=6, variables={}, limit=2_000)


def test_shared_data_too_large_is_refused() -> None:
    with pytest.raises(ItemsError, match="shared data"):
        plan_items(["a"], [0], total=1, variables={"CAPTURED": "y" * 5_000}, limit=2_000)


def test_only_the_pods_own_chunk_is_read() -> None:
    plan = plan_items([{"pad": "x" * 900} for _ in range(6)], list(range(6)), total=6, variables={}, limit=2_000)
    asked: list[int] = []

    def chunk(n: int) -> str:
        asked.append(n)
        return plan.chunks[n].text

    assignment(plan.index_text, chunk, 5)
    assert asked == [json.loads(plan.index_text)["entries"][5][1]]


@pytest.mark.parametrize("index_text, problem", [
    ("not json", "not JSON"),
    (json.dumps({"version": 99}), "version"),
    (json.dumps({"version": 1, "entries": [[0, 3, 0]], "total": 1, "chunks": 1, "variables": {}}), "malformed"),
    (json.dumps({"version": 1, "entries": [["0", 0, 0]], "total": 1, "chunks": 1, "variables": {}}), "malformed"),
    (json.dumps({"version": 1, "entries": [], "total": 1, "chunks": 1, "variables": {}}), "outside"),
    (json.dumps({"version": 1, "entries": [[0, 0, 0]], "total": 1, "chunks": 1, "variables": []}), "variables"),
])
def test_a_malformed_index_is_refused_not_trusted(index_text: str, problem: str) -> None:
    with pytest.raises(ItemsError, match=problem):
        assignment(index_text, lambda n: "[1]", 0)


def test_a_chunk_without_the_item_is_refused() -> None:
    plan = plan_items(["a", "b"], [0, 1], total=2, variables={})
    with pytest.raises(ItemsError, match="no item at position 1"):
        assignment(plan.index_text, lambda n: '["a"]', 1)


@given(st.lists(JSON_VALUES, min_size=1, max_size=30), st.integers(min_value=300, max_value=3_000))
def test_every_index_gets_back_exactly_its_item(items: list[object], limit: int) -> None:
    try:
        plan = plan_items(items, list(range(len(items))), total=len(items), variables={}, limit=limit)
    except ItemsError:
        assert any(len(json.dumps(item, ensure_ascii=True, separators=(",", ":")).encode()) + 2 > limit
                   for item in items)
        return
    texts = [chunk.text for chunk in plan.chunks]
    assert all(len(text.encode()) <= limit for text in texts)
    assert [read(plan.index_text, texts, i) for i in range(len(items))] == items


def test_the_pod_reads_its_item_from_the_mounted_volume(tmp_path: Path) -> None:
    plan = plan_items(["zero", {"one": 1}], [0, 1], total=2, variables={"V": 1})
    (tmp_path / INDEX_KEY).write_text(plan.index_text)
    for chunk in plan.chunks:
        (tmp_path / chunk_file(chunk.number)).write_text(chunk.text)
    assert read_assignment(tmp_path, 1).item == {"one": 1}
    with pytest.raises(ItemsError, match="not mounted"):
        read_assignment(tmp_path / "missing", 0)


def test_items_configmaps_are_immutable_and_projected_into_one_volume() -> None:
    plan = plan_items([{"pad": "x" * 900} for _ in range(4)], list(range(4)), total=4, variables={}, limit=2_000)
    additions = items_additions("k3x9q2m7ab", plan)
    names = [cm["metadata"]["name"] for cm in additions.config_maps]
    assert names[0] == items_configmap_name("k3x9q2m7ab")
    assert names[1:] == [items_configmap_name("k3x9q2m7ab", n) for n in range(len(plan.chunks))]
    assert all(cm["immutable"] for cm in additions.config_maps)
    assert additions.config_maps[1]["data"][CHUNK_KEY] == plan.chunks[0].text
    (volume,) = additions.volumes
    sources = [source["configMap"]["name"] for source in volume["projected"]["sources"]]
    assert sources == names
