"""Every git command prodigy runs, through one subprocess helper.

Functions take the directory to run in (`cwd`) and return plain values. A failing command
raises `GitError` naming the command and git's own message, unless the caller asks for the
raw `GitResult` with ``check=False`` (merges, where failure is an expected outcome).

Branch names, shas and paths come from outside (a user's repository, session metadata, a pod's
result), so every such operand follows ``--`` (paths, refs, URLs) or ``--end-of-options``
(revisions): a value beginning with ``-`` is never read as an option.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prodigy.errors import GitError


@dataclass(frozen=True)
class GitResult:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


@dataclass(frozen=True)
class Commit:
    sha: str
    subject: str
    files: tuple[str, ...]


@dataclass(frozen=True)
class WorktreeEntry:
    path: Path
    head: str | None
    branch: str | None       # short name, None when detached


def git(*args: str, cwd: Path, check: bool = True, env: Mapping[str, str] | None = None) -> GitResult:
    """Run `git <args>` in `cwd` with no prompts; raise GitError on failure when `check`."""
    full_env = dict(os.environ if env is None else env)
    # A prompt (credentials, editor) would hang a non-interactive run.
    full_env.setdefault("GIT_TERMINAL_PROMPT", "0")
    full_env["GIT_EDITOR"] = "true"
    proc = subprocess.run(
        ["git", *args], cwd=cwd, env=full_env, stdin=subprocess.DEVNULL,
        capture_output=True, text=True, check=False,
    )
    result = GitResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        detail = (proc.stderr or proc.stdout).strip()
        raise GitError(f"git {' '.join(args)} failed in {cwd}: {detail or f'exit code {proc.returncode}'}")
    return result


def is_repository(path: Path) -> bool:
    if not path.is_dir():
        return False
    return git("rev-parse", "--is-inside-work-tree", cwd=path, check=False).stdout.strip() == "true"


def toplevel(path: Path) -> Path:
    return Path(git("rev-parse", "--show-toplevel", cwd=path).stdout.strip())


def head_sha(cwd: Path) -> str | None:
    """The commit HEAD points at, or None in a repository with no commits yet."""
    result = git("rev-parse", "--verify", "--quiet", "HEAD^{commit}", cwd=cwd, check=False)
    return result.stdout.strip() or None


def current_branch(cwd: Path) -> str | None:
    """The checked-out branch's short name; None when HEAD is detached."""
    result = git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=cwd, check=False)
    return result.stdout.strip() or None


def branch_exists(cwd: Path, branch: str) -> bool:
    return git("show-ref", "--verify", "--quiet", "--", f"refs/heads/{branch}", cwd=cwd, check=False).ok


def default_branch(cwd: Path) -> str:
    """Upstream's fallback target when the original branch is unknown: main, else master."""
    return "main" if branch_exists(cwd, "main") else "master"


def uncommitted_changes(cwd: Path) -> list[str]:
    """`git status --porcelain` lines (tracked changes and untracked files)."""
    out = git("status", "--porcelain", "--untracked-files=normal", cwd=cwd).stdout
    return [line for line in out.splitlines() if line.strip()]


def commits_between(cwd: Path, base: str, head: str) -> list[Commit]:
    """Commits reachable from `head` but not `base`, oldest first, with the files each touched."""
    if base == head:
        return []
    out = git("log", "--reverse", "--pretty=format:%x00%H%x1f%s", "--name-only", "--end-of-options",
              f"{base}..{head}", "--", cwd=cwd).stdout
    commits = []
    for record in out.split("\x00")[1:]:
        header, _, rest = record.partition("\n")
        sha, _, subject = header.partition("\x1f")
        files = tuple(line for line in rest.splitlines() if line.strip())
        commits.append(Commit(sha, subject, files))
    return commits


def files_changed(cwd: Path, base: str, head: str) -> list[str]:
    if base == head:
        return []
    return git("diff", "--name-only", "--end-of-options", base, head, "--", cwd=cwd).stdout.split()


def count_commits(cwd: Path, base: str, head: str) -> int:
    return int(git("rev-list", "--count", "--end-of-options", f"{base}..{head}", "--", cwd=cwd).stdout.strip() or 0)


def is_ancestor(cwd: Path, ancestor: str, descendant: str) -> bool:
    return git("merge-base", "--is-ancestor", "--end-of-options", ancestor, descendant, cwd=cwd, check=False).ok


def worktree_add(repo: Path, path: Path, *, new_branch: str | None = None, branch: str | None = None,
                 start: str = "HEAD") -> None:
    """Create a worktree: on a new branch from `start`, or on an existing `branch`."""
    if new_branch:
        git("worktree", "add", "-b", new_branch, "--", str(path), start, cwd=repo)
    elif branch:
        git("worktree", "add", "--", str(path), branch, cwd=repo)
    else:
        git("worktree", "add", "--detach", "--", str(path), start, cwd=repo)


def worktree_remove(repo: Path, path: Path, *, force: bool = False) -> None:
    args = ["worktree", "remove", *(["--force"] if force else []), "--", str(path)]
    git(*args, cwd=repo)


def worktree_prune(repo: Path) -> None:
    git("worktree", "prune", cwd=repo, check=False)


def worktree_list(repo: Path) -> list[WorktreeEntry]:
    out = git("worktree", "list", "--porcelain", cwd=repo).stdout
    entries = []
    for block in out.strip().split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(" ")
            fields[key] = value
        if "worktree" in fields:
            ref = fields.get("branch")
            entries.append(WorktreeEntry(
                Path(fields["worktree"]), fields.get("HEAD"),
                ref.removeprefix("refs/heads/") if ref else None,
            ))
    return entries


def checkout_of_branch(repo: Path, branch: str) -> Path | None:
    """The worktree (the main checkout included) where `branch` is checked out, if any."""
    for entry in worktree_list(repo):
        if entry.branch == branch:
            return entry.path
    return None


def delete_branch(repo: Path, branch: str, *, force: bool = False) -> None:
    git("branch", "-D" if force else "-d", "--", branch, cwd=repo)


def merge_no_ff(cwd: Path, branch: str, message: str) -> GitResult:
    """Merge `branch` into the checked-out branch; failure (a conflict) is returned, not raised."""
    return git("merge", "--no-ff", "--no-edit", "-m", message, "--end-of-options", branch, cwd=cwd, check=False)


def merge_abort(cwd: Path) -> None:
    git("merge", "--abort", cwd=cwd, check=False)


def is_merged(cwd: Path, branch: str, into: str) -> bool:
    """`git branch --merged <into>` lists `branch` (upstream's merge verification)."""
    out = git("branch", f"--merged={into}", "--format=%(refname:short)", cwd=cwd).stdout
    return branch in {line.strip() for line in out.splitlines()}


def config_value(cwd: Path, key: str) -> str | None:
    result = git("config", "--get", key, cwd=cwd, check=False)
    return result.stdout.strip() or None

