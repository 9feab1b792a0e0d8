"""`git merge --no-ff` of a branch into a checkout, with a conflict handed to a resolver.

    merge_no_ff_here(place, branch, target, message=..., resolve=...)

The one merge every merge of prodigy goes through: a session into the user's branch, and a
MapReduce agent into its session. Git decides alone when it can. When it stops:

- on conflicting paths: the merge is aborted (the checkout is as it was) and ``resolve(place,
  branch, target)`` is asked to merge; locally that is Claude's ``/prodigy-merge-worktree`` on
  this machine, for a cluster session a pod running the same command. Afterwards ``branch``
  must be in the history of ``place``'s HEAD;
- for any other reason (a ref it could not lock, a file it would overwrite): whatever git wrote
  is undone and the error raised; a resolver is only for conflicts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from prodigy.errors import GitError
from prodigy.repo import git

__all__ = ["ConflictResolver", "merge_no_ff_here", "undo_merge"]

# (place, branch, target) -> returns once `branch` is merged into what `place` has checked out.
ConflictResolver = Callable[[Path, str, str], None]


def merge_no_ff_here(place: Path, branch: str, target: str, *, message: str,
                     resolve: ConflictResolver | None) -> None:
    result = git.merge_no_ff(place, branch, message)
    if result.ok:
        return
    detail = (result.stdout + result.stderr).strip()
    if not has_conflicts(place):
        undo_merge(place)
        raise GitError(f"git merge --no-ff {branch} into {target} failed in {place}:\n{detail}")
    git.merge_abort(place)
    if resolve is None:
        raise GitError(f"git merge --no-ff {branch} into {target} hit conflicts and nothing here can resolve them:"
                       f"\n{detail}", hint=f"merge by hand: git merge --no-ff {branch}")
    resolve(place, branch, target)
    if not git.is_ancestor(place, branch, "HEAD"):
        raise GitError(f"the conflict resolution finished but {branch} is not merged in {place}")


def has_conflicts(place: Path) -> bool:
    """Did the merge stop on conflicting paths (unmerged index entries)?"""
    return bool(git.git("ls-files", "--unmerged", cwd=place, check=False).stdout.strip())


def undo_merge(place: Path) -> None:
    """`merge --abort` when git recorded a merge in progress, else `reset --merge` (what it does)."""
    if git.git("rev-parse", "-q", "--verify", "MERGE_HEAD", cwd=place, check=False).ok:
        git.merge_abort(place)
    else:
        git.git("reset", "--merge", "HEAD", cwd=place, check=False)
