"""Real git repositories in tmp dirs: the transport is tested end to end without a cluster."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest


def run_git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit_all(repo: Path, message: str, *, allow_empty: bool = False) -> str:
    run_git(repo, "add", "-A")
    run_git(repo, "commit", "-q", "-m", message, *(["--allow-empty"] if allow_empty else []))
    return run_git(repo, "rev-parse", "HEAD")


@pytest.fixture
def user_repo(tmp_path: Path) -> Path:
    """A repository with history, an executable, a symlink, a binary file and a nested dir."""
    repo = tmp_path / "user-repo"
    repo.mkdir()
    run_git(repo, "init", "-q", "-b", "main")
    (repo / "README.md").write_text("hello\n")
    commit_all(repo, "first")
    (repo / "src").mkdir()
    (repo / "src" / "app.py").write_text("print('app')\n")
    tool = repo / "tool.sh"
    tool.write_text("#!/bin/sh\necho tool\n")
    tool.chmod(0o755)
    os.symlink("README.md", repo / "readme-link")
    (repo / "blob.bin").write_bytes(bytes(range(256)) * 64)
    commit_all(repo, "second: modes, links, binary")
    return repo
