"""Thin printers: the terminal side of a run. Formatting lives in `prodigy.ui.format`.

Step output (stdout/stderr of the child) is written through as it arrives, indented under the
step header; prodigy's own lines are styled when the terminal supports colour.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO

import click

from prodigy.ui import format as fmt


class Console:
    """Prints a run's progress. verbosity: -1 quiet, 0 normal, 1+ verbose."""

    def __init__(self, verbosity: int = 0, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.verbosity = verbosity
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        # Output arrives from two reader threads (stdout, stderr); keep lines whole.
        self._lock = threading.Lock()

    def _write(self, text: str, *, err: bool = False, fg: str | None = None, bold: bool = False) -> None:
        stream = self.err if err else self.out
        with self._lock:
            click.echo(click.style(text, fg=fg, bold=bold) if (fg or bold) else text, file=stream, color=None)

    # prodigy's own messages
    def info(self, text: str) -> None:
        if self.verbosity >= 0:
            self._write(text)

    def detail(self, text: str) -> None:
        if self.verbosity >= 1:
            self._write(text, fg="bright_black")

    def success(self, text: str) -> None:
        """How a run ended for the user's branch (merged): shown even with -q, like the summary."""
        self._write(text, fg="green")

    def outcome(self, text: str) -> None:
        """Where the work is and what to type next (kept worktree, resume hint): shown even with -q."""
        self._write(text)

    def warn(self, text: str) -> None:
        self._write(f"Warning: {text}", err=True, fg="yellow")

    def error(self, text: str) -> None:
        self._write(text, err=True, fg="red")

    # a run's steps
    def step_header(self, index: int, total: int, display: str, pass_label: str | None = None) -> None:
        if self.verbosity >= 0:
            self._write(fmt.format_step_header(index, total, display, pass_label), fg="cyan", bold=True)

    def step_output(self, line: str, *, stderr: bool = False) -> None:
        if self.verbosity >= 0:
            self._write("  " + line.rstrip("\n"), err=stderr)

    def step_progress(self, line: str) -> None:
        if self.verbosity >= 0:
            self._write("  " + line)

    def substep(self, text: str) -> None:
        if self.verbosity >= 0:
            self._write(f"  ↳ {text}", fg="cyan")

    def step_done(self, duration: float, commits: int, files: int, note: str | None = None) -> None:
        if self.verbosity >= 0:
            self._write("  " + fmt.format_step_done(duration, commits, files, note), fg="green")

    def step_skipped(self, reason: str) -> None:
        if self.verbosity >= 0:
            self._write(f"  skipped: {reason}", fg="bright_black")

    def summary(self, summary: fmt.RunSummary) -> None:
        colour = "green" if summary.status == "completed" else "red"
        lines = fmt.format_summary(summary)
        self._write(lines[0], fg=colour, bold=True)
        for line in lines[1:]:
            self._write(line)

    def ask_yes_no(self, prompt: str, stdin: TextIO | None = None) -> tuple[bool, str]:
        """Ask a [Y/n] question; empty input or EOF means yes (upstream's default)."""
        with self._lock:
            self.out.write(prompt)
            self.out.flush()
        source = stdin or sys.stdin
        line = source.readline()
        answer = line.strip()
        if not line or not _is_terminal(source):
            # A terminal echoes what was typed; for piped input (or EOF) show the answer taken,
            # so the transcript reads `[Y/n]: n` and the next message starts on its own line.
            self._write(answer if line else "")
        return (answer.lower() in ("", "y", "yes")), (answer if line else "<eof>")


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):   # closed or file-like objects without a terminal
        return False
