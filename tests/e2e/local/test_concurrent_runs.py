"""Ten runs at once in one repository: every run merges, and the user's checkout only changes
through those merges (issue 9: worktree races, phantom uncommitted changes, `cannot lock ref`)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from testing.repos import FakeClaude, git

from .conftest import session_dirs

pytestmark = pytest.mark.timeout(600)

RUNS = 10


def _committing_workflow(directory: Path, index: int) -> Path:
    # Outside the repository: an untracked workflow file would make the checkout "dirty".
    path = directory / f"w{index}.yml"
    path.write_text(f"- shell: \"echo {index} > file-{index}.txt && git add file-{index}.txt && "
                    f"git commit -qm 'add file {index}'\"\n")
    return path


@pytest.mark.parametrize("clean_checkout", [True, False], ids=["clean-checkout", "dirty-checkout"])
def test_ten_concurrent_local_runs_all_merge_and_leave_the_checkout_as_it_was(
        repo: Path, fake_claude: FakeClaude, prodigy_home: Path, tmp_path: Path, clean_checkout: bool) -> None:
    if not clean_checkout:
        # Uncommitted work of the user's: every run merges beside it (temporary worktree + fast-forward).
        (repo / "README.md").write_text("my notes, not committed\n")
    before = git(repo, "status", "--porcelain")
    workflows = [_committing_workflow(tmp_path, i) for i in range(RUNS)]
    processes = [subprocess.Popen([sys.executable, "-m", "prodigy", "cook", str(w), "-y"], cwd=repo,
                                  env=fake_claude.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for w in workflows]
    results = [(p.communicate(timeout=500), p.returncode) for p in processes]

    for i, ((out, err), code) in enumerate(results):
        assert code == 0, f"run {i} exited {code}:\n{out}\n{err}"
    merged = git(repo, "log", "--pretty=%s", "main").splitlines()
    assert sorted(s for s in merged if s.startswith("add file")) == sorted(f"add file {i}" for i in range(RUNS))
    assert len([s for s in merged if s.startswith("Merge worktree")]) == RUNS
    for i in range(RUNS):
        assert (repo / f"file-{i}.txt").read_text() == f"{i}\n"
    # The checkout changed only through the merges: nothing staged, nothing stray, the user's edit intact.
    assert git(repo, "status", "--porcelain") == before
    assert session_dirs(prodigy_home, repo) == []
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]


def test_a_merge_that_fails_without_a_conflict_leaves_the_checkout_and_keeps_the_session(
        repo: Path, fake_claude: FakeClaude, prodigy_home: Path, tmp_path: Path) -> None:
    # A hook that refuses every merge commit: git has already written the merged tree into the
    # checkout when it runs, so a failed merge must be undone, not handed to Claude as a conflict.
    hook = repo / ".git" / "hooks" / "pre-merge-commit"
    hook.write_text("#!/bin/sh\necho 'merges are frozen today' >&2\nexit 1\n")
    hook.chmod(0o755)
    workflow = _committing_workflow(tmp_path, 7)
    result = subprocess.run([sys.executable, "-m", "prodigy", "cook", str(workflow), "-y"], cwd=repo,
                            env=fake_claude.env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "merges are frozen today" in result.stderr
    (session,) = session_dirs(prodigy_home, repo)
    assert f"prodigy worktree merge {session.name}" in result.stderr and str(session) in result.stderr
    assert fake_claude.calls() == []                            # not a conflict: Claude is not asked
    assert git(repo, "status", "--porcelain") == ""             # nothing staged, nothing left behind
    assert not (repo / "file-7.txt").exists()
    assert "add file 7" in git(repo, "log", "--pretty=%s", f"prodigy-{session.name}")
