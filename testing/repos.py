"""Builders for tests: real git repositories in temporary directories, and the fake `claude`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FAKE_CLAUDE_DIR = Path(__file__).resolve().parent / "fake_claude"


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` and return stdout; a failure fails the test with git's message."""
    proc = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True)
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {repo}: {proc.stderr}")
    return proc.stdout


def make_repo(path: Path, files: Mapping[str, str] | None = None, *, branch: str = "main",
              message: str = "initial commit") -> Path:
    """A git repository at `path` with one commit holding `files` (default: a README)."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branch)
    commit_files(path, files or {"README.md": "# scratch project\n"}, message)
    return path


def commit_files(repo: Path, files: Mapping[str, str], message: str) -> str:
    for name, content in files.items():
        target = repo / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


def log_subjects(repo: Path, ref: str = "HEAD") -> list[str]:
    return git(repo, "log", "--pretty=%s", ref).splitlines()


def branches(repo: Path) -> list[str]:
    return git(repo, "branch", "--format=%(refname:short)").split()


def write_workflow(directory: Path, text: str, name: str = "workflow.yml") -> Path:
    path = directory / name
    path.write_text(text)
    return path


@dataclass
class FakeClaude:
    """Controls the fake `claude` executable: its scenario file and the log of its calls."""

    workdir: Path

    @property
    def scenario_file(self) -> Path:
        return self.workdir / "scenario.json"

    @property
    def log_file(self) -> Path:
        return self.workdir / "calls.jsonl"

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        env = dict(os.environ if base is None else base)
        env["PATH"] = f"{FAKE_CLAUDE_DIR}{os.pathsep}{env.get('PATH', '')}"
        env["FAKE_CLAUDE_SCENARIO"] = str(self.scenario_file)
        env["FAKE_CLAUDE_LOG"] = str(self.log_file)
        return env

    def scenario(self, rules: Sequence[Mapping[str, Any]], default: Mapping[str, Any] | None = None) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.scenario_file.write_text(json.dumps({"rules": list(rules), "default": dict(default or {})}))

    def calls(self) -> list[dict[str, Any]]:
        if not self.log_file.exists():
            return []
        return [json.loads(line) for line in self.log_file.read_text().splitlines() if line.strip()]

    def prompts(self) -> list[str]:
        return [call["prompt"] for call in self.calls()]


def path_without_claude(base: Mapping[str, str] | None = None) -> str:
    """PATH with every directory that holds a `claude` executable removed."""
    env = os.environ if base is None else base
    kept = [d for d in env.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "claude").exists()]
    return os.pathsep.join(kept)
