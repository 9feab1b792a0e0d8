"""prodigy-behaviour.md §6.5 items 7–8: Ctrl+C / SIGTERM then resume, and the merge prompt."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from testing.repos import FakeClaude, branches, log_subjects

from .conftest import RunProdigy, metadata, session_dirs, write

LONG_WORKFLOW = """\
- shell: "echo first > first.txt && git add first.txt && git commit -qm first"
- shell: "echo $$ > ../sleeper.pid; echo long-step-started; [ -f ../resume-now ] || sleep 60"
- shell: "echo third > third.txt && git add third.txt && git commit -qm third"
"""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _start_and_signal(repo: Path, fake_claude: FakeClaude, workflow: Path, sig: int) -> tuple[int, str, str]:
    proc = subprocess.Popen([sys.executable, "-m", "prodigy", "cook", str(workflow), "-y"], cwd=repo,
                            env=fake_claude.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        seen.append(line)
        if line.strip() == "long-step-started" or time.monotonic() > deadline:
            break
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, "".join(seen) + out, err


@pytest.mark.parametrize(("sig", "code", "kind"), [(signal.SIGINT, 130, "user_interrupt"),
                                                  (signal.SIGTERM, 143, "termination")])
def test_signal_during_a_long_step_keeps_the_worktree_then_resume_continues(
        repo: Path, fake_claude: FakeClaude, prodigy_home: Path, run_prodigy: RunProdigy,
        sig: int, code: int, kind: str) -> None:
    wf = write(repo / "wf.yml", LONG_WORKFLOW)
    exit_code, out, err = _start_and_signal(repo, fake_claude, wf, sig)
    assert exit_code == code, out + err
    (worktree,) = session_dirs(prodigy_home, repo)
    sleeper = int((worktree.parent / "sleeper.pid").read_text())
    assert not _pid_alive(sleeper), "the step's process group must be ended"
    (meta,) = metadata(prodigy_home, repo)
    assert meta["status"] == "interrupted" and meta["interruption_type"] == kind
    assert f"Resume with: prodigy resume {worktree.name}" in out
    assert log_subjects(repo)[0] == "initial commit"

    (worktree.parent / "resume-now").write_text("")
    resumed = run_prodigy("resume", worktree.name)
    assert resumed.exit_code == 0, resumed.output
    assert "Resuming session" in resumed.stdout
    assert "[1/3]" not in resumed.stdout          # step 1 completed before the signal: not run again
    assert "[2/3]" in resumed.stdout and "[3/3]" in resumed.stdout
    subjects = log_subjects(repo)
    assert subjects.count("first") == 1 and subjects.count("third") == 1
    assert subjects[0].startswith("Merge worktree 'prodigy-session-")
    assert session_dirs(prodigy_home, repo) == []


COMMITTING = "- shell: \"echo new > new.txt && git add new.txt && git commit -qm 'add new'\"\n"


def test_merge_prompt_answered_no_keeps_the_worktree(run_prodigy: RunProdigy, repo: Path,
                                                     prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", COMMITTING)
    result = run_prodigy("cook", str(wf), input="n\n")
    assert result.exit_code == 0, result.output
    assert re.search(r"Merge session-[0-9a-f-]+ to main \[Y/n\]", result.stdout)
    assert log_subjects(repo)[0] == "initial commit"
    (worktree,) = session_dirs(prodigy_home, repo)
    assert f"prodigy-{worktree.name}" in branches(repo)
    (meta,) = metadata(prodigy_home, repo)
    assert meta["status"] == "completed" and meta["merge_prompt_response"] == "n"
    # …and it can be merged later by name.
    merged = run_prodigy("worktree", "merge", worktree.name)
    assert merged.exit_code == 0, merged.output
    assert log_subjects(repo)[0] == f"Merge worktree 'prodigy-{worktree.name}' into main"
    assert "add new" in log_subjects(repo)
    assert session_dirs(prodigy_home, repo) == []


@pytest.mark.parametrize("answer", ["", "\n", "y\n"])
def test_merge_prompt_eof_empty_or_yes_merges(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path,
                                              answer: str) -> None:
    wf = write(repo / "wf.yml", COMMITTING)
    result = run_prodigy("cook", str(wf), input=answer)
    assert result.exit_code == 0, result.output
    assert "[Y/n]" in result.stdout
    assert log_subjects(repo)[0].startswith("Merge worktree") and "add new" in log_subjects(repo)
    assert session_dirs(prodigy_home, repo) == []
