"""Agent worktrees: one git worktree and branch per work item, created from the session's commit.

Naming is in `layout` (``worktrees/<repo>/agents/<session>/item_<N>``, branch
``prodigy-agent-<session>-item_<N>``). `create` reuses a kept worktree, so a resumed agent goes on
where it stopped, with its commits. Removing deletes worktree and branch together; callers
serialise removals (deleting a branch takes git's repository-wide packed-refs lock).
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from prodigy.local import git
from prodigy.local.mapreduce import layout

__all__ = ["AgentWorktree", "create", "list_agents", "remove", "remove_all"]


@dataclass(frozen=True)
class AgentWorktree:
    session_id: str
    index: int
    path: Path
    branch: str


def describe(repo: Path, session_id: str, index: int) -> AgentWorktree:
    return AgentWorktree(session_id, index, layout.agent_path(repo, session_id, index),
                         layout.agent_branch(session_id, index))


def create(repo: Path, session_id: str, index: int, base_sha: str) -> tuple[AgentWorktree, bool]:
    """The agent's worktree, new from ``base_sha`` or the one kept from an earlier run (True)."""
    agent = describe(repo, session_id, index)
    has_branch = git.branch_exists(repo, agent.branch)
    agent.path.parent.mkdir(parents=True, exist_ok=True)
    if not has_branch and not agent.path.exists():          # the usual case: a new agent
        git.worktree_add(repo, agent.path, new_branch=agent.branch, start=base_sha)
        return agent, False
    if has_branch and agent.path.is_dir() and git.is_repository(agent.path):
        return agent, True
    # Leftovers of an agent whose worktree or registration was lost: start from a clean slate.
    if agent.path.exists():
        shutil.rmtree(agent.path, ignore_errors=True)
    git.worktree_prune(repo)
    if has_branch:
        # The worktree is gone but the branch (and its commits) is not: check it out again.
        git.worktree_add(repo, agent.path, branch=agent.branch)
        return agent, True
    git.worktree_add(repo, agent.path, new_branch=agent.branch, start=base_sha)
    return agent, False


def remove(repo: Path, agent: AgentWorktree) -> None:
    if agent.path.exists():
        result = git.git("worktree", "remove", "--force", str(agent.path), cwd=repo, check=False)
        if not result.ok:
            shutil.rmtree(agent.path, ignore_errors=True)
            git.worktree_prune(repo)
    if git.branch_exists(repo, agent.branch):
        git.delete_branch(repo, agent.branch, force=True)


def list_agents(repo: Path, session_id: str) -> list[AgentWorktree]:
    """The agents of ``session_id`` that still have a worktree or a branch."""
    prefix = layout.agent_branch(session_id, 0).rsplit("_", 1)[0] + "_"
    indexes: set[int] = set()
    out = git.git("for-each-ref", "--format=%(refname:short)", f"refs/heads/{prefix}*", cwd=repo,
                  check=False).stdout
    for line in out.split():
        match = re.fullmatch(re.escape(prefix) + r"(\d+)", line.strip())
        if match:
            indexes.add(int(match.group(1)))
    root = layout.agents_dir(repo, session_id)
    if root.is_dir():
        for child in root.iterdir():
            match = re.fullmatch(r"item_(\d+)", child.name)
            if match and child.is_dir():
                indexes.add(int(match.group(1)))
    return [describe(repo, session_id, index) for index in sorted(indexes)]


def remove_all(repo: Path, session_id: str) -> int:
    """Remove every agent worktree and branch of the session; returns how many there were."""
    agents = list_agents(repo, session_id)
    for agent in agents:
        remove(repo, agent)
    root = layout.agents_dir(repo, session_id)
    for directory in (root, root.parent):     # agents/<session>, then agents/ when it is empty
        try:
            directory.rmdir()
        except OSError:
            break
    return len(agents)
