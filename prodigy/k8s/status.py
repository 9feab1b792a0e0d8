"""What a cluster run shows in the terminal: the workflow's own output, plus one status line.

The workflow's output (the pod's log) goes to stdout untouched, so a cluster run reads like
a local one and pipes the same way. The status line (phase, pending reason, elapsed time)
is a live, self-replacing line drawn with rich when stdout is a terminal; otherwise each
change is one plain ``[prodigy] ...`` line on stderr, so logs and CI output stay greppable.
All writes go through one lock: log followers of several containers and the supervisor
print from different threads.
"""

from __future__ import annotations

import re
import sys
import threading
from typing import IO, Protocol

# What changes every tick and is left out when comparing plain status lines: the countdown, the
# elapsed seconds, how long the API server has been unreachable.
_COUNTDOWN = re.compile(r",? gives up in \d+s|\s\d+s$|(?<=unreachable for )\d+s")


class Display(Protocol):
    def log(self, line: str) -> None: ...
    def status(self, text: str) -> None: ...
    def info(self, text: str) -> None: ...
    def close(self) -> None: ...


def format_status(job: str, phase: str, detail: str = "", elapsed: float | None = None) -> str:
    """``prodigy-hello-ab12: Pending — image x cannot be pulled (ImagePullBackOff), gives up in 95s 12s``."""
    text = f"{job}: {phase}"
    if detail:
        text += f" — {detail}"
    if elapsed is not None:
        text += f" {int(elapsed)}s"
    return text


class PlainDisplay:
    """Non-terminal output: status changes as plain lines on stderr, logs on stdout."""

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self._lock = threading.Lock()
        self._last_status = ""

    def log(self, line: str) -> None:
        with self._lock:
            self.out.write(line + "\n")
            self.out.flush()

    def status(self, text: str) -> None:
        # Elapsed seconds and countdowns change every tick; print only when the rest changes,
        # with the countdown (a CI log should say how long a pending reason is tolerated).
        key = _COUNTDOWN.sub("", text)
        with self._lock:
            if key == self._last_status:
                return
            self._last_status = key
            shown = re.sub(r"\s\d+s$", "", text)
            self.err.write(f"[prodigy] {shown}\n")
            self.err.flush()

    def info(self, text: str) -> None:
        with self._lock:
            self.err.write(f"[prodigy] {text}\n")
            self.err.flush()

    def close(self) -> None:
        pass


class RichDisplay:
    """Terminal output: a transient live status line under the scrolling log."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live
        from rich.spinner import Spinner

        self._console = Console(highlight=False, soft_wrap=True)
        self._spinner = Spinner("dots", text="submitting…")
        self._live = Live(self._spinner, console=self._console, transient=True, refresh_per_second=8,
                          redirect_stdout=False, redirect_stderr=False)
        self._lock = threading.Lock()
        self._live.start()

    def log(self, line: str) -> None:
        with self._lock:
            self._console.print(line, markup=False, emoji=False, highlight=False)

    def status(self, text: str) -> None:
        with self._lock:
            self._spinner.update(text=text)

    def info(self, text: str) -> None:
        from rich.markup import escape

        with self._lock:
            self._console.print(f"[dim]\\[prodigy][/dim] {escape(text)}", highlight=False, emoji=False)

    def close(self) -> None:
        with self._lock:
            self._live.stop()


def make_display(*, force_plain: bool = False) -> Display:
    if not force_plain and sys.stdout.isatty() and sys.stderr.isatty():
        return RichDisplay()
    return PlainDisplay()
