"""Merging back: deterministic git merge wherever the target is, Claude only on conflict,
a workflow's merge: block, and never touching the user's uncommitted changes."""

from __future__ import annotations

from pathlib import Path

from testing.repos import FakeClaude, git, log_subjects, path_without_claude

from .conftest import RunProdigy, parents_of, session_dirs, write

SESSION_EDIT = "- shell: \"echo session > src/app.txt && git commit -qam 'session edit'\"\n"


def _main_edit_during_run(repo: Path) -> str:
    return (f"- shell: \"cd '{repo}' && echo main > src/app.txt && git commit -qam 'main edit'\"\n")


def test_conflict_aborts_git_merge_and_asks_claude(run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude,
                                                   prodigy_home: Path) -> None:
    fake_claude.scenario([{"match": "^/prodigy-merge-worktree", "actions": [{"shell": (
        'set -- $FAKE_ARGS; git merge --no-ff "$1" >/dev/null 2>&1; echo resolved > src/app.txt; '
        'git add src/app.txt; git commit -qm "Merge worktree \'$1\' into $2"')}]}])
    wf = write(repo / "wf.yml", _main_edit_during_run(repo) + SESSION_EDIT)
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    (prompt,) = fake_claude.prompts()
    assert prompt.startswith("/prodigy-merge-worktree prodigy-session-") and prompt.endswith(" main")
    assert (repo / "src" / "app.txt").read_text() == "resolved\n"
    assert len(parents_of(repo)) == 2
    assert git(repo, "status", "--porcelain").strip() == "?? wf.yml"
    assert session_dirs(prodigy_home, repo) == []


def test_conflict_without_claude_keeps_everything(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", _main_edit_during_run(repo) + SESSION_EDIT)
    result = run_prodigy("cook", str(wf), "-y", env={"PATH": path_without_claude()})
    assert result.exit_code == 1
    assert "failed and no `claude` CLI is available" in result.stderr
    assert (repo / "src" / "app.txt").read_text() == "main\n"
    assert not (repo / ".git" / "MERGE_HEAD").exists()
    assert len(session_dirs(prodigy_home, repo)) == 1


def test_target_not_checked_out_merges_in_a_temporary_worktree(run_prodigy: RunProdigy, repo: Path) -> None:
    git(repo, "checkout", "-q", "-b", "feature")
    wf = write(repo / "wf.yml", f"- shell: \"git -C '{repo}' checkout -q main\"\n" + SESSION_EDIT)
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert git(repo, "branch", "--show-current").strip() == "main"
    feature_log = log_subjects(repo, "feature")
    assert feature_log[0].endswith("into feature") and "session edit" in feature_log
    assert log_subjects(repo, "main")[0] == "initial commit"
    assert (repo / "src" / "app.txt").read_text() == "v1\n"


def test_dirty_checkout_keeps_uncommitted_changes_through_the_merge(run_prodigy: RunProdigy, repo: Path) -> None:
    (repo / "README.md").write_text("my local notes\n")
    result = run_prodigy("cook", str(write(repo / "wf.yml", SESSION_EDIT)), "-y")
    assert result.exit_code == 0, result.output
    assert log_subjects(repo)[0].startswith("Merge worktree") and "session edit" in log_subjects(repo)
    assert (repo / "src" / "app.txt").read_text() == "session\n"
    assert (repo / "README.md").read_text() == "my local notes\n"


def test_dirty_file_the_merge_would_overwrite_is_never_touched(run_prodigy: RunProdigy, repo: Path,
                                                               prodigy_home: Path) -> None:
    (repo / "src" / "app.txt").write_text("my uncommitted work\n")
    result = run_prodigy("cook", str(write(repo / "wf.yml", SESSION_EDIT)), "-y")
    assert result.exit_code == 1
    assert "uncommitted changes" in result.stderr and "prodigy worktree merge" in result.stderr
    assert (repo / "src" / "app.txt").read_text() == "my uncommitted work\n"
    assert log_subjects(repo)[0] == "initial commit"
    assert len(session_dirs(prodigy_home, repo)) == 1


def test_workflow_merge_block_gets_merge_variables(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", f"""\
commands:
  - shell: "echo session > src/app.txt && git commit -qam 'session edit'"
merge:
  - shell: echo "custom ${{merge.source_branch}} -> ${{merge.target_branch}} id=${{merge.session_id}} wt=${{merge.worktree}}"
  - shell: "cd '{repo}' && git merge -q --no-ff ${{merge.source_branch}} -m 'custom merge'"
""")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if "custom prodigy-session-" in line)
    session = line.split("id=")[1].split()[0]
    assert f"custom prodigy-{session} -> main id={session} wt={session}" in line
    assert log_subjects(repo)[0] == "custom merge"
    assert session_dirs(prodigy_home, repo) == []
