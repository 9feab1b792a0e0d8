"""Remote mode against a local bare repository: the pod's clone and push, the CLI's checks."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from prodigy.errors import ConfigError, GitError
from prodigy.k8s.transport.checkout import start_branch
from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.remote import (
    check_remote_url, clone_at, ensure_base_on_remote, fetch_pushed_branch, mask_text, mask_url,
    push_from_workspace, temp_base_ref,
)

from .conftest import commit_all, run_git

BRANCH = "prodigy-session-remote"


@pytest.fixture
def bare(user_repo: Path, tmp_path: Path) -> str:
    path = tmp_path / "remote.git"
    run_git(tmp_path, "init", "-q", "--bare", str(path))
    run_git(user_repo, "push", "-q", str(path), "main")
    return f"file://{path}"


def test_pod_clones_the_base_commit_and_pushes_its_branch_from_a_read_only_checkout(
        user_repo: Path, bare: str, tmp_path: Path) -> None:
    base = run_git(user_repo, "rev-parse", "HEAD")
    assert ensure_base_on_remote(user_repo, bare, base, session_id="session-remote", push_allowed=False) \
        == "refs/heads/main"
    pod = tmp_path / "pod"
    clone_at(bare, base, pod, fetch_ref="refs/heads/main", credentials_dir=None)
    start_branch(pod, BRANCH, base)
    assert run_git(pod, "rev-parse", "HEAD") == base
    assert os.readlink(pod / "readme-link") == "README.md"
    (pod / "new.txt").write_text("from the pod\n")
    head = commit_all(pod, "pod commit")

    # The results container mounts the workspace read-only: pushing must not need to write.
    for path in [pod, *pod.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        if os.geteuid() != 0:  # root ignores modes; the push must work either way
            assert not os.access(pod / ".git", os.W_OK)
        push_from_workspace(pod, bare, branch=BRANCH, head_sha=head, base_sha=base, credentials_dir=None)
    finally:
        for path in [pod, *pod.rglob("*")]:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode | stat.S_IWUSR)

    fetch_pushed_branch(user_repo, bare, BRANCH, "refs/prodigy/incoming/x")
    assert run_git(user_repo, "rev-parse", "refs/prodigy/incoming/x") == head


def test_base_not_on_remote_is_a_clear_error_unless_pushing_is_allowed(
        user_repo: Path, bare: str, tmp_path: Path) -> None:
    base = commit_all(user_repo, "local only", allow_empty=True)

    with pytest.raises(TransportError, match="is not on") as caught:
        ensure_base_on_remote(user_repo, bare, base, session_id="session-remote", push_allowed=False)
    assert "push_base_ref" in (caught.value.hint or "")

    ref = ensure_base_on_remote(user_repo, bare, base, session_id="session-remote", push_allowed=True)
    assert ref == temp_base_ref("session-remote")
    pod = tmp_path / "pod"
    clone_at(bare, base, pod, fetch_ref=ref, credentials_dir=None)
    assert run_git(pod, "rev-parse", "FETCH_HEAD") == base


def test_clone_of_a_commit_the_remote_lacks_fails_clearly(bare: str, tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="could not fetch commit 000000000000"):
        clone_at(bare, "0" * 40, tmp_path / "pod", fetch_ref=None, credentials_dir=None)


def test_credentials_are_read_from_the_mounted_secret_never_shown(user_repo: Path, tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "username").write_text("robot")
    (creds / "password").write_text("s3cr3t-token")
    from prodigy.k8s.transport.isolated_git import isolated_git

    with isolated_git("https://git.example.com/x.git", creds) as isolated:
        env = isolated.credential_env
        assert "GIT_ASKPASS" not in isolated.env        # only the commands that talk to the remote get it
        askpass = env["GIT_ASKPASS"]
        assert "s3cr3t-token" not in " ".join(f"{k}={v}" for k, v in env.items() if k.startswith("GIT"))
        import subprocess

        user = subprocess.run([askpass, "Username for 'https://git.example.com': "], capture_output=True, text=True)
        password = subprocess.run([askpass, "Password for 'https://robot@git.example.com': "],
                                  capture_output=True, text=True)
    assert (user.stdout, password.stdout) == ("robot", "s3cr3t-token")


def test_urls_with_tokens_are_refused_and_masked() -> None:
    with pytest.raises(ConfigError, match=r"'https://\*\*\*@git.example.com/x.git' contains a password"):
        check_remote_url("https://bot:ghp_abc@git.example.com/x.git", cluster="dev")
    assert mask_url("https://bot:ghp_abc@git.example.com/x.git") == "https://***@git.example.com/x.git"
    assert "ghp_abc" not in mask_text("fatal: ghp_abc rejected for https://bot:ghp_abc@h/x",
                                      "https://bot:ghp_abc@h/x")
    assert check_remote_url("git@github.com:org/repo.git", cluster="dev") == "git@github.com:org/repo.git"
    with pytest.raises(ConfigError, match="remote_url is not set"):
        check_remote_url(None, cluster="dev")


def test_a_dry_run_contacts_no_git_remote(user_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prodigy.k8s.config.loader import parse_kubernetes_config
    from prodigy.k8s.config.resolve import ClusterOverrides, resolve_cluster
    from prodigy.k8s.transport.run import RunTransport
    from testing.credential_traps import credential_observer

    monkeypatch.setenv("PRODIGY_HOME", str(tmp_path / "home"))
    with credential_observer() as observer:
        config = parse_kubernetes_config(
            f"clusters:\n  dev:\n    repo: {{mode: remote, remote_url: '{observer.url}', push_base_ref: true}}\n",
            Path("kubernetes.yaml"))
        cluster = resolve_cluster(config, "dev", ClusterOverrides(), ["dev"])

        planned = RunTransport.prepare(user_repo, cluster, run_id="r1", session_id="session-dry",
                                       contact_remote=False)
        planned.close()
        assert observer.requests == []
        init = planned.additions.init_containers[0]
        assert {"name": "PRODIGY_REPO_URL", "value": observer.url} in init["env"]

        with pytest.raises(GitError, match="cannot list"):      # a real run does ask the remote
            RunTransport.prepare(user_repo, cluster, run_id="r2", session_id="session-real")
        assert observer.requests != []
