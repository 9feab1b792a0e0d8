"""The other local commands: worktree ls|merge|clean, exec, init, validate, resume, --help."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from testing.repos import FakeClaude, branches, git, log_subjects

from .conftest import FIXTURES, RunProdigy, metadata, session_dirs, write

FAILING = "- shell: \"echo a > a.txt && git add a.txt && git commit -qm 'add a'\"\n- shell: 'exit 1'\n"


def _failed_session(run_prodigy: RunProdigy, repo: Path) -> str:
    result = run_prodigy("cook", str(write(repo / "wf.yml", FAILING)), "-y")
    assert result.exit_code == 1
    match = re.search(r"prodigy resume (session-[0-9a-f-]+)", result.stdout)
    assert match
    return match.group(1)


def test_worktree_ls_shows_kept_sessions(run_prodigy: RunProdigy, repo: Path) -> None:
    session = _failed_session(run_prodigy, repo)
    listing = run_prodigy("worktree", "ls")
    assert listing.exit_code == 0
    header, *rows = listing.stdout.splitlines()
    assert header.split() == ["SESSION", "STATUS", "COMMITS", "MERGES", "INTO", "CREATED", "WORKTREE"]
    (row,) = rows
    session_id, status, commits, target, _created, worktree = row.split()
    assert (session_id, status, commits, target) == (session, "failed", "1", "main")
    assert Path(worktree).name == session
    as_json = json.loads(run_prodigy("worktree", "ls", "--json").stdout)
    assert as_json[0]["session_id"] == session and as_json[0]["original_branch"] == "main"


def test_worktree_clean_refuses_unmerged_work_without_force(run_prodigy: RunProdigy, repo: Path,
                                                            prodigy_home: Path) -> None:
    session = _failed_session(run_prodigy, repo)
    kept = run_prodigy("worktree", "clean", session)
    assert kept.exit_code == 1 and "1 commit(s) not merged" in kept.stdout
    assert len(session_dirs(prodigy_home, repo)) == 1
    forced = run_prodigy("worktree", "clean", session, "-f")
    assert forced.exit_code == 0, forced.output
    assert session_dirs(prodigy_home, repo) == []
    assert f"prodigy-{session}" not in branches(repo)
    assert metadata(prodigy_home, repo) == []


def test_worktree_clean_all_removes_sessions_without_unmerged_work(run_prodigy: RunProdigy, repo: Path,
                                                                   prodigy_home: Path) -> None:
    result = run_prodigy("cook", str(write(repo / "wf.yml", "- shell: 'exit 1'\n")), "-y")
    assert result.exit_code == 1
    cleaned = run_prodigy("worktree", "clean", "--all")
    assert cleaned.exit_code == 0, cleaned.output
    assert "removed session-" in cleaned.stdout
    assert session_dirs(prodigy_home, repo) == []


def test_resume_of_an_unknown_session_is_a_usage_error(run_prodigy: RunProdigy, repo: Path) -> None:
    assert run_prodigy("resume", "session-does-not-exist").exit_code == 2


def test_fixed_workflow_resumes_after_a_failure(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: \"echo a > a.txt && git add a.txt && git commit -qm 'add a'\"\n"
                                "- shell: 'test -f ../go'\n- shell: echo finished\n")
    failed = run_prodigy("cook", str(wf), "-y")
    assert failed.exit_code == 1
    (worktree,) = session_dirs(prodigy_home, repo)
    (worktree.parent / "go").write_text("")
    resumed = run_prodigy("resume", worktree.name, "-y")
    assert resumed.exit_code == 0, resumed.output
    assert "[1/3]" not in resumed.stdout and "finished" in resumed.stdout
    assert log_subjects(repo).count("add a") == 1
    again = run_prodigy("resume", worktree.name)
    assert again.exit_code == 2


def test_cook_resume_flag_is_the_same_as_resume(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: 'test -f ../go'\n- shell: echo finished\n")
    assert run_prodigy("cook", str(wf), "-y").exit_code == 1
    (worktree,) = session_dirs(prodigy_home, repo)
    (worktree.parent / "go").write_text("")
    resumed = run_prodigy("cook", str(wf), "--resume", worktree.name, "-y")
    assert resumed.exit_code == 0, resumed.output
    assert "finished" in resumed.stdout


def test_exec_runs_one_shell_command_in_a_worktree(run_prodigy: RunProdigy, repo: Path) -> None:
    result = run_prodigy("exec", "shell: echo hi > hi.txt && git add hi.txt && git commit -qm 'exec hi'", "-y")
    assert result.exit_code == 0, result.output
    assert "exec hi" in log_subjects(repo)


def test_exec_claude_command_with_retry(run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude) -> None:
    fake_claude.scenario([{"match": "^/flaky", "calls": [1], "exit_code": 1, "stderr": "transient"}])
    result = run_prodigy("exec", "/flaky now", "--retry", "2", "-y")
    assert result.exit_code == 0, result.output
    assert fake_claude.prompts() == ["/flaky now", "/flaky now"]


def test_init_creates_sample_workflow_and_merge_command(run_prodigy: RunProdigy, repo: Path) -> None:
    result = run_prodigy("init")
    assert result.exit_code == 0, result.output
    sample = repo / ".prodigy" / "workflow.yml"
    assert sample.read_text().startswith("#")
    assert (repo / ".claude" / "commands" / "prodigy-merge-worktree.md").exists()
    assert run_prodigy("validate", str(sample)).exit_code == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init prodigy")
    ran = run_prodigy("run", str(sample), "-y")
    assert ran.exit_code == 0, ran.output
    assert (repo / "PRODIGY_SAMPLE.md").exists()
    again = run_prodigy("init")
    assert "kept" in again.stdout


def test_validate_reports_problems_with_exit_2(run_prodigy: RunProdigy, repo: Path) -> None:
    ok = run_prodigy("validate", str(FIXTURES / "implement.yml"))
    assert ok.exit_code == 0 and "valid workflow 'implement-spec' with 3 steps" in ok.stdout
    bad = run_prodigy("validate", str(write(repo / "bad.yml", "- shel: ls\n")))
    assert bad.exit_code == 2 and "shel" in bad.stderr


def test_help_for_every_command_and_version(run_prodigy: RunProdigy) -> None:
    for command in (["--help"], ["cook", "--help"], ["run", "--help"], ["resume", "--help"], ["exec", "--help"],
                    ["validate", "--help"], ["init", "--help"], ["worktree", "--help"], ["worktree", "ls", "--help"],
                    ["worktree", "merge", "--help"], ["worktree", "clean", "--help"]):
        result = run_prodigy(*command)
        assert result.exit_code == 0, (command, result.output)
        assert "Usage:" in result.stdout
    cook_help = run_prodigy("cook", "--help").stdout
    for flag in ("--path", "--yes", "--args", "--map", "--max-iterations", "--dry-run", "--resume", "--cluster",
                 "--namespace", "--image", "--image-pull-policy", "--keep", "--verbose", "--quiet"):
        assert flag in cook_help
    assert "--fail-fast" not in cook_help      # accepted, but hidden
    version = run_prodigy("--version")
    assert version.exit_code == 0 and re.search(r"\d+\.\d+\.\d+", version.stdout)


def test_help_does_not_import_kubernetes() -> None:
    code = ("import sys; from prodigy.cli import main; rc = main(['cook', '--help']); "
            "assert 'kubernetes' not in sys.modules, 'kubernetes imported'; "
            "assert 'prodigy.local.executor' not in sys.modules")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
