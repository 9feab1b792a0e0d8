"""Commands: agent execute (what the Job's container runs). Parsing only; the work is in prodigy.agent."""

from __future__ import annotations

from pathlib import Path

import click

from prodigy.cli import cli


@cli.group("agent", hidden=True)
def agent() -> None:
    """Inside a Kubernetes pod: run a workflow for `prodigy cook --cluster`."""


@agent.command("execute")
@click.argument("workflow", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--args", "args", multiple=True, metavar="VALUE", help="Run once per value, with ${ARG} set to it.")
@click.option("-n", "--max-iterations", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("-v", "--verbose", count=True)
def execute(workflow: Path, args: tuple[str, ...], max_iterations: int, verbose: int) -> None:
    """Run WORKFLOW here, non-interactively: no worktree, no prompt, no merge.

    Writes a JSON summary to /dev/termination-log (PRODIGY_TERMINATION_LOG overrides the path)
    and exits with the workflow's exit code.
    """
    from prodigy.agent import AgentRequest
    from prodigy.agent import execute as run_agent

    raise click.exceptions.Exit(run_agent(AgentRequest(workflow, args, max_iterations, verbose)))
