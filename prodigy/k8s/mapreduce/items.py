"""Work items to the pods of a map Job without a queue service: ConfigMaps, read by index. Pure.

The CLI writes the items a map Job runs as JSON into ConfigMaps of at most `CHUNK_BYTES` each
(`prodigy-items-<run id>-NNNN`, key ``items.json``: a JSON list), plus one index ConfigMap
(`prodigy-items-<run id>`, key ``index.json``) that says, for every completion index of the
Job, which item it runs (its number in the session, the chunk and the position in the chunk)
and what every agent sees besides its item (the item count, setup's variables, ``${ARG}``).

Every pod of the Job mounts all of them through one projected volume (the pod template is
shared by all indexes); a pod reads the index, then only its own chunk. Items are hostile
data: they travel as JSON text and are parsed, never evaluated, and a pod only trusts an
index whose shape it checked.

    plan_items(items, numbers, total=..., variables=...)  -> ItemsPlan (chunks + index)
    assignment(index_text, chunk_texts, job_index)         -> Assignment (in the pod)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = ["CHUNK_BYTES", "CHUNK_KEY", "ENV_ITEMS_DIR", "INDEX_KEY", "ITEMS_DIR", "Assignment", "ItemChunk", "ItemsError", "ItemsPlan",
           "assignment", "chunk_file", "plan_items", "read_assignment"]

FORMAT_VERSION: Final = 1
ITEMS_DIR: Final = "/prodigy/items"             # where a map pod finds them (one projected volume)
ENV_ITEMS_DIR: Final = "PRODIGY_MAP_ITEMS"
# The API server refuses a ConfigMap above 1 MiB; like the repository chunks, stay well below.
CHUNK_BYTES: Final = 900 * 1024
INDEX_KEY: Final = "index.json"
CHUNK_KEY: Final = "items.json"


class ItemsError(ValueError):
    """The items cannot be shipped (one too large), or what a pod was given is malformed."""


def chunk_file(chunk: int) -> str:
    """The file a chunk ConfigMap becomes in the pod's items volume."""
    return f"items-{chunk:04d}.json"


@dataclass(frozen=True)
class ItemChunk:
    number: int            # 0, 1, ... : the ConfigMap's suffix and file name
    text: str              # a JSON list of items


@dataclass(frozen=True)
class ItemsPlan:
    chunks: tuple[ItemChunk, ...]
    index_text: str        # index.json

    @property
    def total_bytes(self) -> int:
        return len(self.index_text.encode()) + sum(len(chunk.text.encode()) for chunk in self.chunks)


def _encode(value: Any) -> str:
    # ASCII JSON: ConfigMap data must be UTF-8 text, and escapes keep any item's bytes intact.
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)


def plan_items(items: Sequence[Any], numbers: Sequence[int], *, total: int, variables: Mapping[str, Any],
               limit: int = CHUNK_BYTES) -> ItemsPlan:
    """Completion index ``i`` runs ``items[i]``, known to the user as ``item_<numbers[i]>``.

    Items are packed in order, as many per chunk as fit in ``limit`` bytes; an item that does
    not fit a chunk on its own cannot be shipped (ItemsError names it). ``total`` is
    ``${item_total}``; ``variables`` are what setup captured and ``${ARG}``.
    """
    if len(items) != len(numbers):
        raise ValueError("one number per item")
    chunks: list[ItemChunk] = []
    entries: list[list[int]] = []
    current: list[str] = []
    size = 2                                   # "[]"
    for job_index, item in enumerate(items):
        text = _encode(item)
        cost = len(text.encode()) + (1 if current else 0)
        if 2 + len(text.encode()) > limit:
            raise ItemsError(f"item_{numbers[job_index]} is {len(text.encode())} bytes of JSON; a work item can be "
                             f"at most {limit - 2} bytes on a cluster (it travels in a ConfigMap)")
        if current and size + cost > limit:
            chunks.append(ItemChunk(len(chunks), "[" + ",".join(current) + "]"))
            current, size, cost = [], 2, len(text.encode())
        entries.append([numbers[job_index], len(chunks), len(current)])
        current.append(text)
        size += cost
    if current:
        chunks.append(ItemChunk(len(chunks), "[" + ",".join(current) + "]"))
    index = {"version": FORMAT_VERSION, "total": total, "chunks": len(chunks), "entries": entries,
             "variables": dict(variables)}
    index_text = _encode(index)
    if len(index_text.encode()) > limit:
        raise ItemsError(f"the map phase's shared data (setup's variables and the item index) is "
                         f"{len(index_text.encode())} bytes; a cluster run ships at most {limit} bytes of it",
                         )
    return ItemsPlan(tuple(chunks), index_text)


@dataclass(frozen=True)
class Assignment:
    """What one pod of the map Job works on."""

    job_index: int
    number: int                      # item_<number>, ${item_index}
    total: int                       # ${item_total}
    item: Any
    variables: Mapping[str, Any]


def _index(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as error:
        raise ItemsError(f"{INDEX_KEY} is not JSON: {error}") from None
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise ItemsError(f"{INDEX_KEY} has an unknown shape or version (this image's prodigy expects version "
                         f"{FORMAT_VERSION}; use the same prodigy version on your machine and in the image)")
    entries, total, chunks = data.get("entries"), data.get("total"), data.get("chunks")
    if not isinstance(entries, list) or not isinstance(total, int) or not isinstance(chunks, int):
        raise ItemsError(f"{INDEX_KEY} lacks entries, total or chunks")
    if not isinstance(data.get("variables"), dict):
        raise ItemsError(f"{INDEX_KEY}: variables is not a mapping")
    return data


def assignment(index_text: str, chunk_text: Callable[[int], str], job_index: int) -> Assignment:
    """The item of ``job_index``; ``chunk_text(n)`` gives chunk n's text (read only when needed)."""
    data = _index(index_text)
    entries = data["entries"]
    if not 0 <= job_index < len(entries):
        raise ItemsError(f"completion index {job_index} is outside the {len(entries)} items of this map Job")
    entry = entries[job_index]
    if not (isinstance(entry, list) and len(entry) == 3 and all(isinstance(v, int) and v >= 0 for v in entry)
            and entry[1] < data["chunks"]):
        raise ItemsError(f"{INDEX_KEY}: entry {job_index} is malformed")
    number, chunk, position = entry
    try:
        items = json.loads(chunk_text(chunk))
    except ValueError as error:
        raise ItemsError(f"{chunk_file(chunk)} is not JSON: {error}") from None
    if not isinstance(items, list) or position >= len(items):
        raise ItemsError(f"{chunk_file(chunk)} has no item at position {position}")
    return Assignment(job_index, number, data["total"], items[position], data["variables"])


def read_assignment(directory: Path, job_index: int) -> Assignment:
    """In the pod: the item of ``job_index`` from the mounted items volume."""
    try:
        index_text = (directory / INDEX_KEY).read_text(encoding="utf-8")
    except OSError as error:
        raise ItemsError(f"cannot read {directory / INDEX_KEY}: {error} (the items ConfigMaps were not mounted)"
                         ) from None

    def chunk_text(chunk: int) -> str:
        try:
            return (directory / chunk_file(chunk)).read_text(encoding="utf-8")
        except OSError as error:
            raise ItemsError(f"cannot read {directory / chunk_file(chunk)}: {error}") from None

    return assignment(index_text, chunk_text, job_index)
