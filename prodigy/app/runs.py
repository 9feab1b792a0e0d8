"""`prodigy cluster runs [--all] [--watch]`: this repository's cluster runs, as they are now.

The run index (every submission from this machine) joined with the sessions (are the results
home?) and the clusters (phase, current step), by `prodigy.k8s.runview`. Only runs whose state
can still change are looked up, with one list of Jobs and one of pods per cluster and
namespace (`prodigy.k8s.livestate`). ``--watch`` redraws the table every few seconds (in place
on a terminal) and returns once none of its runs is still going.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

from prodigy.app.existing import placed_sessions
from prodigy.errors import EXIT_OK, EXIT_SIGINT
from prodigy.k8s import runindex, runview, trace
from prodigy.k8s.livestate import Key, LiveReader
from prodigy.k8s.runindex import RunRecord
from prodigy.repo import git, worktrees

REFRESH_SECONDS = 2.0


def select_records(records: Sequence[RunRecord], *, repo: Path | None, cluster: str | None,
                   session_repos: dict[str, str], limit: int) -> list[RunRecord]:
    """The newest ``limit`` runs of ``repo`` (all repositories when None) on ``cluster``."""
    chosen = []
    for record in records:
        if cluster and record.cluster != cluster:
            continue
        if repo is not None and (record.repo or session_repos.get(record.run_id)) != str(repo):
            continue
        chosen.append(record)
    return chosen[-limit:]


@dataclass(frozen=True)
class Sessions:
    """What the sessions say about runs: results home or not, and where each ran from."""

    collected: dict[str, str]     # run id -> yes | no (the session's current run)
    repos: dict[str, str]         # run id -> repository
    removed: dict[str, str]       # session id -> merged | yes | removed (sessions that are gone)

    @classmethod
    def read(cls) -> Sessions:
        collected, repos = {}, {}
        for session, placement in placed_sessions():
            collected[placement.run_id] = "yes" if placement.collected else "no"
            repos[placement.run_id] = str(session.repo)
        # A completed session is removed after its merge, or at once when it had no commits to merge.
        finished = {"merged": "merged", "completed": "yes"}
        removed = {session_id: finished.get(str(entry.get("status")), "removed")
                   for session_id, entry in worktrees.removal_records().items()}
        return cls(collected, repos, removed)

    def collected_by_run(self, records: Sequence[RunRecord]) -> dict[str, str]:
        out = {}
        for record in records:
            state = self.collected.get(record.run_id) or self.removed.get(record.session_id or "")
            if state:
                out[record.run_id] = state
        return out


@dataclass(frozen=True)
class Snapshot:
    lines: list[str]
    going: bool                   # a run of the table is still going
    state: tuple[tuple[str, ...], ...]   # what changed between two snapshots (not the ages)


class RunsTable:
    """One snapshot of the table per call; keeps its cluster connections for --watch."""

    def __init__(self, *, path: Path, all_repos: bool, cluster: str | None, limit: int) -> None:
        self.repo = None if all_repos or not git.is_repository(path) else git.toplevel(path)
        self.cluster = cluster
        self.limit = limit
        self.reader = LiveReader()

    def snapshot(self) -> Snapshot:
        sessions = Sessions.read()
        index = runindex.join_runs(runindex.read_lines())
        records = select_records(index, repo=self.repo, cluster=self.cluster, session_repos=sessions.repos,
                                 limit=self.limit)
        collected = sessions.collected_by_run(records)
        wanted: dict[Key, set[str]] = defaultdict(set)
        for record in records:
            if runview.needs_live(record, collected.get(record.run_id)):
                wanted[runview.group_key(record)].add(record.run_id)
        trace.mark(f"local state read ({len(records)} runs, {sum(map(len, wanted.values()))} to look up)")
        live = self.reader.snapshot(wanted) if wanted else {}
        trace.mark("clusters answered")
        rows = runview.build_rows(records, collected, live, datetime.now(UTC))
        notes = [f"cluster {key[0]} (namespace {key[1]}) could not be read: {group.error}"
                 for key, group in sorted(live.items()) if group.error]
        if self.repo is not None:
            others = len(select_records(index, repo=None, cluster=self.cluster, session_repos={}, limit=len(index)))
            others -= len(select_records(index, repo=self.repo, cluster=self.cluster, session_repos=sessions.repos,
                                         limit=len(index)))
            if others:
                notes.append(f"({others} more run(s) from other repositories: prodigy cluster runs --all)")
        state = tuple((row.run_id, row.phase, row.step, row.outcome, row.collected) for row in rows)
        return Snapshot(runview.format_table(rows, notes=notes), any(row.active for row in rows), state)

    def close(self) -> None:
        self.reader.close()


def runs(*, path: Path, all_repos: bool = False, cluster: str | None = None, limit: int = 20, watch: bool = False,
         out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    table = RunsTable(path=path, all_repos=all_repos, cluster=cluster, limit=limit)
    try:
        if not watch:
            stream.write("\n".join(table.snapshot().lines) + "\n")
            return EXIT_OK
        return _watch(table, stream)
    except KeyboardInterrupt:
        return EXIT_SIGINT
    finally:
        table.close()


def _watch(table: RunsTable, stream: TextIO) -> int:
    """Redraw until no run in the table is going (then the final table stays on screen)."""
    draw, close = _live_writer(stream)
    try:
        while True:
            snapshot = table.snapshot()
            draw(snapshot)
            if not snapshot.going:
                return EXIT_OK
            time.sleep(REFRESH_SECONDS)
    finally:
        close()


def _live_writer(stream: TextIO) -> tuple[Callable[[Snapshot], None], Callable[[], None]]:
    """A terminal redraws the table in place (rich); anything else gets each changed table once."""
    if stream.isatty():
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        live = Live(Text(""), console=Console(file=stream, highlight=False), auto_refresh=False)
        live.start()

        def redraw(snapshot: Snapshot) -> None:
            # One screen line per row, cut at the terminal's width (as `watch` does): a wrapped
            # table would be unreadable and would move under the cursor on every redraw.
            live.update(Text("\n".join(snapshot.lines), no_wrap=True, overflow="ellipsis"), refresh=True)

        return redraw, live.stop
    last: list[Snapshot] = []

    def append(snapshot: Snapshot) -> None:
        if not last or last[-1].state != snapshot.state:
            stream.write(("\n" if last else "") + "\n".join(snapshot.lines) + "\n")
            stream.flush()
            last[:] = [snapshot]

    return append, lambda: None
