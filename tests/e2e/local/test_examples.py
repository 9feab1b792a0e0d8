"""The examples a new user runs first keep working: hello.yml merges, hello-broken.yml resumes."""

from __future__ import annotations

import re
from pathlib import Path

from testing.repos import log_subjects

from .conftest import REPO_ROOT, RunProdigy


def test_hello_example_commits_and_merges(run_prodigy: RunProdigy, repo: Path) -> None:
    result = run_prodigy("cook", str(REPO_ROOT / "examples" / "hello.yml"), "-y")
    assert result.exit_code == 0, result.output
    assert "Hello from prodigy" in result.stdout
    assert (repo / "HELLO.md").read_text().startswith("# Hello")
    assert log_subjects(repo)[0].startswith("Merge worktree 'prodigy-session-")


def test_broken_example_fails_then_resumes(run_prodigy: RunProdigy, repo: Path) -> None:
    failed = run_prodigy("cook", str(REPO_ROOT / "examples" / "hello-broken.yml"), "-y")
    assert failed.exit_code == 1
    session = re.search(r"prodigy resume (session-[0-9a-f-]+)", failed.stdout)
    assert session, failed.output
    resumed = run_prodigy("resume", session.group(1), "-y", env={"HELLO_FIXED": "1"})
    assert resumed.exit_code == 0, resumed.output
    subjects = log_subjects(repo)
    assert subjects.count("Step 1 (kept across the resume)") == 1 and "Step 2 (after the resume)" in subjects


def test_claude_example_runs_with_the_stand_in_and_its_scenario(run_prodigy: RunProdigy, repo: Path) -> None:
    env = {"FAKE_CLAUDE_SCENARIO": str(REPO_ROOT / "examples" / "fake-claude-scenario.json")}
    result = run_prodigy("run", str(REPO_ROOT / "examples" / "hello-claude.yml"), "--args", "Ada", "-y", env=env)
    assert result.exit_code == 0, result.output
    assert "Wrote NOTE.md and committed it." in result.stdout
    assert (repo / "NOTE.md").read_text() == "Hello from the stand-in for Claude.\n"
    subjects = log_subjects(repo)
    assert subjects[0].startswith("Merge worktree 'prodigy-session-") and "Add NOTE.md" in subjects


def test_mapreduce_example_from_the_docs(run_prodigy: RunProdigy, repo: Path) -> None:
    result = run_prodigy("run", str(REPO_ROOT / "examples" / "mapreduce-notes.yml"), "-y")
    assert result.exit_code == 0, result.output
    assert "Map: filter `item.priority >= 2` kept 4 of 5" in result.stdout
    assert (repo / "notes" / "SUMMARY.md").read_text() == "4 of 4 notes written (100%)\n"
    assert (repo / "notes" / "rollback.md").read_text() == "# rollback\n\npriority 5, item 0 of 4\n"
    assert not (repo / "notes" / "configure.md").exists()
