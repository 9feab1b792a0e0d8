"""Commands: `prodigy cluster collect SESSION|RUN_ID` (repository transport).

For a cluster run whose client was killed after submission: while the finished Job still
exists, bring its commits and checkpoint home and finish exactly like the run would have.
"""

from __future__ import annotations

import click

from prodigy.cli.cluster import cluster


@cluster.command("collect")
@click.argument("name", metavar="SESSION|RUN_ID")
@click.option("-y", "--yes", is_flag=True, help="Merge without asking.")
@click.option("-v", "--verbose", count=True)
def collect(name: str, yes: bool, verbose: int) -> None:
    """Land a finished cluster run's commits on its session branch, then merge as usual."""
    from prodigy.app.collect import collect as collect_run

    raise click.exceptions.Exit(collect_run(name, yes=yes, verbosity=verbose))
