"""Commands for runs submitted with `prodigy cook WORKFLOW --cluster NAME --detach`:
cluster runs | attach | logs | cancel. Parsing only; the work is in prodigy.app."""

from __future__ import annotations

from pathlib import Path

import click

from prodigy.cli.cluster import cluster

RUN = "RUN|SESSION"


def _prewarm() -> None:
    """Import the Kubernetes client on a thread while the local state is read (as `cook` does)."""
    from prodigy.k8s.clients import prewarm

    prewarm()


@cluster.command("runs")
@click.option("-a", "--all", "all_repos", is_flag=True, help="Runs of every repository, not only this one's.")
@click.option("-w", "--watch", is_flag=True, help="Keep the table up to date until none of its runs is going.")
@click.option("--cluster", "cluster_name", metavar="NAME", help="Only runs on this cluster.")
@click.option("-n", "--limit", type=click.IntRange(min=1), default=20, show_default=True, help="The newest N runs.")
@click.option("-p", "--path", default=".", type=click.Path(file_okay=False, path_type=Path), show_default=True,
              help="The repository whose runs to show.")
def runs(all_repos: bool, watch: bool, cluster_name: str | None, limit: int, path: Path) -> None:
    """This repository's cluster runs, with what the cluster says about them now.

    \b
    PHASE      the Job and pod now (Running, Pending: ImagePullBackOff, Succeeded, Gone...)
    STEP       the step a running workflow is in, from its own output
    OUTCOME    how it ended (a detached run: as the cluster reports it, until collected)
    COLLECTED  whether its commits are home (yes, no, merged)

    The run index is ~/.prodigy/runs.jsonl; only runs that can still change are looked up.
    """
    _prewarm()
    from prodigy.app.runs import runs as show_runs

    raise click.exceptions.Exit(show_runs(path=path.expanduser().absolute(), all_repos=all_repos,
                                          cluster=cluster_name, limit=limit, watch=watch))


@cluster.command("attach")
@click.argument("name", metavar=RUN)
@click.option("-y", "--yes", is_flag=True, help="Merge without asking when the run completes.")
@click.option("--history", is_flag=True, help="Show the run's whole output so far, not only what comes next.")
@click.option("-v", "--verbose", count=True)
def attach(name: str, yes: bool, history: bool, verbose: int) -> None:
    """Follow a detached run to its end, then collect and merge it as if it had never been detached.

    Live output from now on, the status line, and at the end the summary and the merge prompt
    (or the kept worktree and `Resume with:`). A run that already finished is collected at once.
    Ctrl+C cancels the run, keeping its commits. Only one client can attach to a run.
    """
    _prewarm()
    from prodigy.app.attach import attach as attach_run

    raise click.exceptions.Exit(attach_run(name, yes=yes, verbosity=verbose, history=history))


@cluster.command("logs")
@click.argument("name", metavar=RUN)
@click.option("-f", "--follow", is_flag=True, help="Keep printing lines until the workflow ends.")
@click.option("--step", type=click.IntRange(min=1), metavar="N", help="Only the lines of step N.")
def logs(name: str, follow: bool, step: int | None) -> None:
    """Print a run's output without finishing it (works after the pod is gone once collected)."""
    from prodigy.app.logs import logs as print_logs

    raise click.exceptions.Exit(print_logs(name, follow=follow, step=step))


@cluster.command("cancel")
@click.argument("name", metavar=RUN)
@click.option("-v", "--verbose", count=True)
def cancel(name: str, verbose: int) -> None:
    """Stop a detached run the Ctrl+C way: Job and pods deleted, commits so far kept, resumable."""
    _prewarm()
    from prodigy.app.cancel import cancel as cancel_run

    raise click.exceptions.Exit(cancel_run(name, verbosity=verbose))
