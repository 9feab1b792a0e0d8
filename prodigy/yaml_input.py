"""Reading YAML (and JSON) input files without letting them hang, crash or exhaust prodigy.

Workflow files, ``kubernetes.yaml`` and kubeconfigs all pass through here before a YAML library
builds anything from them:

- `read_text_file` opens without blocking (a FIFO would wait for a writer forever), refuses
  anything but a regular file (``/dev/zero`` never ends), reads at most ``max_bytes``, and names
  the line and column of a byte that is not UTF-8 or a NUL byte;
- `check_yaml_structure` walks the parser's *events*, which ruamel produces without recursion,
  so it measures a document before the recursive composer sees it: nesting deeper than
  ``max_depth`` levels, or aliases that would expand to more than ``max_nodes`` values (415 bytes
  of nested ``*alias`` lists can stand for billions of nodes), are refused with the line where the
  limit was crossed, in time linear in the file's size;
- `check_json_depth` does the nesting check for JSON text (Python's parser recurses too).

Every refusal is raised as the caller's error class (a `UsageError`, exit 2), so the workflow
loader reports ``WorkflowFileError`` and the cluster configuration ``ConfigError``.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ruamel.yaml import YAML
from ruamel.yaml.events import (
    AliasEvent,
    CollectionStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
)

from prodigy.errors import UsageError

__all__ = [
    "Limits",
    "MAX_WORKFLOW_BYTES_ENV",
    "check_json_depth",
    "check_yaml_structure",
    "read_text_file",
    "workflow_limits",
]

MAX_WORKFLOW_BYTES_ENV: Final = "PRODIGY_MAX_WORKFLOW_BYTES"
_MIB: Final = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """How large, how deep and how many values an input file may be."""

    max_bytes: int = _MIB
    max_depth: int = 64
    max_nodes: int = 200_000
    size_hint: str = ""             # how to raise max_bytes, for the message


def workflow_limits(environ: Mapping[str, str] | None = None) -> Limits:
    """The limits for workflow files; ``PRODIGY_MAX_WORKFLOW_BYTES`` raises or lowers the size cap."""
    env = os.environ if environ is None else environ
    hint = f"set {MAX_WORKFLOW_BYTES_ENV}=<bytes> to allow a larger workflow file"
    raw = env.get(MAX_WORKFLOW_BYTES_ENV, "").strip()
    if not raw:
        return Limits(size_hint=hint)
    if not raw.isdecimal() or int(raw) < 1:
        raise UsageError(f"{MAX_WORKFLOW_BYTES_ENV}={raw!r} is not a positive whole number of bytes",
                         hint=f"unset it (default {Limits().max_bytes} bytes) or give e.g. {4 * _MIB}")
    return Limits(max_bytes=int(raw), size_hint=hint)


def _location(data: bytes, offset: int) -> str:
    line = data.count(b"\n", 0, offset) + 1
    column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
    return f"line {line}, column {column}"


def read_text_file(path: Path, *, what: str, limits: Limits, error: type[UsageError]) -> str:
    """The text of ``path``, a regular UTF-8 file of at most ``limits.max_bytes`` without NUL bytes.

    OSErrors (not found, permission denied, a directory) are raised unchanged, so callers keep
    their own wording for them; everything else wrong with the file is ``error``.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            raise IsADirectoryError(21, "Is a directory", str(path))
        if not stat.S_ISREG(info.st_mode):
            kind = ("a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode) else
                    "a character device" if stat.S_ISCHR(info.st_mode) else
                    "a block device" if stat.S_ISBLK(info.st_mode) else
                    "a socket" if stat.S_ISSOCK(info.st_mode) else "not a regular file")
            raise error(f"{what} {path} is {kind}, not a regular file",
                        hint="point prodigy at the file itself (save the output of a command to a file first)")
        chunks: list[bytes] = []
        size = 0
        while size <= limits.max_bytes:
            chunk = os.read(fd, min(1 << 20, limits.max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if len(data) > limits.max_bytes:
        raise error(f"{what} {path} is larger than {limits.max_bytes} bytes, the limit for such a file",
                    hint=limits.size_hint or "check that this is the file you meant")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} {path} is not UTF-8 text: byte 0x{data[exc.start]:02x} at "
                    f"{_location(data, exc.start)} ({exc.reason})",
                    hint="save the file as UTF-8") from None
    if "\x00" in text:
        offset = data.index(b"\x00")
        raise error(f"{what} {path} contains a NUL byte at {_location(data, offset)}",
                    hint="a YAML file is text: remove the NUL byte (a binary file saved under this name?)")
    return text


def _line(event: Event) -> int:
    mark = event.start_mark
    return int(mark.line) + 1 if mark is not None else 1


class _Frame:
    __slots__ = ("anchor", "count", "mapping", "children")

    def __init__(self, anchor: str | None, mapping: bool) -> None:
        self.anchor = anchor
        self.count = 1          # values this collection expands to, itself included
        self.mapping = mapping
        self.children = 0       # in a mapping, even positions are keys


def check_yaml_structure(text: str, path: Path, *, what: str, limits: Limits, error: type[UsageError]) -> None:
    """Refuse YAML nested deeper than ``max_depth`` or expanding to more than ``max_nodes`` values.

    Syntax errors are not reported here: the caller's full parse reports them with context.
    """
    from ruamel.yaml.error import YAMLError

    anchors: dict[str, tuple[int, bool]] = {}    # anchor -> (values it expands to, is a collection)
    stack: list[_Frame] = []
    total = 0

    def start(event: Event, collection: bool) -> None:
        """A node begins: a list or mapping as a mapping *key* is refused (nothing prodigy reads has one,
        and the YAML library cannot even build such a mapping)."""
        if stack:
            parent = stack[-1]
            if parent.mapping and parent.children % 2 == 0 and collection:
                raise error(f"{what} {path} uses a list or mapping as a mapping key (at line {_line(event)})",
                            hint="keys are plain names: check the indentation, or quote a key that starts "
                                 "with '?', '[' or '{'")
            parent.children += 1

    def add(weight: int, event: Event) -> None:
        nonlocal total
        if stack:
            stack[-1].count += weight
            size = stack[-1].count
        else:
            total += weight
            size = total
        if size > limits.max_nodes:
            raise error(
                f"{what} {path} expands to more than {limits.max_nodes} values by line {_line(event)} "
                "(YAML aliases that repeat other aliases multiply: an alias bomb?)",
                hint="write the values out, or reuse fewer levels of anchors (&name / *name)")

    try:
        for event in YAML(typ="rt").parse(text):
            if isinstance(event, CollectionStartEvent):
                start(event, True)
                stack.append(_Frame(event.anchor, isinstance(event, MappingStartEvent)))
                if len(stack) > limits.max_depth:
                    raise error(
                        f"{what} {path} is nested more than {limits.max_depth} levels deep (at line {_line(event)})",
                        hint="flatten the structure; no workflow or configuration needs that much nesting")
            elif isinstance(event, SequenceEndEvent | MappingEndEvent):
                if not stack:
                    continue
                frame = stack.pop()
                if frame.anchor:
                    anchors[frame.anchor] = (frame.count, True)
                add(frame.count, event)
            elif isinstance(event, AliasEvent):
                weight, collection = anchors.get(event.anchor or "", (1, False))
                start(event, collection)
                add(weight, event)
            elif isinstance(event, ScalarEvent):
                start(event, False)
                if event.anchor:
                    anchors[event.anchor] = (1, False)
                add(1, event)
    except YAMLError:
        return


def check_json_depth(text: str, path: Path, *, what: str, limits: Limits, error: type[UsageError]) -> None:
    """Refuse JSON nested deeper than ``max_depth`` (a scan that skips strings; no recursion)."""
    depth = 0
    in_string = escaped = False
    line = 1
    for char in text:
        if char == "\n":
            line += 1
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limits.max_depth:
                raise error(f"{what} {path} is nested more than {limits.max_depth} levels deep (at line {line})",
                            hint="flatten the structure; no workflow needs that much nesting")
        elif char in "]}":
            depth -= 1
