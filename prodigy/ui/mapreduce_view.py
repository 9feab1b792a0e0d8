"""What a MapReduce map phase shows while N agents run at once.

On a terminal: a rich live display (a progress bar with items done / running / failed, and one
line per running agent with its item and current step); finished agents scroll above it. Not on a
terminal (CI logs, pipes): plain lines, one when an agent starts and one when it ends (with
``-v`` also one per step). Each agent's full output is in its log file, never interleaved here.

`MapProgress` is the state (updated from agent threads under a lock); the `format_*` functions are
pure; `PlainView` and `RichView` print.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from prodigy.ui.format import format_duration, plural

if TYPE_CHECKING:
    from rich.console import RenderableType

    from prodigy.ui.console import Console

__all__ = ["MapProgress", "MapView", "PlainView", "RichView", "choose_view", "format_agent_line",
           "format_status"]


@dataclass
class RunningAgent:
    item_id: str
    label: str
    started: float
    step: str = "starting"


@dataclass
class MapProgress:
    total: int = 0
    done: int = 0            # finished before this run started, plus finished since
    succeeded: int = 0
    failed: int = 0
    running: dict[str, RunningAgent] = field(default_factory=dict)
    pending: int | None = None   # known on a cluster: items whose pod does not run yet
    waiting: str = ""            # why they wait (quota, unschedulable, image pull...)


def format_status(progress: MapProgress) -> str:
    """``7/10 items done · 2 running · 1 failed`` (a cluster adds ``· 3 pending: <why>``)."""
    parts = [f"{progress.done}/{progress.total} items done", f"{len(progress.running)} running"]
    if progress.failed:
        parts.append(f"{progress.failed} failed")
    if progress.pending:
        parts.append(f"{progress.pending} pending" + (f": {progress.waiting}" if progress.waiting else ""))
    return " · ".join(parts)


def format_agent_line(agent: RunningAgent, now: float, width: int = 100) -> str:
    text = f"{agent.item_id}  {agent.label}  —  {agent.step}  ({format_duration(now - agent.started)})"
    return text if len(text) <= width else text[:width - 1] + "…"


def format_step(number: int, total: int, display: str) -> str:
    first = display.strip().splitlines()[0] if display.strip() else display
    return f"step {number}/{total}: {first}"


class MapView(Protocol):
    def start(self, total: int, done: int, failed: int, max_parallel: int) -> None: ...
    def agent_started(self, item_id: str, label: str, attempt: int) -> None: ...
    def agent_step(self, item_id: str, number: int, total: int, display: str) -> None: ...
    def agent_status(self, item_id: str, text: str) -> None: ...
    def agent_merging(self, item_id: str) -> None: ...
    def agent_finished(self, item_id: str, *, ok: bool, detail: str) -> None: ...
    def waiting(self, pending: int, reason: str) -> None: ...
    def note(self, text: str) -> None: ...
    def stop(self) -> None: ...


class _Tracking:
    """The progress bookkeeping both views share."""

    def __init__(self) -> None:
        self.progress = MapProgress()
        self.lock = threading.Lock()

    def _start(self, total: int, done: int, failed: int) -> None:
        with self.lock:
            self.progress.total, self.progress.done, self.progress.failed = total, done, failed

    def _started(self, item_id: str, label: str) -> None:
        with self.lock:
            self.progress.running[item_id] = RunningAgent(item_id, label, time.monotonic())

    def _step(self, item_id: str, text: str) -> None:
        with self.lock:
            agent = self.progress.running.get(item_id)
            if agent is not None:
                agent.step = text

    def _waiting(self, pending: int, reason: str) -> bool:
        """Record what waits; True when the reason changed (worth a line in plain output)."""
        with self.lock:
            changed = reason != self.progress.waiting
            self.progress.pending, self.progress.waiting = pending, reason
            return changed

    def _finished(self, item_id: str, ok: bool) -> None:
        with self.lock:
            self.progress.running.pop(item_id, None)
            self.progress.done += 1
            if ok:
                self.progress.succeeded += 1
            else:
                self.progress.failed += 1


class PlainView(_Tracking):
    """Line by line, for logs and pipes."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        self.console = console

    def start(self, total: int, done: int, failed: int, max_parallel: int) -> None:
        self._start(total, done, failed)
        left = total - done
        self.console.info(f"Map: {plural(left, 'item')} to run, up to {max_parallel} agents at once"
                          + (f" ({done} already done)" if done else ""))

    def agent_started(self, item_id: str, label: str, attempt: int) -> None:
        self._started(item_id, label)
        again = f" (attempt {attempt})" if attempt > 1 else ""
        self.console.info(f"[{item_id}] started{again}: {label}")

    def agent_step(self, item_id: str, number: int, total: int, display: str) -> None:
        self._step(item_id, format_step(number, total, display))
        self.console.detail(f"[{item_id}] {format_step(number, total, display)}")

    def agent_status(self, item_id: str, text: str) -> None:
        self._step(item_id, text)
        self.console.detail(f"[{item_id}] {text}")

    def agent_merging(self, item_id: str) -> None:
        self._step(item_id, "merging")

    def waiting(self, pending: int, reason: str) -> None:
        if self._waiting(pending, reason) and reason:
            self.console.info(f"Map: {plural(pending, 'item')} pending: {reason}")

    def agent_finished(self, item_id: str, *, ok: bool, detail: str) -> None:
        self._finished(item_id, ok)
        mark = "✓" if ok else "✗"
        line = f"[{item_id}] {mark} {detail}  ({format_status(self.progress)})"
        if ok:
            self.console.info(line)
        else:
            self.console.error(line)

    def note(self, text: str) -> None:
        self.console.info(text)

    def stop(self) -> None:
        pass


class RichView(_Tracking):
    """A live display on a terminal: progress bar plus one line per running agent."""

    def __init__(self, console: Console) -> None:
        super().__init__()
        from rich.console import Console as RichConsole
        from rich.live import Live

        self.rich = RichConsole(file=console.out)
        self.live = Live(get_renderable=self._render, console=self.rich, refresh_per_second=4, transient=True)
        self.max_parallel = 1

    def _render(self) -> RenderableType:
        from rich.console import Group
        from rich.progress_bar import ProgressBar
        from rich.table import Table
        from rich.text import Text

        with self.lock:
            progress = self.progress
            running = sorted(progress.running.values(), key=lambda agent: agent.started)
            status = format_status(progress)
            done, total = progress.done, progress.total
            now = time.monotonic()
            width = max(self.rich.width - 4, 40)
            lines = [format_agent_line(agent, now, width) for agent in running]
        header = Table.grid(padding=(0, 1))
        header.add_row(ProgressBar(total=max(total, 1), completed=done, width=30), Text(status, style="bold"))
        # Text, not markup: item labels and step commands come from the workflow and its items.
        rows = [Text.assemble(("  ↳ ", "cyan"), line, no_wrap=True, overflow="ellipsis") for line in lines]
        return Group(header, *rows)

    def start(self, total: int, done: int, failed: int, max_parallel: int) -> None:
        self._start(total, done, failed)
        self.max_parallel = max_parallel
        left = total - done
        self.rich.print(f"Map: {plural(left, 'item')} to run, up to {max_parallel} agents at once"
                        + (f" ({done} already done)" if done else ""), highlight=False)
        self.live.start()

    def agent_started(self, item_id: str, label: str, attempt: int) -> None:
        self._started(item_id, label + (f" (attempt {attempt})" if attempt > 1 else ""))

    def agent_step(self, item_id: str, number: int, total: int, display: str) -> None:
        self._step(item_id, format_step(number, total, display))

    def agent_status(self, item_id: str, text: str) -> None:
        self._step(item_id, text)

    def agent_merging(self, item_id: str) -> None:
        self._step(item_id, "merging into the session")

    def waiting(self, pending: int, reason: str) -> None:
        self._waiting(pending, reason)

    def agent_finished(self, item_id: str, *, ok: bool, detail: str) -> None:
        from rich.text import Text

        self._finished(item_id, ok)
        # A Text, not markup: the detail carries error text from the workflow, which may contain "[".
        line = Text.assemble(("✓" if ok else "✗", "green" if ok else "red"), f" {item_id} {detail}")
        self.live.console.print(line, highlight=False, soft_wrap=True)

    def note(self, text: str) -> None:
        self.live.console.print(text, highlight=False, markup=False)

    def stop(self) -> None:
        self.live.stop()
        self.rich.print(format_status(self.progress), highlight=False)


def choose_view(console: Console) -> PlainView | RichView:
    """The live display on an interactive terminal (unless -q/-v); plain lines otherwise."""
    try:
        terminal = console.out.isatty()
    except (AttributeError, ValueError):
        terminal = False
    if terminal and console.verbosity == 0:
        return RichView(console)
    return PlainView(console)
