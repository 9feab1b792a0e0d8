"""Commands: worktree ls | merge | clean — the sessions prodigy keeps under PRODIGY_HOME."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

from prodigy.cli import cli

if TYPE_CHECKING:
    from prodigy.repo.worktrees import Session
    from prodigy.workflow.model import Workflow

_PATH_OPTION = click.option("-p", "--path", default=".", type=click.Path(file_okay=False, path_type=Path),
                            show_default=True, help="The git repository whose sessions to use.")


def _repo(path: Path) -> Path:
    from prodigy.app.prepare import resolve_repo

    return resolve_repo(path.expanduser().absolute())


@cli.group(short_help="List, merge and remove session worktrees.")
def worktree() -> None:
    """List, merge and remove session worktrees (branches prodigy-session-<uuid>)."""


@worktree.command("ls", short_help="List sessions with their status and unmerged commits.")
@_PATH_OPTION
@click.option("--all", "all_repos", is_flag=True, help="Sessions of every repository, not just this one.")
@click.option("--json", "as_json", is_flag=True, help="Print the session metadata as JSON.")
def ls(path: Path, all_repos: bool, as_json: bool) -> None:
    """List this repository's sessions: id, status, commits not yet merged, target branch, worktree.

    A session is listed from its start until it is merged or cleaned. Status: in_progress (running,
    or killed without a trace), failed / interrupted (resume it), completed (ran to the end but
    not merged: merge it).
    """
    from prodigy.repo import agents as agent_worktrees
    from prodigy.repo import git, worktrees
    from prodigy.ui import format as fmt

    sessions, unreadable = worktrees.scan_sessions(None if all_repos else _repo(path))
    for broken in unreadable:   # one bad file must not hide the other sessions
        click.echo(f"Warning: {broken.message}", err=True)
    agents = {session.id: agent_worktrees.list_agents(session.repo, session.id) if session.repo.is_dir() else []
              for session in sessions}
    if as_json:
        click.echo(json.dumps([{**s.metadata.to_json(), "agents": [
            {"item": a.path.name, "path": str(a.path), "branch": a.branch} for a in agents[s.id]]}
            for s in sessions], indent=2))
        return
    if not sessions:
        where = "" if all_repos else " for this repository (--all lists every repository's)"
        click.echo(f"No prodigy sessions{where}.")
        return
    rows = []
    for session in sessions:
        meta = session.metadata
        ahead = None
        if session.repo.is_dir() and git.branch_exists(session.repo, meta.branch) and git.branch_exists(
                session.repo, meta.original_branch):
            ahead = git.count_commits(session.repo, meta.original_branch, meta.branch)
        rows.append(fmt.SessionRow(meta.session_id, meta.status.value, ahead, meta.original_branch,
                                   meta.created_at, str(meta.worktree_path)))
    for line in fmt.format_session_table(rows):
        click.echo(line)
    kept = [(session_id, agent) for session_id, found in agents.items() for agent in found]
    if kept:
        click.echo("\nMapReduce agent worktrees (removed with their session):")
        for session_id, agent in kept:
            click.echo(f"  {session_id}  {agent.path.name}  {agent.path}")


@worktree.command("merge", short_help="Merge a kept session into its original branch.")
@click.argument("name", required=False)
@click.option("--all", "merge_all", is_flag=True, help="Merge every completed session of this repository.")
@_PATH_OPTION
@click.option("-v", "--verbose", count=True, help="More output.")
def merge(name: str | None, merge_all: bool, path: Path, verbose: int) -> None:
    """Merge session NAME (or --all completed sessions) into its original branch, then remove it."""
    from prodigy import paths
    from prodigy.errors import UsageError
    from prodigy.repo import worktrees
    from prodigy.repo.locks import session_lock
    from prodigy.app.finish import FinishPrefs, merge_and_clean
    from prodigy.repo.worktrees import SessionStatus
    from prodigy.ui.console import Console

    if bool(name) == merge_all:
        raise UsageError("give a session name or --all", hint="list sessions with: prodigy worktree ls")
    console = Console(verbose)
    if name:
        targets = [worktrees.load_session(name)]
    else:
        targets = []
        for session in worktrees.list_sessions(_repo(path)):
            if session.metadata.status is SessionStatus.COMPLETED:
                targets.append(session)
            else:
                console.info(f"skipping {session.id} ({session.metadata.status.value}); merge it by name to take "
                             "its partial work")
    for session in targets:
        with session_lock(paths.state_dir(session.id), session.id):   # not while a run or resume is using it
            merge_and_clean(session, _merge_workflow(session), FinishPrefs(yes=True, verbosity=verbose,
                                                                           environ=dict(os.environ)), console)


def _merge_workflow(session: Session) -> Workflow | None:
    """The session's workflow, for its `merge:` block; None when the file is gone or invalid."""
    from prodigy.errors import ProdigyError
    from prodigy.workflow.mapreduce_loader import LoadedMapReduce, load_any

    workflow_path = session.metadata.workflow_path
    if not workflow_path:
        return None
    try:
        loaded = load_any(Path(workflow_path))
    except ProdigyError:
        return None
    return loaded.workflow.for_merge() if isinstance(loaded, LoadedMapReduce) else loaded.workflow


@worktree.command("clean", short_help="Remove sessions: worktree, branch and metadata.")
@click.argument("name", required=False)
@click.option("-a", "--all", "clean_all", is_flag=True, help="Remove every session of this repository.")
@click.option("-f", "--force", is_flag=True,
              help="Also remove sessions with unmerged commits or uncommitted changes (their work is lost).")
@_PATH_OPTION
def clean(name: str | None, clean_all: bool, force: bool, path: Path) -> None:
    """Remove session NAME (or -a all sessions): its worktree, branch and metadata.

    Without -f, a session whose branch has commits not in its original branch, or whose worktree
    has uncommitted changes, is kept and reported.
    """
    from prodigy import paths
    from prodigy.errors import UsageError
    from prodigy.repo import worktrees
    from prodigy.repo.locks import SessionBusy, session_lock

    if bool(name) == clean_all:
        raise UsageError("give a session name or -a/--all", hint="list sessions with: prodigy worktree ls")
    if name:
        try:
            targets = [worktrees.load_session(name)]
        except worktrees.MetadataError as unreadable:
            if not force:
                raise
            from prodigy.repo.session_repair import remove_unreadable

            with session_lock(paths.state_dir(unreadable.path.stem), unreadable.path.stem):
                click.echo(f"removed {unreadable.path.stem} (unreadable metadata): "
                           f"{remove_unreadable(unreadable.path.stem)}")
            return
    else:
        targets, unreadable_files = worktrees.scan_sessions(_repo(path))
        for broken in unreadable_files:
            click.echo(f"kept    {broken.session_id}: its metadata {broken.path} is unreadable "
                       f"(remove it by name: prodigy worktree clean -f {broken.session_id})")
    kept = 0
    for session in targets:
        reason = None if force else _unsafe_to_remove(session)
        if reason:
            click.echo(f"kept    {session.id}: {reason} (-f removes it anyway)")
            kept += 1
            continue
        try:
            with session_lock(paths.state_dir(session.id), session.id):
                worktrees.remove_session(session, force=True)
        except SessionBusy as busy:
            click.echo(f"kept    {session.id}: a prodigy process is using it (pid {busy.holder or '?'})")
            kept += 1
            continue
        click.echo(f"removed {session.id}")
    if kept and name:
        raise click.exceptions.Exit(1)


def _unsafe_to_remove(session: Session) -> str | None:
    from prodigy.repo import agents
    from prodigy.repo import git as g

    if session.path.is_dir() and g.uncommitted_changes(session.path):
        return "its worktree has uncommitted changes"
    unmerged = [agent.path.name for agent in agents.list_agents(session.repo, session.id)
                if g.branch_exists(session.repo, agent.branch)
                and g.branch_exists(session.repo, session.metadata.branch)
                and g.count_commits(session.repo, session.metadata.branch, agent.branch)]
    if unmerged:
        return f"MapReduce agent(s) with commits not merged into the session: {', '.join(unmerged)}"
    meta = session.metadata
    if g.branch_exists(session.repo, meta.branch) and g.branch_exists(session.repo, meta.original_branch):
        ahead = g.count_commits(session.repo, meta.original_branch, meta.branch)
        if ahead:
            return f"{ahead} commit(s) not merged into {meta.original_branch}"
    return None
