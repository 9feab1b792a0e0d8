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
@click.option("--phase", type=click.Choice(["setup", "map", "reduce", "merge"]), default=None,
              help="A MapReduce session's phase (prodigy cook --cluster runs one Job per phase).")
@click.option("--timeout", type=click.IntRange(min=1), default=None, help="setup's timeout / agent_timeout_secs.")
@click.option("--merge-branch", default="", help="merge phase: the agent branch to merge.")
@click.option("--merge-head", default="", help="merge phase: that branch's head commit.")
@click.option("--merge-item", default="", help="merge phase: the item id (item_N).")
def execute(workflow: Path, args: tuple[str, ...], max_iterations: int, verbose: int, phase: str | None,
            timeout: int | None, merge_branch: str, merge_head: str, merge_item: str) -> None:
    """Run WORKFLOW here, non-interactively: no worktree, no prompt, no merge.

    Writes a JSON summary to /dev/termination-log (PRODIGY_TERMINATION_LOG overrides the path)
    and exits with the workflow's exit code.
    """
    from prodigy.agent import AgentRequest
    from prodigy.agent import execute as run_agent

    raise click.exceptions.Exit(run_agent(AgentRequest(workflow, args, max_iterations, verbose, phase=phase or "",
                                                       timeout=timeout, merge_branch=merge_branch,
                                                       merge_head=merge_head, merge_item=merge_item)))
