"""Variable interpolation in step text: ``${a.b[0]}``, ``${x:-default}`` and ``$X``.

Interpolation is *non-strict*, like upstream Prodigy: a reference that cannot be resolved is left
exactly as written, so ``$HOME`` or ``${PATH}`` in a shell step reaches the shell untouched.
Substitution is a single pass: text that a variable's value brings in is never interpolated again.

Resolution of ``${a.b[0].c}`` (upstream keeps some variables flat, e.g. ``shell.output``):
1. the whole path as one flat key (``"a.b[0].c"``);
2. the longest flat prefix that exists (``"a.b[0]"``, ``"a.b"``, ``"a"``), then a walk into its
   value with the remaining ``.key`` / ``[index]`` segments.

Values are rendered like upstream: strings raw, ``true``/``false``, numbers as printed, ``null``,
lists of strings joined with ``", "``, other lists and mappings as compact JSON.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Final

__all__ = ["MISSING", "interpolate", "lookup", "references", "render", "split_path"]

# `${...}` (anything up to the first `}`) or `$IDENT`.
REFERENCE: Final = re.compile(r"\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_SEGMENT: Final = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


class _Missing:
    """Marks a variable that is not defined (distinct from a defined ``None``)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def split_path(path: str) -> list[str | int] | None:
    """``"a.b[0].c"`` -> ``["a", "b", 0, "c"]``; None when the path is malformed."""
    segments: list[str | int] = []
    position = 0
    while position < len(path):
        match = _SEGMENT.match(path, position)
        if match is None or (match.group(2) is not None and position > 0 and path[position] != "."):
            return None
        index, key = match.groups()
        segments.append(int(index) if index is not None else key)
        position = match.end()
    return segments or None


def _join(segments: Sequence[str | int]) -> str:
    text = ""
    for segment in segments:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else segment
    return text


def _walk(value: object, segments: Sequence[str | int]) -> object:
    for segment in segments:
        if isinstance(segment, int) and isinstance(value, Sequence) and not isinstance(value, str):
            if not 0 <= segment < len(value):
                return MISSING
            value = value[segment]
        elif isinstance(segment, str) and isinstance(value, Mapping):
            if segment not in value:
                return MISSING
            value = value[segment]
        else:
            return MISSING
    return value


def lookup(path: str, variables: Mapping[str, object]) -> object:
    """The value of a variable path, or MISSING. Flat keys win over nested walks."""
    path = path.strip()
    if path in variables:
        return variables[path]
    segments = split_path(path)
    if segments is None:
        return MISSING
    for cut in range(len(segments) - 1, 0, -1):
        prefix = _join(segments[:cut])
        if prefix in variables:
            found = _walk(variables[prefix], segments[cut:])
            if found is not MISSING:
                return found
    return MISSING


def render(value: object) -> str:
    """How a variable's value appears inside a command."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return ", ".join(str(item) for item in value)
    try:
        return json.dumps(value, separators=(",", ":"), default=str)
    except (TypeError, ValueError):
        return str(value)


def _parse_braced(body: str) -> tuple[str, str | None]:
    name, separator, default = body.partition(":-")
    return name.strip(), (default if separator else None)


def interpolate(template: str, variables: Mapping[str, object]) -> str:
    """Replace every resolvable reference in ``template``; leave the others verbatim."""
    if "$" not in template:
        return template

    def replace(match: re.Match[str]) -> str:
        braced, bare = match.groups()
        if bare is not None:
            value = variables.get(bare, MISSING)
            return match.group(0) if value is MISSING else render(value)
        name, default = _parse_braced(braced)
        value = lookup(name, variables)
        if value is MISSING or value is None:
            return match.group(0) if default is None else default
        return render(value)

    return REFERENCE.sub(replace, template)


def references(template: str) -> set[str]:
    """The variable names a template refers to (defaults stripped), e.g. ``{"shell.output", "ARG"}``."""
    names: set[str] = set()
    for braced, bare in REFERENCE.findall(template):
        names.add(bare if bare else _parse_braced(braced)[0])
    return names
