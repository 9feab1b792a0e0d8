"""Commands: cluster list|show|check|gc. Parsing only; the work is in prodigy.k8s.admin
(imported inside each command, so `prodigy --help` never imports the Kubernetes client)."""

from __future__ import annotations

import click

from prodigy.cli import cli
from prodigy.errors import EXIT_USAGE


def _echo(lines: list[str]) -> None:
    for line in lines:
        click.echo(line)


@cli.group("cluster")
def cluster() -> None:
    """Inspect, check and clean up Kubernetes clusters.

    These are the clusters `prodigy cook WORKFLOW --cluster NAME` runs on.

    Clusters are named in ~/.prodigy/kubernetes.yaml; a kubeconfig context name works too.
    """


@cluster.command("list")
def list_() -> None:
    """List the configured clusters (and kubeconfig contexts usable as cluster names)."""
    from prodigy.k8s.admin import list_clusters

    _echo(list_clusters())


@cluster.command("show")
@click.argument("name")
def show(name: str) -> None:
    """Show the settings a run on NAME would use, after defaults are applied."""
    from prodigy.k8s.admin import show_cluster

    _echo(show_cluster(name))


@cluster.command("check")
@click.argument("name")
@click.option("--namespace", metavar="NS", help="Check this namespace instead of the cluster's.")
def check(name: str, namespace: str | None) -> None:
    """Check that NAME is ready for prodigy runs (the same preflight every run does).

    Reachability, credentials, namespace, the permissions a run needs, referenced Secrets.
    Exits 0 when ready, 2 when a check failed.
    """
    from prodigy.k8s.admin import check_cluster

    outcome = check_cluster(name, namespace)
    _echo(outcome.lines)
    if outcome.report.failures:
        raise click.exceptions.Exit(EXIT_USAGE)


@cluster.command("gc")
@click.argument("name")
@click.option("--older-than", default="1h", show_default=True, metavar="AGE",
              help="Only Jobs finished (or created, if never finished) longer ago than AGE: 30m, 1h, 2d.")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
@click.option("--namespace", metavar="NS", help="Namespace to clean (default: the cluster's).")
@click.option("-A", "--all-namespaces", is_flag=True, help="Clean prodigy Jobs in every namespace.")
@click.option("--include-running", is_flag=True, help="Also delete Jobs that are still running.")
@click.option("--abandoned-after", default="7d", show_default=True, metavar="AGE",
              help="Finished detached runs nobody collected are kept this long, then deleted as abandoned.")
def gc(name: str, older_than: str, dry_run: bool, namespace: str | None, all_namespaces: bool,
       include_running: bool, abandoned_after: str) -> None:
    """Delete leftover prodigy Jobs (label app=prodigy) with their pods, ConfigMaps and Secrets.

    The results of a detached run (`prodigy cook --detach`) stay in its Job until it is
    collected; such a Job is deleted only once it is older than --abandoned-after, and named.
    """
    from prodigy.k8s.admin import collect_garbage

    _echo(collect_garbage(name, older_than=older_than, dry_run=dry_run, all_namespaces=all_namespaces,
                          include_running=include_running, namespace=namespace, abandoned_after=abandoned_after))
