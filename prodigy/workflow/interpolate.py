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

The safe form for shell steps is the ``|sh`` filter: ``${name|sh}`` (also ``${name:-default|sh}``)
inserts the value as ONE shell word, single-quoted with `shlex.quote`, so a file name such as
``$(rm -rf ~).md`` stays data. Plain ``${name}`` keeps upstream's behaviour (pasted as is). An
undefined ``${name|sh}`` is left as written like any other reference; the executor refuses to run a
shell command that still holds one (`unresolved_quoted`), because the shell would only say
"Bad substitution".

Names prodigy exports to steps' environments (``PRODIGY_ARG`` and ``PRODIGY_VAR_*``, see
`prodigy.workflow.outside`) are never interpolated, so ``"$PRODIGY_ARG"`` reaches the shell as
written and the shell quotes it.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ARG_EXPORT",
    "EXPORT_PREFIX",
    "MISSING",
    "Reference",
    "interpolate",
    "is_exported_name",
    "lookup",
    "parse_reference",
    "references",
    "render",
    "scan",
    "split_path",
    "unresolved_quoted",
]

# `${...}` (anything up to the first `}`) or `$IDENT`.
REFERENCE: Final = re.compile(r"\$\{([^}]+)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_SEGMENT: Final = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")
SHELL_FILTER: Final = "sh"
# Environment names prodigy sets for outside values (prodigy.workflow.outside); never interpolated.
ARG_EXPORT: Final = "PRODIGY_ARG"
EXPORT_PREFIX: Final = "PRODIGY_VAR_"


def is_exported_name(name: str) -> bool:
    """True for the environment names prodigy exports outside values under."""
    return name == ARG_EXPORT or name.startswith(EXPORT_PREFIX)


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


@dataclass(frozen=True)
class Reference:
    """One ``${...}`` or ``$NAME`` in a template."""

    text: str                 # as written, e.g. "${ARG|sh}"
    name: str                 # "ARG"
    default: str | None       # the text after ":-", if any
    quoted: bool              # the |sh filter
    braced: bool
    start: int                # offset of the "$" in the template


def parse_reference(match: re.Match[str]) -> Reference:
    braced, bare = match.groups()
    if bare is not None:
        return Reference(match.group(0), bare, None, False, False, match.start())
    body, quoted = braced, False
    head, bar, tail = braced.rpartition("|")
    if bar and tail.strip() == SHELL_FILTER:
        body, quoted = head, True
    name, separator, default = body.partition(":-")
    return Reference(match.group(0), name.strip(), default if separator else None, quoted, True, match.start())


def scan(template: str) -> list[Reference]:
    """Every reference in ``template``, in order."""
    if "$" not in template:
        return []
    return [parse_reference(match) for match in REFERENCE.finditer(template)]


def _resolve(reference: Reference, variables: Mapping[str, object]) -> str | None:
    """The replacement text for one reference, or None to leave it as written."""
    if is_exported_name(reference.name):
        return None
    if not reference.braced:
        value = variables.get(reference.name, MISSING)
        return None if value is MISSING else render(value)
    value = lookup(reference.name, variables)
    if value is MISSING or value is None:
        if reference.default is None:
            return None
        text = reference.default
    else:
        text = render(value)
    return shlex.quote(text) if reference.quoted else text


def interpolate(template: str, variables: Mapping[str, object]) -> str:
    """Replace every resolvable reference in ``template``; leave the others verbatim."""
    if "$" not in template:
        return template

    def replace(match: re.Match[str]) -> str:
        resolved = _resolve(parse_reference(match), variables)
        return match.group(0) if resolved is None else resolved

    return REFERENCE.sub(replace, template)


def unresolved_quoted(template: str, variables: Mapping[str, object]) -> list[Reference]:
    """The ``${name|sh}`` references of ``template`` that ``variables`` cannot fill."""
    return [ref for ref in scan(template) if ref.quoted and _resolve(ref, variables) is None]


def references(template: str) -> set[str]:
    """The variable names a template refers to (defaults and filters stripped), e.g. ``{"shell.output", "ARG"}``."""
    return {reference.name for reference in scan(template)}
