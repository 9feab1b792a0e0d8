"""Bring a session's commits back into the branch the run started from.

Order of business (`merge_session`):
1. No commits ahead of the target -> nothing to merge (the caller cleans up).
2. A workflow ``merge:`` block -> run its steps in the worktree with ``${merge.worktree}``,
   ``${merge.source_branch}``, ``${merge.target_branch}``, ``${merge.session_id}``.
3. Otherwise a deterministic ``git merge --no-ff`` (`choose_route` decides where):
   - the target is checked out and clean      -> merge right there;
   - the target is checked out but dirty      -> merge in a temporary detached worktree, then
     fast-forward the checkout (git refuses, touching nothing, if that would overwrite the
     user's uncommitted changes);
   - the target is not checked out anywhere   -> merge in a temporary worktree of the target.
   Only on a conflict: ``git merge --abort``, then Claude ``/prodigy-merge-worktree <src> <target>``.
4. Verify with ``git branch --merged <target>``; the caller then removes worktree and branch.

All of it runs under the repository lock (``git.locked``): concurrent runs of one repository
merge one at a time, and the checkout is found clean (or not) at the moment of its merge. A
merge that fails for any other reason than a conflict leaves the checkout as it was and the
session kept, with how to finish it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

from prodigy.errors import GitError, WorkflowFailed
from prodigy.repo import git
from prodigy.repo.merges import ConflictResolver, merge_no_ff_here
from prodigy.local.claude import claude_available, run_claude
from prodigy.local.steps import StepContext, StepFailed, execute_step
from prodigy.repo.worktrees import Session
from prodigy.ui.console import Console
from prodigy.workflow.model import MergeBlock

MERGE_COMMAND = "/prodigy-merge-worktree"


class MergeRoute(str, Enum):
    NOTHING = "nothing"                        # no commits ahead
    CUSTOM = "custom"                          # the workflow's merge: block
    IN_CHECKOUT = "in_checkout"                # target checked out and clean
    TEMP_THEN_FAST_FORWARD = "temp_then_ff"    # target checked out but dirty
    TEMP_WORKTREE = "temp_worktree"            # target not checked out


def choose_route(*, commits_ahead: int, has_merge_block: bool, target_checked_out: bool,
                 checkout_clean: bool) -> MergeRoute:
    """Pure: where and how to merge, from what git says about the target."""
    if commits_ahead == 0:
        return MergeRoute.NOTHING
    if has_merge_block:
        return MergeRoute.CUSTOM
    if not target_checked_out:
        return MergeRoute.TEMP_WORKTREE
    return MergeRoute.IN_CHECKOUT if checkout_clean else MergeRoute.TEMP_THEN_FAST_FORWARD


def merge_message(branch: str, target: str) -> str:
    return f"Merge worktree '{branch}' into {target}"


@dataclass(frozen=True)
class MergeTarget:
    branch: str
    warning: str | None = None


def resolve_target(repo: Path, original_branch: str | None) -> MergeTarget:
    """The original branch; if it is gone (or was a detached HEAD), main/master with a warning."""
    if original_branch and original_branch != "HEAD" and git.branch_exists(repo, original_branch):
        return MergeTarget(original_branch)
    fallback = git.default_branch(repo)
    return MergeTarget(fallback, f"original branch {original_branch or '(none)'} not found; merging into {fallback}")


def merge_session(session: Session, *, merge_block: MergeBlock | None, console: Console,
                  environ: Mapping[str, str], workflow_env: Mapping[str, str] | None = None,
                  verbosity: int = 0) -> MergeRoute:
    """Merge the session branch into its target; raise if it could not be merged and verified.

    The whole of it — reading where the target is and whether that checkout is clean, merging,
    fast-forwarding — happens under the repository lock, so what was checked is still true when
    the merge touches the checkout, and concurrent runs merge one after another.
    """
    with git.locked(session.repo, f"merging {session.branch}"):
        try:
            return _merge_locked(session, merge_block=merge_block, console=console, environ=environ,
                                 workflow_env=workflow_env, verbosity=verbosity)
        except GitError as exc:
            # Whatever failed, nothing is lost: say where the work is and how to finish.
            raise GitError(exc.message, hint=exc.hint or _kept_hint(session)) from exc


def _kept_hint(session: Session) -> str:
    return (f"the worktree is kept at {session.path} (branch {session.branch}); "
            f"merge it later with: prodigy worktree merge {session.id}")


def _merge_locked(session: Session, *, merge_block: MergeBlock | None, console: Console,
                  environ: Mapping[str, str], workflow_env: Mapping[str, str] | None, verbosity: int) -> MergeRoute:
    repo, branch = session.repo, session.branch
    target = resolve_target(repo, session.metadata.original_branch)
    if target.warning:
        console.warn(target.warning)
    checkout = git.checkout_of_branch(repo, target.branch)
    route = choose_route(
        commits_ahead=git.count_commits(repo, target.branch, branch),
        has_merge_block=merge_block is not None,
        target_checked_out=checkout is not None,
        checkout_clean=checkout is not None and not git.uncommitted_changes(checkout),
    )
    if route is MergeRoute.NOTHING:
        console.info(f"No new commits in worktree '{session.id}', skipping merge "
                     f"(already in sync with '{target.branch}')")
        return route
    console.info(f"Merging {branch} into {target.branch}")
    if route is MergeRoute.CUSTOM:
        assert merge_block is not None
        _run_merge_block(session, merge_block, target.branch, console, environ, workflow_env or {}, verbosity)
    elif route is MergeRoute.IN_CHECKOUT:
        assert checkout is not None
        merge_branch_here(checkout, branch, target.branch, console, environ, verbosity)
    elif route is MergeRoute.TEMP_WORKTREE:
        with _temporary_worktree(repo, branch=target.branch) as place:
            merge_branch_here(place, branch, target.branch, console, environ, verbosity)
    else:
        assert checkout is not None
        with _temporary_worktree(repo, start=target.branch) as place:
            merge_branch_here(place, branch, target.branch, console, environ, verbosity)
            merged_sha = git.head_sha(place)
            assert merged_sha is not None
            result = git.git("merge", "--ff-only", "--end-of-options", merged_sha, cwd=checkout, check=False)
            if not result.ok:
                raise WorkflowFailed(
                    f"Cannot merge {branch} into {target.branch}: {checkout} has uncommitted changes that the "
                    f"merge would overwrite ({(result.stderr or result.stdout).strip().splitlines()[0]})",
                    hint=f"commit or stash them, then run: prodigy worktree merge {session.id}")
    if not git.is_merged(repo, branch, target.branch):
        raise WorkflowFailed(
            f"Merge verification failed - branch '{branch}' is not merged into '{target.branch}'. "
            "The merge may have been aborted or failed silently.",
            hint=f"the worktree is kept; inspect it at {session.path}, then run: prodigy worktree merge {session.id}")
    console.success(f"Merged {branch} into {target.branch}")
    return route


def merge_branch_here(place: Path, branch: str, target: str, console: Console, environ: Mapping[str, str],
                      verbosity: int, *, message: str | None = None) -> None:
    """`git merge --no-ff` of `branch` into what `place` has checked out (`target`); on a conflict,
    abort and let Claude resolve it. Also merges MapReduce agents into their session's worktree."""
    merge_no_ff_here(place, branch, target, message=message or merge_message(branch, target),
                     resolve=claude_resolver(console, environ, verbosity))


def claude_resolver(console: Console, environ: Mapping[str, str], verbosity: int) -> ConflictResolver:
    """A conflict resolved on this machine by Claude's ``/prodigy-merge-worktree``."""
    def resolve(place: Path, branch: str, target: str) -> None:
        if not claude_available(environ):
            raise GitError(f"git merge --no-ff {branch} into {target} failed and no `claude` CLI is available "
                           "to resolve its conflicts", hint=f"merge by hand: git merge --no-ff {branch}")
        console.info(f"git merge hit conflicts; asking Claude to merge: {MERGE_COMMAND} {branch} {target}")
        claude = run_claude(f"{MERGE_COMMAND} {branch} {target}", cwd=place, env=dict(environ), verbosity=verbosity,
                            emit=console.step_progress,
                            on_stderr=lambda line: console.step_output(line, stderr=True))
        if not claude.success:
            raise GitError(claude.failure_message(f"{MERGE_COMMAND} {branch} {target}"))

    return resolve


def _run_merge_block(session: Session, block: MergeBlock, target: str, console: Console,
                     environ: Mapping[str, str], workflow_env: Mapping[str, str], verbosity: int) -> None:
    variables: dict[str, object] = {
        "merge.worktree": session.id, "merge.source_branch": session.branch,
        "merge.target_branch": target, "merge.session_id": session.id, **workflow_env,
    }
    ctx = StepContext(workdir=session.path, env={**environ, **workflow_env, "PRODIGY_AUTOMATION": "true"},
                      variables=variables, console=console, verbosity=verbosity)
    for index, step in enumerate(block.steps, start=1):
        console.step_header(index, len(block.steps), step.display, "merge")
        try:
            execute_step(step, ctx, timeout=block.timeout)
        except StepFailed as exc:
            raise WorkflowFailed(f"merge workflow failed: {exc.message}",
                                 hint=f"the worktree is kept; retry with: prodigy worktree merge {session.id}") from exc


class _temporary_worktree:
    """A throwaway worktree (on `branch`, or detached at `start`), removed on exit."""

    def __init__(self, repo: Path, *, branch: str | None = None, start: str = "HEAD") -> None:
        self.repo, self.branch, self.start = repo, branch, start
        self.path = Path(tempfile.mkdtemp(prefix="prodigy-merge-")) / "checkout"

    def __enter__(self) -> Path:
        git.worktree_add(self.repo, self.path, branch=self.branch, start=self.start)
        return self.path

    def __exit__(self, *exc: object) -> None:
        git.git("worktree", "remove", "--force", "--", str(self.path), cwd=self.repo, check=False)
        git.worktree_prune(self.repo)
        try:
            os.rmdir(self.path.parent)
        except OSError:
            pass
