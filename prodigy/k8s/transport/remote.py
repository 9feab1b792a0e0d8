"""`remote` mode: the pod clones the base commit from a git URL and pushes its branch back.

Credentials never travel in a URL, a ConfigMap, an env var or a log line: the cluster entry
names a Secret (`repo.credentials_secret`) that is mounted read-only into the two plumbing
containers only (clone and push), and git reads it through GIT_ASKPASS / GIT_SSH_COMMAND.
Secret keys understood: `username` + `password` (or `token`) for https, `ssh-privatekey`
(+ optional `known_hosts`) for ssh. Every URL shown to a human goes through `mask_url`.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from prodigy.errors import ConfigError, GitError
from prodigy.k8s.transport.manifest import TransportError
from prodigy.repo import git as gitops
from prodigy.repo.git import git

_SCP_LIKE = re.compile(r"^(?P<user>[^@/]+@)?(?P<host>[^:/]+):(?P<path>.+)$")


def mask_url(url: str) -> str:
    """The URL with any userinfo replaced by `***`, safe for messages and logs."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"***@{host}"))
    return url


def mask_text(text: str, url: str) -> str:
    """`text` (git's stderr) with the URL's credentials, if any, masked."""
    masked = text.replace(url, mask_url(url))
    parts = urlsplit(url)
    if parts.password:
        masked = masked.replace(parts.password, "***")
    return masked


def check_remote_url(url: str | None, *, cluster: str) -> str:
    """The configured URL, refused when missing or when it embeds a password or token."""
    if not url:
        raise ConfigError(f"cluster {cluster!r}: repo.mode is remote but repo.remote_url is not set",
                          hint="set repo.remote_url to a git URL the cluster can reach")
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.password:
        raise ConfigError(
            f"cluster {cluster!r}: repo.remote_url {mask_url(url)} contains a password or token",
            hint="put the credentials in a Secret (keys username/password) and name it in repo.credentials_secret",
        )
    return url


# ---------------------------------------------------------------- CLI side

def temp_base_ref(session_id: str) -> str:
    return f"refs/prodigy/{session_id}/base"


def ensure_base_on_remote(repo: Path, url: str, base_sha: str, *, session_id: str, push_allowed: bool) -> str | None:
    """Make sure the pod can fetch `base_sha`; returns the ref it should fetch (None: by id).

    The base is on the remote when a remote ref points at it or at a descendant we know locally.
    Otherwise it is pushed to a temporary ref only if the user allowed it (`push_base_ref`).
    """
    listing = git("ls-remote", url, cwd=repo, check=False)
    if not listing.ok:
        raise GitError(f"cannot list {mask_url(url)}: {mask_text(listing.stderr.strip(), url)}",
                       hint="check repo.remote_url and your local git credentials for it")
    refs = [(sha, ref) for sha, _, ref in (line.partition("\t") for line in listing.stdout.splitlines())
            if ref.startswith("refs/")]     # not HEAD: a symbolic name, not something to fetch by
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
    pushed = git("push", "--quiet", url, f"{base_sha}:{ref}", cwd=repo, check=False)
    if not pushed.ok:
        raise GitError(f"could not push the base commit to {mask_url(url)}: {mask_text(pushed.stderr.strip(), url)}")
    return ref


def _known_commit(repo: Path, sha: str) -> bool:
    return git("cat-file", "-e", f"{sha}^{{commit}}", cwd=repo, check=False).ok


def fetch_pushed_branch(repo: Path, url: str, branch: str, into_ref: str) -> None:
    fetched = git("fetch", "--quiet", "--no-tags", url, f"+refs/heads/{branch}:{into_ref}", cwd=repo, check=False)
    if not fetched.ok:
        raise GitError(f"could not fetch {branch} from {mask_url(url)}: {mask_text(fetched.stderr.strip(), url)}")


def delete_remote_ref(repo: Path, url: str, ref: str) -> bool:
    return git("push", "--quiet", url, f":{ref}", cwd=repo, check=False).ok


# ---------------------------------------------------------------- pod side

@contextmanager
def credential_env(credentials_dir: Path | None) -> Iterator[dict[str, str]]:
    """Env for git that answers prompts from the mounted Secret's files (never from env vars)."""
    env = dict(os.environ)
    env["GIT_TERMINAL_PROMPT"] = "0"
    if credentials_dir is None or not credentials_dir.is_dir():
        yield env
        return
    with tempfile.TemporaryDirectory(prefix="prodigy-askpass-") as scratch:
        key = credentials_dir / "ssh-privatekey"
        if key.is_file():
            known_hosts = credentials_dir / "known_hosts"
            checking = f"-o UserKnownHostsFile={known_hosts}" if known_hosts.is_file() else "-o StrictHostKeyChecking=accept-new"
            env["GIT_SSH_COMMAND"] = f"ssh -i {key} -o IdentitiesOnly=yes {checking}"
        askpass = Path(scratch) / "askpass"
        # The helper prints a file's content; the secret itself is never in argv or env.
        askpass.write_text(
            "#!/bin/sh\n"
            f"dir='{credentials_dir}'\n"
            'case "$1" in\n'
            '  Username*) if [ -f "$dir/username" ]; then cat "$dir/username"; else echo x-access-token; fi ;;\n'
            '  *) if [ -f "$dir/password" ]; then cat "$dir/password"; else cat "$dir/token"; fi ;;\n'
            "esac\n"
        )
        askpass.chmod(stat.S_IRWXU)
        env["GIT_ASKPASS"] = str(askpass)
        yield env


def clone_at(url: str, base_sha: str, repo_dir: Path, *, fetch_ref: str | None,
             credentials_dir: Path | None, depth: int = 1) -> None:
    """A shallow repository at `base_sha` (same id as the user's), in `repo_dir`: `depth` commits
    (more than one when a resumed session needs its own commits)."""
    repo_dir.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", cwd=repo_dir)
    with credential_env(credentials_dir) as env:
        result = git("fetch", "--quiet", "--no-tags", "--depth", str(depth), url, base_sha,
                     cwd=repo_dir, check=False, env=env)
        if not result.ok and fetch_ref:
            # A server that refuses fetching by id still serves the ref that contains the commit
            # (with its history: the price of such a server).
            result = git("fetch", "--quiet", "--no-tags", url, fetch_ref, cwd=repo_dir, check=False, env=env)
    if not result.ok:
        raise TransportError(f"could not fetch commit {base_sha[:12]} from {mask_url(url)}: "
                             f"{mask_text(result.stderr.strip(), url)}")
    if not git("cat-file", "-e", f"{base_sha}^{{commit}}", cwd=repo_dir, check=False).ok:
        raise TransportError(f"{mask_url(url)} does not have commit {base_sha[:12]}")


def push_branch(repo_dir: Path, url: str, branch: str, head_sha: str, *, credentials_dir: Path | None) -> None:
    with credential_env(credentials_dir) as env:
        result = git("push", "--quiet", "--force", url, f"{head_sha}:refs/heads/{branch}",
                     cwd=repo_dir, check=False, env=env)
    if not result.ok:
        raise TransportError(f"could not push {branch} to {mask_url(url)}: {mask_text(result.stderr.strip(), url)}")
