"""`remote` mode: the pod clones the base commit from a git URL and pushes its branch back.

Credentials never travel in a URL, a ConfigMap, an env var or a log line: the cluster entry
names a Secret (`repo.credentials_secret`) that is mounted read-only into the two plumbing
containers only (clone and push), and git reads it through GIT_ASKPASS / GIT_SSH_COMMAND.
Secret keys understood: `username` + `password` (or `token`) for https, `ssh-privatekey`
(+ optional `known_hosts`) for ssh. Every URL shown to a human goes through `mask_url`.

Those two containers run git isolated from everything the workflow can write
(isolated_git.py): the push goes from a repository the results container creates itself,
reading the workspace's commits as object files only. Every URL and ref operand follows `--`
(or `--end-of-options`), so nothing is read as an option whatever the value.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from prodigy.errors import ConfigError, GitError
from prodigy.k8s.transport.checkout import start_branch
from prodigy.k8s.transport.isolated_git import isolated_git
from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.urls import mask_text, mask_url, remote_url_problem
from prodigy.repo import git as gitops
from prodigy.repo.git import git

__all__ = [
    "check_remote_url", "clone_at", "delete_remote_ref", "ensure_base_on_remote", "fetch_pushed_branch", "is_sha",
    "mask_text", "mask_url", "push_from_workspace", "temp_base_ref",
]

_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def is_sha(value: str) -> bool:
    """A full object id (sha1 or sha256), the only form of commit a pod-side value may take."""
    return _SHA.fullmatch(value) is not None


def check_remote_url(url: str | None, *, cluster: str) -> str:
    """The configured URL, refused when missing or unsafe (kubernetes.yaml's schema checks it too)."""
    if not url:
        raise ConfigError(f"cluster {cluster!r}: repo.mode is remote but repo.remote_url is not set",
                          hint="set repo.remote_url to a git URL the cluster can reach")
    problem = remote_url_problem(url)
    if problem is not None:
        raise ConfigError(f"cluster {cluster!r}: repo.remote_url {problem}",
                          hint="see docs/transport.md (remote mode) for the URL forms allowed")
    return url


# ---------------------------------------------------------------- CLI side (the user's own git and credentials)

def temp_base_ref(session_id: str) -> str:
    return f"refs/prodigy/{session_id}/base"


def ensure_base_on_remote(repo: Path, url: str, base_sha: str, *, session_id: str, push_allowed: bool) -> str | None:
    """Make sure the pod can fetch `base_sha`; returns the ref it should fetch (None: by id).

    The base is on the remote when a remote ref points at it or at a descendant we know locally.
    Otherwise it is pushed to a temporary ref only if the user allowed it (`push_base_ref`).
    """
    listing = git("ls-remote", "--", url, cwd=repo, check=False)
    if not listing.ok:
        raise GitError(f"cannot list {mask_url(url)}: {mask_text(listing.stderr.strip(), url)}",
                       hint="check repo.remote_url and your local git credentials for it")
    # The listing comes from the server: only well-formed ids and refs are looked at.
    refs = [(sha, ref) for sha, _, ref in (line.partition("\t") for line in listing.stdout.splitlines())
            if ref.startswith("refs/") and is_sha(sha)]     # not HEAD: a symbolic name, not something to fetch by
    for sha, ref in refs:
        if sha == base_sha:
            return ref
    for sha, ref in refs:
        if ref.startswith("refs/heads/") and _known_commit(repo, sha) and gitops.is_ancestor(repo, base_sha, sha):
            return ref
    if not push_allowed:
        raise TransportError(
            f"commit {base_sha[:12]} (your HEAD) is not on {mask_url(url)}, so the pod cannot clone it",
            hint="push your branch first (git push), or set repo.push_base_ref: true to let prodigy push a "
                 "temporary ref for the run",
        )
    ref = temp_base_ref(session_id)
    pushed = git("push", "--quiet", "--", url, f"{base_sha}:{ref}", cwd=repo, check=False)
    if not pushed.ok:
        raise GitError(f"could not push the base commit to {mask_url(url)}: {mask_text(pushed.stderr.strip(), url)}")
    return ref


def _known_commit(repo: Path, sha: str) -> bool:
    return git("cat-file", "-e", "--end-of-options", f"{sha}^{{commit}}", cwd=repo, check=False).ok


def fetch_pushed_branch(repo: Path, url: str, branch: str, into_ref: str) -> None:
    fetched = git("fetch", "--quiet", "--no-tags", "--", url, f"+refs/heads/{branch}:{into_ref}", cwd=repo,
                  check=False)
    if not fetched.ok:
        raise GitError(f"could not fetch {branch} from {mask_url(url)}: {mask_text(fetched.stderr.strip(), url)}")


def delete_remote_ref(repo: Path, url: str, ref: str) -> bool:
    return git("push", "--quiet", "--", url, f":{ref}", cwd=repo, check=False).ok


# ---------------------------------------------------------------- pod side (isolated_git: credentials mounted)

def clone_at(url: str, base_sha: str, repo_dir: Path, *, fetch_ref: str | None,
             credentials_dir: Path | None, depth: int = 1, branch: str | None = None) -> None:
    """A shallow repository at `base_sha` (same id as the user's), in `repo_dir`: `depth` commits
    (more than one when a resumed session needs its own commits), with `branch` checked out at
    it when given. Runs in the init container, before the agent exists; the repository is made
    without templates, so it has no hooks."""
    if not is_sha(base_sha):
        raise TransportError(f"the base commit {base_sha[:40]!r} is not a commit id")
    repo_dir.mkdir(parents=True, exist_ok=True)
    with isolated_git(url, credentials_dir) as isolated:
        isolated.run("init", "--quiet", "--template=", cwd=repo_dir)
        result = isolated.run("fetch", "--quiet", "--no-tags", "--depth", str(depth), "--", url, base_sha,
                              cwd=repo_dir, check=False, credentials=True)
        if not result.ok and fetch_ref:
            # A server that refuses fetching by id still serves the ref that contains the commit
            # (with its history: the price of such a server).
            result = isolated.run("fetch", "--quiet", "--no-tags", "--", url, fetch_ref, cwd=repo_dir, check=False,
                                  credentials=True)
        if not result.ok:
            raise TransportError(f"could not fetch commit {base_sha[:12]} from {mask_url(url)}: "
                                 f"{mask_text(result.stderr.strip(), url)}")
        if not isolated.run("cat-file", "-e", "--end-of-options", f"{base_sha}^{{commit}}", cwd=repo_dir,
                            check=False).ok:
            raise TransportError(f"{mask_url(url)} does not have commit {base_sha[:12]}")
        if branch is not None:
            start_branch(repo_dir, branch, base_sha, run=isolated.run)


def push_from_workspace(workspace_repo: Path, url: str, *, branch: str, head_sha: str, base_sha: str,
                        credentials_dir: Path | None) -> None:
    """Push `head_sha` to `refs/heads/<branch>` on `url` without running anything the workspace controls.

    The results container creates a bare repository in its own scratch directory whose only
    link to the workspace is an alternate object store (`objects/info/alternates`): git reads
    the workspace's object files and nothing else of it — not its config (credential helpers,
    `insteadOf`, `core.*` commands), not its hooks, not its refs. `branch` and `base_sha` come
    from the pod spec, never from the workspace; `head_sha` (which the agent reported) must be
    a full commit id. The base is the shallow boundary: the remote has it (the init container
    fetched it from there).
    """
    for what, value in (("head", head_sha), ("base", base_sha)):
        if not is_sha(value):
            raise TransportError(f"the reported {what} commit {value[:40]!r} is not a commit id")
    objects = checked_object_store(workspace_repo)
    with isolated_git(url, credentials_dir) as isolated:
        private = Path(isolated.env["HOME"]) / "push.git"
        isolated.run("init", "--quiet", "--bare", "--template=", "--", str(private), cwd=Path(isolated.env["HOME"]))
        (private / "objects" / "info").mkdir(parents=True, exist_ok=True)
        (private / "objects" / "info" / "alternates").write_text(f"{objects}\n")
        (private / "shallow").write_text(f"{base_sha}\n")
        if not isolated.run("cat-file", "-e", "--end-of-options", f"{head_sha}^{{commit}}", cwd=private,
                            check=False).ok:
            raise TransportError(f"the workspace repository has no commit {head_sha[:12]}")
        result = isolated.run("push", "--quiet", "--force", "--", url, f"{head_sha}:refs/heads/{branch}",
                              cwd=private, check=False, credentials=True)
    if not result.ok:
        raise TransportError(f"could not push {branch} to {mask_url(url)}: {mask_text(result.stderr.strip(), url)}")


def checked_object_store(workspace_repo: Path) -> Path:
    """`<workspace_repo>/.git/objects`, if it holds only directories and regular files.

    The workspace is writable by the workflow: a symlink could point the push at files it
    should not read, a FIFO would block git forever, and an `info/alternates` of its own would
    pull other directories in. Checked with lstat, which never follows or blocks.
    """
    objects = workspace_repo / ".git" / "objects"
    for path in (workspace_repo / ".git", objects):
        mode = os.lstat(path).st_mode if os.path.lexists(path) else 0
        if not stat.S_ISDIR(mode):
            raise TransportError(f"{path} is not a directory; the workspace repository was altered, not pushing it")
    for directory, dirnames, filenames in os.walk(objects):
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            mode = os.lstat(path).st_mode
            if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
                raise TransportError(f"{path} is neither a file nor a directory; not pushing from an altered "
                                     "workspace repository")
    for name in ("alternates", "http-alternates"):
        if (objects / "info" / name).exists():
            raise TransportError(f"{objects / 'info' / name} exists; prodigy never makes one, so the workspace "
                                 "repository was altered: not pushing it")
    return objects
