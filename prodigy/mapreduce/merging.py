"""Merging one agent's branch into its session's worktree (the session's own checkout).

`git merge --no-ff` with the message every executor uses; a conflict goes to the resolver the
executor passes (Claude on this machine, or a pod on the session's cluster). An agent's branch
already in the session's history (merged just before a crash) is not merged again.
"""

from __future__ import annotations

from prodigy.mapreduce.ledger import agent_merge_message
from prodigy.repo import git
from prodigy.repo.merges import ConflictResolver, merge_no_ff_here
from prodigy.repo.worktrees import Session
from prodigy.ui.console import Console

__all__ = ["merge_agent"]


def merge_agent(session: Session, branch: str, the_id: str, console: Console, resolve: ConflictResolver | None,
                *, check_merged: bool) -> None:
    if check_merged and git.is_ancestor(session.path, branch, "HEAD"):
        console.info(f"{branch} is already merged into {session.branch}")
        return
    merge_no_ff_here(session.path, branch, session.branch, message=agent_merge_message(the_id, branch),
                     resolve=resolve)
