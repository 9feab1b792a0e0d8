"""Commands for MapReduce sessions: dlq list | show | retry, and logs (each agent's output).

Parsing only; the work is in prodigy.local.mapreduce.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from prodigy.cli import cli


def _verbosity(verbose: int, quiet: bool) -> int:
    return -1 if quiet else verbose


def _queue(session: str) -> Any:
    from prodigy.errors import UsageError
    from prodigy.mapreduce import layout
    from prodigy.mapreduce.dlq import DeadLetterStore

    name = session if session.startswith("session-") else f"session-{session}"
    path = layout.find_dlq_file(name)
    queue = DeadLetterStore.read(path) if path else None
    if queue is None:
        raise UsageError(f"session {name} has no dead-letter queue",
                         hint="only MapReduce sessions whose items failed have one")
    return queue


@cli.group(short_help="The dead-letter queue of a MapReduce session: list, show, retry.")
def dlq() -> None:
    """Work items whose agent failed, kept per MapReduce session with every failure."""


@dlq.command("list", short_help="List the failed items of SESSION.")
@click.argument("session")
@click.option("--json", "as_json", is_flag=True, help="Print the queue as JSON.")
def dlq_list(session: str, as_json: bool) -> None:
    """List the items of SESSION's dead-letter queue: failures, last attempt, where and why it failed."""
    from prodigy.ui.dlq_format import DlqRow, format_dlq_table

    queue = _queue(session)
    if as_json:
        click.echo(json.dumps(queue.to_json(), indent=2, default=str))
        return
    letters = sorted(queue.items.values(), key=lambda letter: letter.index)
    if not letters:
        click.echo(f"The dead-letter queue of {queue.session_id} is empty.")
        return
    rows = [DlqRow(letter.item_id, len(letter.failures), letter.last.at, letter.last.step, letter.last.error)
            for letter in letters]
    for line in format_dlq_table(rows):
        click.echo(line)
    click.echo(f"\nDetails: prodigy dlq show {queue.session_id} ITEM    Retry: prodigy dlq retry {queue.session_id}")


@dlq.command("show", short_help="Everything about one failed item.")
@click.argument("session")
@click.argument("item")
def dlq_show(session: str, item: str) -> None:
    """Show ITEM (item_3 or 3) of SESSION's dead-letter queue: its data and every failure."""
    from prodigy.errors import UsageError
    from prodigy.ui.dlq_format import format_dlq_entry

    queue = _queue(session)
    wanted = item if item.startswith("item_") else f"item_{item}"
    letter = queue.items.get(wanted)
    if letter is None:
        known = ", ".join(sorted(queue.items, key=lambda name: int(name.split("_")[-1]))) or "none"
        raise UsageError(f"{wanted} is not in the dead-letter queue of {queue.session_id}", hint=f"queued: {known}")
    entry = letter.to_json()
    if entry.get("worktree") and not Path(str(entry["worktree"])).is_dir():
        entry["worktree"] = None     # removed with its session
    for line in format_dlq_entry(entry):
        click.echo(line)


@dlq.command("retry", short_help="Run the failed items again and merge them.")
@click.argument("session")
@click.option("-y", "--yes", is_flag=True, help="Merge without asking when the session ends.")
@click.option("--max-parallel", type=click.IntRange(min=1), metavar="N",
              help="Agents at once (default: the workflow's max_parallel).")
@click.option("-v", "--verbose", count=True, help="More output.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the closing summary.")
def dlq_retry(session: str, yes: bool, max_parallel: int | None, verbose: int, quiet: bool) -> None:
    """Run SESSION's failed items again through its map phase and merge the ones that succeed.

    A session that still exists gets the retried items merged into its worktree; one that was
    merged and removed gets a new session from its original branch. Items that fail again stay
    in the queue with the new failure.
    """
    import os

    from prodigy.app.mapreduce import retry_dead_letters
    from prodigy.ui.console import Console

    name = session if session.startswith("session-") else f"session-{session}"
    verbosity = _verbosity(verbose, quiet)
    code = retry_dead_letters(name, yes=yes, console=Console(verbosity), stdin=None, environ=dict(os.environ),
                              verbosity=verbosity, max_parallel=max_parallel)
    raise click.exceptions.Exit(code)


@cli.command(short_help="Show what the agents of a MapReduce session printed.")
@click.argument("session")
@click.option("--agent", "agent", metavar="N", help="The agent of item N (3 or item_3): print its whole log.")
@click.option("--tail", type=click.IntRange(min=1), metavar="LINES", help="Only the last LINES lines.")
def logs(session: str, agent: str | None, tail: int | None) -> None:
    """List the agent logs of SESSION, or print one with --agent N.

    Every agent's output (each step's stdout and stderr, every attempt) is kept under
    $PRODIGY_HOME/logs/mapreduce/SESSION/.
    """
    from prodigy.errors import UsageError
    from prodigy.mapreduce import layout
    from prodigy.ui.dlq_format import LogRow, format_log_table

    name = session if session.startswith("session-") else f"session-{session}"
    directory = layout.logs_dir(name)
    if not directory.is_dir():
        raise UsageError(f"no agent logs for {name}", hint="agent logs exist for MapReduce sessions only")
    if agent is None:
        rows = [LogRow(path.stem, path.stat().st_size, str(path)) for path in
                sorted(directory.glob("item_*.log"), key=lambda path: int(path.stem.split("_")[-1]))]
        for line in format_log_table(rows):
            click.echo(line)
        return
    number = re.fullmatch(r"(?:item_)?(\d+)", agent.strip())
    if number is None:
        raise UsageError(f"--agent {agent!r}: give the item number, e.g. --agent 3 or --agent item_3")
    path = layout.agent_log(name, int(number.group(1)))
    if not path.is_file():
        raise UsageError(f"item_{number.group(1)} of {name} has no log", hint=f"list them with: prodigy logs {name}")
    text = path.read_text(encoding="utf-8", errors="replace")
    if tail is not None:
        text = "\n".join(text.splitlines()[-tail:]) + "\n"
    click.echo(text, nl=False)
