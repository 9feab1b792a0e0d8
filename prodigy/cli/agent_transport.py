"""Commands: `prodigy agent fetch-repo` and `prodigy agent emit-results` (the pod's plumbing containers).

They live beside `prodigy agent execute` (prodigy/cli/agent.py) on the same `agent` group; the
work is done in `prodigy.k8s.transport.pod`, which never imports the Kubernetes client.
"""

from __future__ import annotations

from pathlib import Path

import click

from prodigy.cli.agent import agent


@agent.command("fetch-repo")
@click.option("--from", "source_dir", type=click.Path(path_type=Path), default=None,
              help="Directory with manifest.json and the chunk files (bundle mode).")
@click.option("--to", "to", type=click.Path(path_type=Path), required=True, help="Where to build the repository.")
@click.option("--remote", is_flag=True, help="Clone $PRODIGY_REPO_URL at $PRODIGY_BASE_SHA instead (remote mode).")
@click.option("--state-to", type=click.Path(path_type=Path), default=None,
              help="Restore the shipped checkpoint here (resumed runs).")
def fetch_repo_command(source_dir: Path | None, to: Path, remote: bool, state_to: Path | None) -> None:
    """Init container: build the workspace repository at the run's base commit."""
    from prodigy.k8s.transport.pod import fetch_repo

    fetch_repo(to=to, source_dir=source_dir, remote=remote, state_to=state_to)


@agent.command("emit-results")
@click.option("--dir", "out_dir", type=click.Path(path_type=Path), required=True,
              help="The shared directory the agent exports result.tar into.")
@click.option("--push-from", type=click.Path(path_type=Path), default=None,
              help="Remote mode: push the session branch from this repository first.")
def emit_results_command(out_dir: Path, push_from: Path | None) -> None:
    """Results container: print the run's result as checksummed frames on stdout. Always exits 0."""
    from prodigy.k8s.transport.pod import emit_results

    emit_results(out_dir, push_from=push_from)
