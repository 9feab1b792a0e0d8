"""Helpers for the MapReduce end-to-end tests: where a session's things are, what git says."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from testing.repos import git

from .conftest import FIXTURES

MAPREDUCE = FIXTURES / "mapreduce"


def agent_dirs(home: Path, repo: Path) -> list[Path]:
    base = home / "worktrees" / repo.name / "agents"
    return sorted(path for path in base.glob("*/item_*") if path.is_dir()) if base.exists() else []


def agent_branches(repo: Path) -> list[str]:
    return [name for name in git(repo, "branch", "--format=%(refname:short)").split()
            if name.startswith("prodigy-agent-")]


def session_id_of(output: str) -> str:
    for word in output.replace("/", " ").split():
        if word.startswith("session-") and len(word) == len("session-") + 36:
            return word
    raise AssertionError(f"no session id in:\n{output}")


def dlq(home: Path, repo: Path, session_id: str) -> dict[str, Any]:
    path = home / "dlq" / repo.name / f"{session_id}.json"
    data: dict[str, Any] = json.loads(path.read_text())
    return data


def file_at(repo: Path, path: str, ref: str = "HEAD") -> str:
    return subprocess.run(["git", "show", f"{ref}:{path}"], cwd=repo, capture_output=True, text=True,
                          check=True).stdout


def tracked_files(repo: Path, ref: str = "HEAD") -> list[str]:
    return git(repo, "ls-tree", "-r", "--name-only", ref).split()


def merges_of(repo: Path, needle: str) -> list[str]:
    """Subjects of the merge commits on the current branch that mention ``needle``."""
    return [subject for subject in git(repo, "log", "--merges", "--pretty=%s").splitlines() if needle in subject]
