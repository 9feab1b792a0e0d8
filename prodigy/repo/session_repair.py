"""Removing a session whose metadata file cannot be read (``prodigy worktree clean -f ID``).

Without its metadata prodigy does not know the session's repository, so it asks the worktree
(``git rev-parse --git-common-dir`` in ``worktrees/<repo>/<session-id>``), removes that worktree
and the ``prodigy-<session-id>`` branch when it can, then the metadata file itself. A worktree
that is already gone leaves only the file to delete.
"""

from __future__ import annotations

import json
from pathlib import Path

from prodigy import paths
from prodigy.errors import UsageError
from prodigy.repo import git, worktrees

__all__ = ["remove_unreadable"]


def _metadata_file(session_id: str, home: Path | None) -> Path | None:
    wanted = session_id if session_id.startswith(worktrees.SESSION_PREFIX) else worktrees.SESSION_PREFIX + session_id
    wanted = wanted.removeprefix(worktrees.BRANCH_PREFIX)
    base = (home or paths.prodigy_home()) / "worktrees"
    found = sorted(base.glob(f"*/.metadata/{wanted}.json"))
    return found[0] if found else None


def _repository_of(worktree: Path) -> Path | None:
    result = git.git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=worktree, check=False)
    if not result.ok or not result.stdout.strip():
        return None
    common = Path(result.stdout.strip())
    return common.parent if common.name == ".git" else common


def remove_unreadable(session_id: str, home: Path | None = None) -> str:
    """Remove what is left of a session whose metadata is unreadable; returns what was removed."""
    metadata_file = _metadata_file(session_id, home)
    if metadata_file is None:
        raise UsageError(f"no session named {session_id!r}", hint="list sessions with: prodigy worktree ls")
    session = metadata_file.stem
    worktree = metadata_file.parent.parent / session
    removed = [f"metadata {metadata_file}"]
    repo = _repository_of(worktree) if worktree.is_dir() else None
    if repo is not None:
        git.git("worktree", "remove", "--force", str(worktree), cwd=repo, check=False)
        branch = worktrees.branch_for(session)
        if git.branch_exists(repo, branch):
            git.delete_branch(repo, branch, force=True)
            removed.append(f"branch {branch} in {repo}")
        git.worktree_prune(repo)
        removed.insert(0, f"worktree {worktree}")
    metadata_file.unlink(missing_ok=True)
    with (metadata_file.parent / "cleanup.log").open("a") as log:
        log.write(json.dumps({"session_id": session, "at": worktrees.now_iso(), "status": "unreadable"}) + "\n")
    return ", ".join(removed)
