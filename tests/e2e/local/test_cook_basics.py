"""prodigy-behaviour.md §6.5 items 1–3 and the basics of a run: worktree, output, summary, merge."""

from __future__ import annotations

import re
from pathlib import Path

from testing.repos import FakeClaude, branches, git, log_subjects

from .conftest import FIXTURES, RunProdigy, metadata, parents_of, session_dirs, write


def test_shell_only_standard_workflow_runs_in_a_worktree_and_skips_merge_without_commits(
        run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    head_before = git(repo, "rev-parse", "HEAD")
    result = run_prodigy("run", str(FIXTURES / "standard-workflow.yml"), "-y")
    assert result.exit_code == 0, result.output
    for line in ("Starting code analysis...", "Checking documentation...", "README.md exists", "Workflow complete"):
        assert line in result.stdout
    created = re.search(r"Created worktree at: (\S+)", result.stdout)
    assert created, result.stdout
    worktree = Path(created.group(1))
    assert worktree.parent == prodigy_home / "worktrees" / repo.name
    assert worktree.name.startswith("session-")
    assert "skipping merge" in result.stdout
    assert not worktree.exists()
    assert session_dirs(prodigy_home, repo) == []
    assert git(repo, "rev-parse", "HEAD") == head_before
    assert [b for b in branches(repo) if b.startswith("prodigy-")] == []


def test_step_headers_and_closing_summary(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: echo one\n- shell: |\n    echo x > x.txt\n    git add x.txt\n"
                                "    git commit -qm 'add x'\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert "[1/2] shell: echo one" in result.stdout
    assert "[2/2] shell: echo x > x.txt" in result.stdout
    assert re.search(r"Workflow completed: 2/2 steps in [\d.]+s, 1 commit, 1 file changed", result.stdout)
    assert "add x" in result.stdout


def test_claude_step_gets_arg_automation_env_and_worktree_cwd_then_merges_no_ff(
        run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude, prodigy_home: Path) -> None:
    fake_claude.scenario([{"match": "^/x", "actions": [{"write": "feature.txt", "content": "done\n"},
                                                        {"commit": "Implement feature"}]}])
    wf = write(repo / "wf.yml", '- claude: "/x $ARG"\n  commit_required: true\n')
    result = run_prodigy("cook", str(wf), "--args", "7", "-y")
    assert result.exit_code == 0, result.output
    (call,) = fake_claude.calls()
    assert call["prompt"] == "/x 7"
    assert call["argv"][:5] == ["-p", "--output-format", "stream-json", "--verbose", "--dangerously-skip-permissions"]
    assert call["env"]["PRODIGY_AUTOMATION"] == "true"
    assert Path(call["cwd"]).parent == prodigy_home / "worktrees" / repo.name
    assert Path(call["cwd"]).name.startswith("session-")
    # The original branch got a --no-ff merge of the session branch, which is gone afterwards.
    subject = log_subjects(repo)[0]
    assert re.fullmatch(r"Merge worktree 'prodigy-session-[0-9a-f-]+' into main", subject)
    assert len(parents_of(repo)) == 2
    assert (repo / "feature.txt").read_text() == "done\n"
    assert [b for b in branches(repo) if b.startswith("prodigy-")] == []
    assert session_dirs(prodigy_home, repo) == []


def test_claude_stream_json_becomes_readable_progress_and_the_log_is_kept(
        run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude, prodigy_home: Path) -> None:
    fake_claude.scenario([{"match": "", "actions": [{"shell": "echo checking"}], "result": "All good"}])
    wf = write(repo / "wf.yml", '- claude: "/prodigy-lint"\n')
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert "→ Bash(echo checking)" in result.stdout
    assert "✓ Claude finished: $0.0123, 150 in / 45 out tokens, 3 turns" in result.stdout
    assert "All good" in result.stdout
    assert '"type": "system"' not in result.stdout      # raw events are not dumped without -vv
    (log,) = (prodigy_home / "logs" / "claude-streaming").glob("*.jsonl")
    types = [line.split('"type": "')[1].split('"')[0] for line in log.read_text().splitlines()]
    assert types[0] == "system" and types[-1] == "result" and "assistant" in types and "user" in types


def test_print_mode_when_streaming_is_disabled(run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude) -> None:
    fake_claude.scenario([], default={"result": "plain answer"})
    wf = write(repo / "wf.yml", '- claude: "/prodigy-lint"\n')
    result = run_prodigy("cook", str(wf), "-y", env={"PRODIGY_CLAUDE_STREAMING": "false"})
    assert result.exit_code == 0, result.output
    (call,) = fake_claude.calls()
    assert call["argv"] == ["--print", "--dangerously-skip-permissions", "/prodigy-lint"]
    assert "plain answer" in result.stdout


def test_commit_required_without_a_commit_fails_and_keeps_the_worktree(
        run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", '- claude: "/x $ARG"\n  commit_required: true\n- shell: echo never\n')
    result = run_prodigy("cook", str(wf), "--args", "7", "-y")
    assert result.exit_code == 1
    assert "No commits created by claude: /x $ARG" in result.stderr
    assert "Workflow stopped: No changes were committed by" in result.stderr
    match = re.search(r"Resume with: prodigy resume (session-[0-9a-f-]+)", result.stdout)
    assert match, result.output
    assert "never" not in result.stdout
    (worktree,) = session_dirs(prodigy_home, repo)
    assert worktree.name == match.group(1)
    (meta,) = metadata(prodigy_home, repo)
    assert meta["status"] == "failed" and meta["original_branch"] == "main"
    assert f"prodigy-{match.group(1)}" in branches(repo)


def test_failing_shell_step_reports_exit_code_and_stderr(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: 'echo boom >&2; exit 3'\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 1
    assert "Step 'shell: echo boom >&2; exit 3' failed with exit code 3" in result.stderr
    assert "=== Error Output (stderr) ===\nboom" in result.stderr


def test_uncommitted_changes_are_reported_as_not_included(run_prodigy: RunProdigy, repo: Path) -> None:
    (repo / "README.md").write_text("local edit\n")
    wf = write(repo / "wf.yml", "- shell: cat README.md\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    # wf.yml is untracked too: both are named.
    assert "2 uncommitted changes" in result.stderr and "will not be in this run (README.md, wf.yml)" in result.stderr
    assert "# project" in result.stdout          # the worktree has the committed README
    assert (repo / "README.md").read_text() == "local edit\n"


def test_prodigy_home_relocates_worktrees_state_and_events(run_prodigy: RunProdigy, repo: Path,
                                                           tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    wf = write(repo / "wf.yml", "- shell: 'exit 1'\n")
    result = run_prodigy("cook", str(wf), "-y", env={"PRODIGY_HOME": str(elsewhere)})
    assert result.exit_code == 1
    (worktree,) = session_dirs(elsewhere, repo)
    session = worktree.name
    assert list((elsewhere / "state" / session / "checkpoints").glob("*.checkpoint.json"))
    events = (elsewhere / "events" / f"{session}.jsonl").read_text()
    assert '"event_type": "step_started"' in events and '"event_type": "workflow_failed"' in events
