"""The checks every run starts with, before any side effect: the repository, the inputs, Claude."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from prodigy import paths
from prodigy.errors import UsageError
from prodigy.execution import RunRequest
from prodigy.local.map_inputs import map_matches
from prodigy.options import RunOptions
from prodigy.repo import git, worktrees
from prodigy.ui.console import Console
from prodigy.workflow.loader import LoadedWorkflow, load_workflow
from prodigy.workflow.variables import arg_from_map_path

NOT_A_REPO_HINT = "run prodigy inside a git repository, pass -p/--path, or create one with `git init`"


def resolve_repo(path: Path) -> Path:
    if not path.exists():
        raise UsageError(f"Directory not found: {path}")
    if not path.is_dir():
        raise UsageError(f"Path is not a directory: {path}")
    if not git.is_repository(path):
        raise UsageError(f"Not a git repository: {path}", hint=NOT_A_REPO_HINT)
    repo = git.toplevel(path)
    if git.head_sha(repo) is None:
        raise UsageError(f"{repo} has no commits yet, so there is nothing to branch a worktree from",
                         hint="make a first commit, e.g. git commit --allow-empty -m init")
    return repo


def expand_inputs(options: RunOptions, repo: Path, outside_paths: tuple[str, ...] = ()) -> tuple[str, ...]:
    """`--args` values, then one ARG per file matched by each `--map` glob (file stem before '-').
    The globs stay inside the repository unless the workflow lists `outside_paths:`."""
    values = list(options.args)
    for pattern in options.map_globs:
        values.extend(arg_from_map_path(p) for p in map_matches(pattern, repo, outside_paths))
    return tuple(values)


def read_workflow(path: Path, console: Console) -> LoadedWorkflow:
    """The one read of the workflow file for a run; its warnings are shown once, here."""
    loaded = load_workflow(path)
    for warning in loaded.warnings:
        console.warn(warning)
    return loaded


def prepare_request(options: RunOptions, loaded: LoadedWorkflow, environ: Mapping[str, str]) -> RunRequest:
    """Everything that can be wrong with the input is found here, before anything is created."""
    if options.max_iterations < 1:
        raise UsageError("-n/--max-iterations must be at least 1")
    repo = resolve_repo(options.repo_path)
    inputs = expand_inputs(options, repo, loaded.workflow.outside_paths)
    if not options.dry_run:
        paths.require_writable_home()
    return RunRequest(
        source=loaded, workflow_path=options.workflow_path, repo=repo,
        original_branch=worktrees.original_branch_of(repo), args=inputs,
        max_iterations=options.max_iterations, verbosity=options.verbosity, environ=dict(environ),
        uncommitted=tuple(git.uncommitted_changes(repo)))
