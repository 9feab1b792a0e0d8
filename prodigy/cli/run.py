"""Commands: cook/run, resume, exec, validate, init. Parsing only; the work is in prodigy.app.

Everything heavy is imported inside the command functions so `prodigy --help` stays fast and
never imports the Kubernetes client.
"""

from __future__ import annotations

from pathlib import Path

import click

from prodigy.cli import cli

IMAGE_PULL_POLICIES = ("Always", "IfNotPresent", "Never")


def _exit(code: int) -> None:
    raise click.exceptions.Exit(code)


def _verbosity(verbose: int, quiet: bool) -> int:
    return -1 if quiet else verbose


@click.command("cook", context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("workflow", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-p", "--path", default=".", type=click.Path(file_okay=False, path_type=Path), show_default=True,
              help="The git repository to work on.")
@click.option("-y", "--yes", is_flag=True, help="Merge the worktree back without asking.")
@click.option("--args", "args", multiple=True, metavar="VALUE",
              help="Run the workflow once per value, with ${ARG} set to it. Repeatable.")
@click.option("--map", "map_globs", multiple=True, metavar="GLOB",
              help="Run the workflow once per matching file, with ${ARG} = the file name up to its first '-' "
                   "(65-cook-refactor.md -> 65). Repeatable.")
@click.option("-n", "--max-iterations", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Repeat the steps up to N times (stops early when an iteration commits nothing).")
@click.option("-v", "--verbose", count=True, help="More output: Claude's messages, log paths. -vv: raw events.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the closing summary.")
@click.option("--dry-run", is_flag=True, help="Print the plan and exit; runs nothing and creates nothing.")
@click.option("--resume", metavar="SESSION", help="Continue an earlier session of this workflow in its worktree.")
@click.option("--cluster", metavar="NAME",
              help="Run as a Kubernetes Job on cluster NAME from ~/.prodigy/kubernetes.yaml; the commits come "
                   "back and merge like a local run.")
@click.option("--namespace", metavar="NS", help="Kubernetes namespace (default: the cluster's namespace).")
@click.option("--image", metavar="IMG", help="Container image for the Job (default: the cluster's image).")
@click.option("--image-pull-policy", type=click.Choice(IMAGE_PULL_POLICIES),
              help="imagePullPolicy of the Job's container (default: the cluster's, else IfNotPresent).")
@click.option("--keep", is_flag=True, help="Keep the finished Job and its pod (no TTL) for inspection.")
@click.option("--detach", is_flag=True,
              help="With --cluster: submit the Job, print its run id and exit; `prodigy cluster attach RUN` "
                   "finishes it later (standard workflows; a MapReduce run needs its client).")
@click.option("-w", "--worktree", is_flag=True, hidden=True, help="No-op: every run uses a worktree.")
@click.option("--fail-fast", is_flag=True, hidden=True, help="No-op, accepted for old scripts.")
def cook(workflow: Path, path: Path, yes: bool, args: tuple[str, ...], map_globs: tuple[str, ...],
         max_iterations: int, verbose: int, quiet: bool, dry_run: bool, resume: str | None, cluster: str | None,
         namespace: str | None, image: str | None, image_pull_policy: str | None, keep: bool, detach: bool,
         worktree: bool, fail_fast: bool) -> None:
    """Run WORKFLOW in a new git worktree, then merge its commits back.

    `prodigy cook` and `prodigy run` are the same command. Each run gets a branch
    prodigy-session-<uuid> and a worktree under ~/.prodigy/worktrees/<repo>/ (PRODIGY_HOME
    moves it). Steps stream their output under a `[i/N] kind: command` header. On success you
    are asked `Merge <session> to <branch> [Y/n]` (Enter = yes; -y skips the question). A failed
    or interrupted run keeps its worktree: continue it with `prodigy resume <session>`.

    Exit codes: 0 success, 1 workflow failure, 2 bad input, 130 Ctrl+C, 143 SIGTERM.

    \b
    Examples:
      prodigy run workflow.yml -y                  # run, then merge without asking
      prodigy run implement.yml --args 33          # ${ARG} = 33
      prodigy run implement.yml --map 'specs/*.md' # once per spec file
      prodigy run workflow.yml --dry-run           # show the plan only
      prodigy run w.yml --cluster dev --detach     # submit, exit; `prodigy cluster runs` shows it
    """
    if cluster and not dry_run:
        from prodigy.k8s.clients import prewarm

        prewarm()   # the client library's import (~0.4 s) overlaps everything up to the connection
    from prodigy.app.run import cook as run_cook
    from prodigy.options import RunOptions

    code = run_cook(RunOptions(
        workflow_path=workflow.expanduser().absolute(), repo_path=path.expanduser().absolute(), yes=yes,
        args=args, map_globs=map_globs, max_iterations=max_iterations, verbosity=_verbosity(verbose, quiet),
        dry_run=dry_run, resume_session=resume, cluster=cluster, namespace=namespace, image=image,
        image_pull_policy=image_pull_policy, keep=keep, detach=detach))
    if detach and not dry_run:
        _leave_now(code)
    _exit(code)


def _leave_now(code: int) -> None:
    """Exit without the interpreter's teardown. A detached submission has closed everything it
    opened (connection, spool, display) and has nothing left to finalise, while tearing down the
    Kubernetes client's thousands of modules costs about 0.1 s of CPU (much more wall time on a
    busy machine) after the user was already told the run is submitted."""
    import os
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


cli.add_command(cook, "cook")
cli.add_command(cook, "run")


@cli.command(short_help="Continue a failed or interrupted session in its worktree.")
@click.argument("session", required=False)
@click.option("-p", "--path", default=".", type=click.Path(file_okay=False, path_type=Path), show_default=True,
              help="Without SESSION: the repository whose latest unfinished session to resume.")
@click.option("-y", "--yes", is_flag=True, help="Merge without asking when the run completes.")
@click.option("-v", "--verbose", count=True, help="More output.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the closing summary.")
def resume(session: str | None, path: Path, yes: bool, verbose: int, quiet: bool) -> None:
    """Continue SESSION from the step after its last checkpoint, in the same worktree.

    SESSION is the id printed by the failed or interrupted run (session-<uuid>); `prodigy
    worktree ls` lists them. Without SESSION, the newest failed or interrupted session of the
    repository is resumed. Only one process runs a session at a time. Sessions that ran on a
    cluster resume on that cluster.
    """
    from prodigy.app.resume import latest_unfinished
    from prodigy.app.resume import resume as resume_session
    from prodigy.options import RunOptions
    from prodigy.repo.worktrees import load_session

    found = load_session(session) if session else latest_unfinished(path.expanduser().absolute())
    options = RunOptions(workflow_path=Path(found.metadata.workflow_path or ""), repo_path=found.repo, yes=yes,
                         verbosity=_verbosity(verbose, quiet), resume_session=found.id)
    _exit(resume_session(found.id, options))


@cli.command("exec")
@click.argument("command")
@click.option("--retry", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Run the command up to N times until it succeeds.")
@click.option("--timeout", type=click.IntRange(min=1), metavar="SECONDS", help="Stop the command after SECONDS.")
@click.option("-p", "--path", default=".", type=click.Path(file_okay=False, path_type=Path), show_default=True,
              help="The git repository to work on.")
@click.option("-y", "--yes", is_flag=True, help="Merge the worktree back without asking.")
@click.option("-v", "--verbose", count=True, help="More output.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors and the closing summary.")
def exec_(command: str, retry: int, timeout: int | None, path: Path, yes: bool, verbose: int, quiet: bool) -> None:
    """Run one command as a one-step workflow in a worktree.

    COMMAND is "shell: <command>" or "claude: /<slash-command> ..."; a bare "/name" is a Claude
    command and anything else a shell command.
    """
    from prodigy.app.run import cook as cook_locally
    from prodigy.local.single import write_single_step_workflow
    from prodigy.options import RunOptions

    workflow_file = write_single_step_workflow(command, retry=retry, timeout=timeout)
    options = RunOptions(workflow_path=workflow_file, repo_path=path.expanduser().absolute(), yes=yes,
                         verbosity=_verbosity(verbose, quiet))
    _exit(cook_locally(options))


@cli.command(short_help="Check a workflow file without running it.")
@click.argument("workflow", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--plan", is_flag=True, help="Also print the steps as a run would execute them.")
def validate(workflow: Path, plan: bool) -> None:
    """Check WORKFLOW without running it; exit 2 with the file, line and key of each problem."""
    from prodigy.workflow.mapreduce_loader import LoadedMapReduce, load_any
    from prodigy.workflow.mapreduce_plan import format_mapreduce_plan, summarize_mapreduce
    from prodigy.workflow.plan import format_plan

    loaded = load_any(workflow)
    for warning in loaded.warnings:
        click.echo(f"Warning: {warning}", err=True)
    if isinstance(loaded, LoadedMapReduce):
        mapreduce = loaded.workflow
        click.echo(f"{workflow}: valid MapReduce workflow '{mapreduce.name}': {summarize_mapreduce(mapreduce)}")
        if plan:
            click.echo(format_mapreduce_plan(mapreduce))
        return
    steps = len(loaded.workflow.steps)
    click.echo(f"{workflow}: valid workflow '{loaded.workflow.name}' with {steps} step{'s' if steps != 1 else ''}")
    if plan:
        click.echo(format_plan(loaded.workflow))


@cli.command()
@click.option("-p", "--path", default=".", type=click.Path(file_okay=False, path_type=Path), show_default=True,
              help="The repository to set up.")
@click.option("-f", "--force", is_flag=True, help="Overwrite files that already exist.")
def init(path: Path, force: bool) -> None:
    """Set up a repository for prodigy.

    Creates .prodigy/workflow.yml (a commented sample workflow) and installs
    .claude/commands/prodigy-merge-worktree.md, the Claude command prodigy uses when a merge
    conflicts. Commit them: worktrees only contain committed files.
    """
    from prodigy.local.init import initialise

    for line in initialise(path.expanduser().absolute(), force=force):
        click.echo(line)


