"""MapReduce agent worktrees: one git worktree and branch per work item of a session.

    worktrees/<repo>/agents/<session-id>/item_<N>    branch prodigy-agent-<session-id>-item_<N>

They live beside, not inside, the session directories, so `session-*` globs and the session
listing keep seeing only sessions, and their branch names never start with ``prodigy-session-``.
A session owns its agents: removing the session (`prodigy.repo.worktrees.remove_session`)
removes them too.

`create` reuses a kept worktree, so a resumed agent goes on where it stopped, with its commits.
Callers serialise the calls that touch repository-wide files (worktree registration, branch
deletion); `checkout` and `remove_files` need no lock.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from prodigy import paths
from prodigy.repo import git

__all__ = ["AGENT_BRANCH_PREFIX", "AgentWorktree", "agent_branch", "agent_path", "agents_dir", "checkout", "create",
           "delete_branches", "describe", "list_agents", "remove", "remove_all", "remove_files", "unregister"]

AGENT_BRANCH_PREFIX = "prodigy-agent-"


def _item(index: int) -> str:
    return f"item_{index}"


def agents_dir(repo: Path, session_id: str, home: Path | None = None) -> Path:
    return paths.worktrees_dir(repo.name, home) / "agents" / session_id


def agent_path(repo: Path, session_id: str, index: int, home: Path | None = None) -> Path:
    return agents_dir(repo, session_id, home) / _item(index)


def agent_branch(session_id: str, index: int) -> str:
    return f"{AGENT_BRANCH_PREFIX}{session_id}-{_item(index)}"


@dataclass(frozen=True)
class AgentWorktree:
    session_id: str
    index: int
    path: Path
    branch: str


def describe(repo: Path, session_id: str, index: int) -> AgentWorktree:
    return AgentWorktree(session_id, index, agent_path(repo, session_id, index),
                         agent_branch(session_id, index))


def create(repo: Path, session_id: str, index: int, base_sha: str, *,
           fresh: bool = False) -> tuple[AgentWorktree, bool]:
    """The agent's worktree, new from ``base_sha`` or the one kept from an earlier run (True).

    ``fresh``: the caller knows of no earlier worktree, so try the one `git worktree add` that a
    new agent needs first, and look for leftovers only if git refuses. A fresh worktree is only
    registered here (``--no-checkout``): the caller fills it with `checkout`, which needs no lock,
    so the part of creating agents that must run one at a time stays short however big the
    repository is.
    """
    agent = describe(repo, session_id, index)
    agent.path.parent.mkdir(parents=True, exist_ok=True)
    if fresh and not agent.path.exists():
        added = git.git("worktree", "add", "-q", "--no-checkout", "-b", agent.branch, str(agent.path), base_sha,
                        cwd=repo, check=False)
        if added.ok:
            return agent, False
    has_branch = git.branch_exists(repo, agent.branch)
    if not has_branch and not agent.path.exists():
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


def checkout(agent: AgentWorktree) -> None:
    """Fill a worktree made by `create(fresh=True)` with its commit's files (and index)."""
    git.git("reset", "-q", "--hard", "HEAD", cwd=agent.path)


def remove_files(agent: AgentWorktree) -> Path | None:
    """Delete the worktree's files; return its registration directory in the repository (to be
    deleted with `unregister`). Safe alongside other git commands: git treats a registered
    worktree whose directory is gone as prunable."""
    admin: Path | None = None
    marker = agent.path / ".git"
    try:
        text = marker.read_text(encoding="utf-8").strip()
    except OSError:
        text = ""
    if text.startswith("gitdir:"):
        admin = Path(text.split(":", 1)[1].strip())
    shutil.rmtree(agent.path, ignore_errors=True)
    return admin


def unregister(repo: Path, admin: Path | None) -> None:
    """Forget a removed worktree (what `git worktree remove` does after deleting the files)."""
    if admin is not None and admin.is_dir() and admin.parent.name == "worktrees":
        shutil.rmtree(admin, ignore_errors=True)
    else:
        git.worktree_prune(repo)


def delete_branches(repo: Path, branches: list[str]) -> None:
    """Delete agent branches in one git command (each deletion takes git's packed-refs lock)."""
    existing = [branch for branch in branches if branch]
    for start in range(0, len(existing), 200):
        git.git("branch", "-D", *existing[start:start + 200], cwd=repo, check=False)


def remove(repo: Path, agent: AgentWorktree) -> None:
    if agent.path.exists():
        unregister(repo, remove_files(agent))
    git.worktree_prune(repo)
    if git.branch_exists(repo, agent.branch):
        git.delete_branch(repo, agent.branch, force=True)


def list_agents(repo: Path, session_id: str) -> list[AgentWorktree]:
    """The agents of ``session_id`` that still have a worktree or a branch."""
    prefix = agent_branch(session_id, 0).rsplit("_", 1)[0] + "_"
    indexes: set[int] = set()
    out = git.git("for-each-ref", "--format=%(refname:short)", f"refs/heads/{prefix}*", cwd=repo,
                  check=False).stdout
    for line in out.split():
        match = re.fullmatch(re.escape(prefix) + r"(\d+)", line.strip())
        if match:
            indexes.add(int(match.group(1)))
    root = agents_dir(repo, session_id)
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
    root = agents_dir(repo, session_id)
    for directory in (root, root.parent):     # agents/<session>, then agents/ when it is empty
        try:
            directory.rmdir()
        except OSError:
            break
    return len(agents)
