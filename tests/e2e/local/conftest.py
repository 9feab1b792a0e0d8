"""Local acceptance tests: the real `prodigy` CLI in a subprocess, real git, the fake `claude`.

``run_prodigy`` runs ``python -m prodigy`` in the scratch repository with the test's isolated
HOME/PRODIGY_HOME (from tests/conftest.py) and the fake `claude` first on PATH.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from testing.repos import FakeClaude, make_repo

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = REPO_ROOT / "tests" / "fixtures" / "workflows"


@dataclass(frozen=True)
class Run:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


RunProdigy = Callable[..., Run]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "project", {"README.md": "# project\n", "src/app.txt": "v1\n"})


@pytest.fixture
def fake_claude(tmp_path: Path) -> FakeClaude:
    fake = FakeClaude(tmp_path / "fake-claude")
    fake.scenario([])
    return fake


@pytest.fixture
def prodigy_home() -> Path:
    return Path(os.environ["PRODIGY_HOME"])


@pytest.fixture
def run_prodigy(repo: Path, fake_claude: FakeClaude) -> RunProdigy:
    def run(*args: str, input: str | None = "", cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> Run:
        environment = fake_claude.env()
        environment.update(env or {})
        proc = subprocess.run([sys.executable, "-m", "prodigy", *args], cwd=cwd or repo, env=environment,
                              input=input, capture_output=True, text=True, timeout=timeout)
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


def session_dirs(home: Path, repo: Path) -> list[Path]:
    base = home / "worktrees" / repo.name
    return sorted(p for p in base.glob("session-*") if p.is_dir()) if base.exists() else []


def metadata(home: Path, repo: Path) -> list[dict[str, object]]:
    base = home / "worktrees" / repo.name / ".metadata"
    return [json.loads(p.read_text()) for p in sorted(base.glob("session-*.json"))] if base.exists() else []


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def parents_of(repo: Path, ref: str = "HEAD") -> Sequence[str]:
    out = subprocess.run(["git", "rev-list", "--parents", "-n", "1", ref], cwd=repo, capture_output=True,
                         text=True, check=True).stdout.split()
    return out[1:]
