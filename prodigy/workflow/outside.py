"""Outside values: which variables carry text the workflow file did not write, and their env names.

An *outside value* is anything a workflow's author does not control: ``--args`` values and the
file names ``--map`` turns into ``ARG``, branch names (``${merge.target_branch}``), captured output
(``${shell.output}``, ``capture: NAME``, ``<id>.output``), error texts, validation results written by
Claude, foreach items and, later, MapReduce work items (``${item.field}``). Pasted into ``sh -c``
unquoted, such a value is shell code. Two safe ways exist:

- ``${name|sh}`` in the command (`prodigy.workflow.interpolate`): the value as one quoted word;
- the environment: every outside value is also exported to every step as
  ``PRODIGY_VAR_<NAME>`` (the name upper-cased, each run of characters other than letters and
  digits turned into ``_``), and ``ARG`` as ``PRODIGY_ARG`` too (upstream's name). Mapping values
  are exported whole (compact JSON) and field by field, so ``${item.path}`` is
  ``$PRODIGY_VAR_ITEM_PATH``. prodigy never interpolates these names itself, so ``"$PRODIGY_ARG"``
  reaches the shell, which expands it as data.

Everything here is pure: the executor passes its variables in and sets the returned environment.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Final

from prodigy.workflow.interpolate import ARG_EXPORT, EXPORT_PREFIX, render

__all__ = [
    "MAX_EXPORTED_BYTES",
    "MAX_VALUE_BYTES",
    "declared_outside_names",
    "env_name",
    "exported_env",
    "is_outside",
    "safe_spelling",
]

# Linux refuses an environment string over 128 KiB (MAX_ARG_STRLEN) and a whole environment plus
# argv over ARG_MAX (2 MiB by default): larger values are not exported (write them to a file with
# `output_file:` instead); the limits keep every step startable.
MAX_VALUE_BYTES: Final = 64 * 1024
MAX_EXPORTED_BYTES: Final = 512 * 1024
_MAX_FIELD_DEPTH: Final = 3

_EXACT: Final = frozenset({"ARG", "CAPTURED_OUTPUT", "item", "error.message"})
_PREFIXES: Final = ("ARG_", "merge.", "item.", "validation.", "step.files_changed")
_SUFFIXES: Final = (".output", ".stderr")
_NOT_NAME_CHARS: Final = re.compile(r"[^A-Za-z0-9]+")


def is_outside(name: str, declared: Iterable[str] = ()) -> bool:
    """Whether variable ``name`` holds an outside value (``declared``: the workflow's capture names)."""
    declared = frozenset(declared)
    if name in _EXACT or name in declared:
        return True
    if name.startswith(_PREFIXES) or name.endswith(_SUFFIXES):
        return True
    root = name.split(".", 1)[0].split("[", 1)[0]
    return root in declared


def declared_outside_names(capture_names: Iterable[str | None], step_ids: Iterable[str | None]) -> frozenset[str]:
    """The names a workflow stores output under: ``capture:`` names and ``<id>.output``."""
    names = {name for name in capture_names if name}
    names.update(f"{step_id}.output" for step_id in step_ids if step_id)
    return frozenset(names)


def env_name(name: str) -> str:
    """``merge.target_branch`` -> ``PRODIGY_VAR_MERGE_TARGET_BRANCH``."""
    return EXPORT_PREFIX + _NOT_NAME_CHARS.sub("_", name).strip("_").upper()


def safe_spelling(name: str) -> str:
    """How to write an outside value safely in a shell command, for messages and docs."""
    if name == "ARG":
        return f'${{ARG|sh}} or "${ARG_EXPORT}"'
    return f'${{{name}|sh}} or "${env_name(name)}"'


def _leaves(name: str, value: object, depth: int) -> Iterable[tuple[str, object]]:
    yield name, value
    if isinstance(value, Mapping) and depth < _MAX_FIELD_DEPTH:
        for key, inner in value.items():
            if isinstance(key, str) and key:
                yield from _leaves(f"{name}.{key}", inner, depth + 1)


def _environment_bytes(text: str) -> bytes | None:
    """``text`` as the bytes an environment entry would hold, or None if it cannot be one."""
    if "\x00" in text:
        return None
    try:
        return text.encode("utf-8", "surrogateescape")   # how os.fsencode encodes on Linux
    except UnicodeEncodeError:
        return None


def exported_env(variables: Mapping[str, object], declared: Iterable[str] = ()) -> dict[str, str]:
    """The environment entries for the outside values in ``variables``.

    Deterministic: names are visited in sorted order and the first value for an env name wins.
    A value that is too large, or holds a NUL byte (which no environment can carry), is left out.
    """
    declared = frozenset(declared)
    exported: dict[str, str] = {}
    budget = MAX_EXPORTED_BYTES
    for name in sorted(variables):
        if not is_outside(name, declared):
            continue
        targets: list[tuple[str, object]] = list(_leaves(name, variables[name], 0))
        if name == "ARG":
            targets.insert(0, ("", variables[name]))
        for leaf_name, value in targets:
            key = ARG_EXPORT if leaf_name == "" else env_name(leaf_name)
            if key in exported or key == EXPORT_PREFIX:
                continue
            text = render(value)
            encoded = _environment_bytes(text)
            if encoded is None:
                continue
            size = len(key) + len(encoded) + 2
            if size > MAX_VALUE_BYTES or size > budget:
                continue
            exported[key] = text
            budget -= size
    return exported
