"""Reading a run's progress back from its own output: the step headers it prints.

Every run prints ``[i/N] <step>`` at column 0 when a step starts (`format.format_step_header`)
and indents everything a step prints under it (`console.Console.step_output`), so a line that
starts with ``[i/N] `` is a header and cannot be forged by a step's output. That is all a
cluster run's pod needs to tell the world where it is: it has no API rights, and it needs
none, because its log already says it.

    parse_step_header(line)   -> StepHeader | None
    current_step(lines)       the last header in a stretch of output (a log tail)
    StepFilter(n)             the lines of step n (`prodigy cluster logs RUN --step N`)
    printable(text)           a hostile line made safe for a terminal table: no escapes, no controls

Pure functions; unit-tested in tests/unit/ui/test_steps.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_HEADER = re.compile(r"\[(\d{1,6})/(\d{1,6})\] (\S.*)")
_ESCAPE = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


@dataclass(frozen=True)
class StepHeader:
    index: int
    total: int
    text: str           # "shell: make test", with a pass label like "  (arg 7)" when there is one

    def describe(self, width: int | None = None) -> str:
        text = f"{self.index}/{self.total} {self.text}"
        return shorten(text, width) if width is not None else text


def printable(text: str) -> str:
    """``text`` without terminal escape sequences or control characters (tabs become spaces)."""
    return _CONTROL.sub("", _ESCAPE.sub("", text.replace("\t", " ")))


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def parse_step_header(line: str) -> StepHeader | None:
    """The header a step starts with, or None for any other line (step output is indented)."""
    match = _HEADER.fullmatch(printable(line).rstrip())
    if match is None:
        return None
    index, total = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= total:
        return None
    return StepHeader(index, total, match.group(3))


def current_step(lines: Iterable[str]) -> StepHeader | None:
    """The step a run is in: the last header of its output so far."""
    found = None
    for line in lines:
        header = parse_step_header(line)
        if header is not None:
            found = header
    return found


class StepFilter:
    """Keeps the lines of step ``n``: from its header up to the next step's header. A run with
    several passes (``--args``, ``-n``) prints step ``n`` once per pass; every pass is kept."""

    def __init__(self, n: int) -> None:
        self.n = n
        self._inside = False

    def keep(self, line: str) -> bool:
        header = parse_step_header(line)
        if header is not None:
            self._inside = header.index == self.n
        return self._inside

    def select(self, lines: Iterable[str]) -> list[str]:
        return [line for line in lines if self.keep(line)]
