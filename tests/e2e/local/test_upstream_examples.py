"""Upstream's example workflows (tests/fixtures/workflows), run end to end with the fake `claude`."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.repos import FakeClaude, commit_files, log_subjects

from .conftest import FIXTURES, RunProdigy, session_dirs

MAKEFILE = "test:\n\ttest -f fixed-by-claude\nlint:\n\t@echo lint ok\n"


@pytest.fixture
def make_project(repo: Path) -> Path:
    commit_files(repo, {"Makefile": MAKEFILE}, "add Makefile")
    return repo


def test_implement_workflow_with_validation_retry_loop_and_merge_block(
        run_prodigy: RunProdigy, make_project: Path, fake_claude: FakeClaude, prodigy_home: Path) -> None:
    repo = make_project
    fake_claude.scenario([
        {"match": "^/prodigy-implement-spec", "actions": [{"write": "spec-42.txt", "content": "impl\n"},
                                                          {"commit": "Implement spec 42"}]},
        {"match": "^/prodigy-validate-spec", "calls": [1], "actions": [
            {"write": ".prodigy/validation-result.json",
             "content": '{"completion_percentage": 50, "missing": ["docs"], "gaps": {"docs": {"description": "x"}}}'}]},
        {"match": "^/prodigy-validate-spec", "actions": [
            {"write": ".prodigy/validation-result.json", "content": '{"completion_percentage": 100}'}]},
        {"match": "^/prodigy-complete-spec", "actions": [{"write": "docs.txt", "content": "docs\n"},
                                                         {"commit": "Complete spec 42"}]},
        {"match": "^/prodigy-debug-test-failure", "actions": [{"write": "fixed-by-claude", "content": "\n"},
                                                              {"commit": "Fix tests"}]},
        {"match": "^/prodigy-merge-worktree", "actions": [{"shell": (
            f"set -- $FAKE_ARGS; git -C '{repo}' merge -q --no-ff \"$1\" -m \"Merge worktree '$1' into $2\"")}]},
    ])
    result = run_prodigy("run", str(FIXTURES / "implement.yml"), "--args", "42", "-y")
    assert result.exit_code == 0, result.output
    prompts = [p.split()[0] for p in fake_claude.prompts()]
    assert prompts == ["/prodigy-implement-spec", "/prodigy-validate-spec", "/prodigy-complete-spec",
                       "/prodigy-validate-spec", "/prodigy-debug-test-failure", "/prodigy-merge-worktree"]
    assert fake_claude.prompts()[0] == "/prodigy-implement-spec 42"
    subjects = log_subjects(repo)
    assert subjects[0].startswith("Merge worktree 'prodigy-session-") and subjects[0].endswith("into main")
    for subject in ("Implement spec 42", "Complete spec 42", "Fix tests"):
        assert subject in subjects
    assert session_dirs(prodigy_home, repo) == []


def test_debug_workflow_fails_when_tests_stay_broken(run_prodigy: RunProdigy, make_project: Path,
                                                     fake_claude: FakeClaude, prodigy_home: Path) -> None:
    result = run_prodigy("run", str(FIXTURES / "debug.yml"), "-y")
    assert result.exit_code == 1
    assert "failed after 3 attempts" in result.stderr
    assert [p.split()[0] for p in fake_claude.prompts()] == ["/prodigy-debug-test-failure"] * 2
    assert len(session_dirs(prodigy_home, make_project)) == 1


def test_debug_workflow_passes_once_claude_fixes_the_tests(run_prodigy: RunProdigy, make_project: Path,
                                                           fake_claude: FakeClaude) -> None:
    fake_claude.scenario([
        {"match": "^/prodigy-debug-test-failure", "actions": [{"write": "fixed-by-claude", "content": "\n"},
                                                              {"commit": "Fix tests"}]},
        {"match": "^/prodigy-lint", "actions": [{"write": "lint.txt", "content": "ok\n"}, {"commit": "Lint"}]},
    ])
    result = run_prodigy("run", str(FIXTURES / "debug.yml"), "-y")
    assert result.exit_code == 0, result.output
    assert {"Fix tests", "Lint"} <= set(log_subjects(make_project))
