"""issue 2 §5: bad input exits 2 with a clear message, before any worktree is created."""

from __future__ import annotations

from pathlib import Path

import pytest

from testing.repos import path_without_claude

from .conftest import RunProdigy, write


def _nothing_created(home: Path) -> bool:
    return not (home / "worktrees").exists() or not any((home / "worktrees").rglob("session-*"))


def test_invalid_yaml_names_file_line_and_column(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: echo ok\n- shell: [unclosed\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: ")
    assert f"Invalid YAML in {wf} at line 3, column" in result.stderr
    assert _nothing_created(prodigy_home)


def test_unknown_step_key_suggests_the_right_one(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: echo ok\n  comit_required: true\n")
    result = run_prodigy("run", str(wf), "-y")
    assert result.exit_code == 2
    assert "comit_required" in result.stderr and "commit_required" in result.stderr
    assert _nothing_created(prodigy_home)


def test_wrong_type_names_the_field_and_expected_shape(run_prodigy: RunProdigy, repo: Path,
                                                      prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: make test\n  timeout: soon\n")
    result = run_prodigy("run", str(wf), "-y")
    assert result.exit_code == 2
    assert "timeout" in result.stderr and "soon" in result.stderr
    assert _nothing_created(prodigy_home)


def test_directory_that_is_not_a_git_repository(run_prodigy: RunProdigy, repo: Path, tmp_path: Path,
                                                prodigy_home: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    wf = write(repo / "wf.yml", "- shell: echo ok\n")
    result = run_prodigy("cook", str(wf), "-p", str(plain), "-y")
    assert result.exit_code == 2
    assert f"Not a git repository: {plain}" in result.stderr
    assert "git init" in result.stderr
    assert _nothing_created(prodigy_home)


def test_claude_steps_without_claude_on_path(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: echo ok\n- claude: /prodigy-lint\n")
    result = run_prodigy("cook", str(wf), "-y", env={"PATH": path_without_claude()})
    assert result.exit_code == 2
    assert "Claude CLI is not available" in result.stderr
    assert _nothing_created(prodigy_home)


def test_mapreduce_workflow_with_an_empty_agent_template(run_prodigy: RunProdigy, repo: Path,
                                                        prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "name: mr\nmode: mapreduce\nmap:\n  input: items.json\n  agent_template: []\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 2
    assert "wf.yml:5" in result.stderr and "map.agent_template: must not be empty" in result.stderr
    assert _nothing_created(prodigy_home)


@pytest.mark.parametrize("flags, message", [
    (["--cluster", "dev", "--detach"], "--detach does not apply to a MapReduce workflow"),
    (["--map", "*.txt"], "--map does not apply to a MapReduce workflow"),
    (["-n", "3"], "-n/--max-iterations does not apply to a MapReduce workflow"),
    (["--args", "a", "--args", "b"], "a MapReduce workflow takes at most one --args value"),
])
def test_run_options_a_mapreduce_workflow_cannot_take(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path,
                                                     flags: list[str], message: str) -> None:
    # Refused before anything happens: no cluster is looked up ("dev" is configured nowhere).
    wf = write(repo / "wf.yml", "name: mr\nmode: mapreduce\nmap:\n  input: items.json\n"
                                "  agent_template:\n    - shell: 'true'\n")
    result = run_prodigy("cook", str(wf), "-y", *flags)
    assert result.exit_code == 2
    assert message in result.stderr
    assert _nothing_created(prodigy_home)


def test_missing_workflow_file(run_prodigy: RunProdigy, repo: Path) -> None:
    result = run_prodigy("cook", str(repo / "nope.yml"))
    assert result.exit_code == 2
    assert "nope.yml" in result.stderr


def test_unknown_flag_is_a_usage_error(run_prodigy: RunProdigy) -> None:
    result = run_prodigy("cook", "wf.yml", "--no-such-flag")
    assert result.exit_code == 2


def test_repository_without_commits(run_prodigy: RunProdigy, tmp_path: Path, repo: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    import subprocess

    subprocess.run(["git", "init", "-q", str(empty)], check=True)
    wf = write(repo / "wf.yml", "- shell: echo ok\n")
    result = run_prodigy("cook", str(wf), "-p", str(empty))
    assert result.exit_code == 2
    assert "no commits" in result.stderr


def test_dry_run_prints_the_plan_and_creates_nothing(run_prodigy: RunProdigy, repo: Path,
                                                     prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: echo hello\n- claude: /prodigy-lint\n  commit_required: true\n")
    result = run_prodigy("cook", str(wf), "--dry-run", "--args", "5")
    assert result.exit_code == 0, result.output
    assert "shell: echo hello" in result.stdout and "/prodigy-lint" in result.stdout
    assert "Created worktree" not in result.stdout
    assert _nothing_created(prodigy_home)
    assert not (prodigy_home / "state").exists()


@pytest.mark.parametrize("flags", [["-w"], ["--worktree"], ["--fail-fast"]])
def test_old_flags_are_accepted_as_no_ops(run_prodigy: RunProdigy, repo: Path, flags: list[str]) -> None:
    wf = write(repo / "wf.yml", "- shell: echo fine\n")
    result = run_prodigy("cook", str(wf), "-y", *flags)
    assert result.exit_code == 0, result.output
    assert "fine" in result.stdout


def test_run_from_a_subdirectory_uses_the_repository_root(run_prodigy: RunProdigy, repo: Path,
                                                          prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: ls\n")
    result = run_prodigy("cook", str(wf), "-y", cwd=repo / "src")
    assert result.exit_code == 0, result.output
    assert "README.md" in result.stdout


