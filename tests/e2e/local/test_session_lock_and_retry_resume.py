"""One process per session, and resuming a retry loop that was interrupted part-way."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from testing.repos import FakeClaude, log_subjects

from .conftest import RunProdigy, metadata, session_dirs, write

LONG = """\
- shell: "echo first > first.txt && git add first.txt && git commit -qm first"
- shell: "echo long-step-started; for i in $(seq 600); do [ -f ../resume-now ] && break; sleep 0.1; done"
- shell: "echo third > third.txt && git add third.txt && git commit -qm third"
"""


def _start(repo: Path, fake_claude: FakeClaude, *args: str, marker: str) -> tuple[subprocess.Popen[str], str]:
    """Start `prodigy <args>` in its own process group; return once `marker` is printed."""
    proc = subprocess.Popen([sys.executable, "-m", "prodigy", *args], cwd=repo, env=fake_claude.env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None
    seen = []
    deadline = time.monotonic() + 60
    for line in proc.stdout:
        seen.append(line)
        if marker in line or time.monotonic() > deadline:
            break
    assert any(marker in line for line in seen), "".join(seen)
    return proc, "".join(seen)


def _wait_for(path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)


def test_a_session_runs_in_one_process_at_a_time(repo: Path, fake_claude: FakeClaude, prodigy_home: Path,
                                                 run_prodigy: RunProdigy) -> None:
    wf = write(repo / "wf.yml", LONG)
    running, _ = _start(repo, fake_claude, "cook", str(wf), "-y", marker="long-step-started")
    (worktree,) = session_dirs(prodigy_home, repo)
    session = worktree.name
    try:
        second = run_prodigy("resume", session, "-y")
        assert second.exit_code == 2, second.output
        assert f"session {session} is already running in process {running.pid}" in second.stderr
        assert f"kill -INT {running.pid}" in second.stderr
        assert "[2/3]" not in second.stdout          # refused before running anything

        cleaned = run_prodigy("worktree", "clean", "-f", session)
        assert f"kept    {session}: a prodigy process is using it (pid {running.pid})" in cleaned.stdout
        assert session_dirs(prodigy_home, repo) == [worktree]
    finally:
        running.send_signal(signal.SIGINT)
        out, err = running.communicate(timeout=30)
    assert running.returncode == 130, out + err

    # The lock went with the process: the session resumes now, and only once.
    (worktree.parent / "resume-now").write_text("")
    resumed = run_prodigy("resume", session, "-y")
    assert resumed.exit_code == 0, resumed.output
    subjects = log_subjects(repo)
    assert subjects.count("first") == 1 and subjects.count("third") == 1


def test_concurrent_resumes_run_the_remaining_steps_once(repo: Path, fake_claude: FakeClaude, prodigy_home: Path,
                                                         run_prodigy: RunProdigy) -> None:
    wf = write(repo / "wf.yml", LONG)
    # Make a kept session: interrupt the first run in its long step.
    first, _ = _start(repo, fake_claude, "cook", str(wf), "-y", marker="long-step-started")
    first.send_signal(signal.SIGINT)
    first.communicate(timeout=30)
    (worktree,) = session_dirs(prodigy_home, repo)

    holder, _ = _start(repo, fake_claude, "resume", worktree.name, "-y", marker="long-step-started")
    try:
        other = run_prodigy("resume", worktree.name, "-y")
    finally:
        (worktree.parent / "resume-now").write_text("")
        out, err = holder.communicate(timeout=60)
    assert other.exit_code == 2 and "is already running in process" in other.stderr, other.output
    assert holder.returncode == 0, out + err
    assert log_subjects(repo).count("third") == 1
    assert session_dirs(prodigy_home, repo) == []


RETRY = """\
- shell: "echo attempt=$SHELL_ATTEMPT; test -f fixed"
  on_failure:
    claude: "/fix ${shell.output}"
    max_attempts: 3
    fail_workflow: true
"""


def _checkpoint(prodigy_home: Path, session: str) -> dict[str, object]:
    (path,) = (prodigy_home / "state" / session / "checkpoints").glob("*.checkpoint.json")
    data: dict[str, object] = json.loads(path.read_text())
    return data


def test_resume_continues_an_interrupted_retry_loop_at_its_attempt(repo: Path, fake_claude: FakeClaude,
                                                                   prodigy_home: Path,
                                                                   run_prodigy: RunProdigy) -> None:
    started = repo.parent / "fix-started"
    # The fix commits, then hangs: Ctrl+C lands after its commit, inside the retry loop.
    fake_claude.scenario([{"match": "^/fix", "actions": [
        {"write": "fixed", "content": "ok\n"}, {"commit": "fix it"},
        {"shell": f"touch {started}"}, {"sleep": 60}]}])
    wf = write(repo / "wf.yml", RETRY)
    proc = subprocess.Popen([sys.executable, "-m", "prodigy", "cook", str(wf), "-y"], cwd=repo,
                            env=fake_claude.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    _wait_for(started)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, out + err
    assert "attempt=1" in out
    (worktree,) = session_dirs(prodigy_home, repo)
    checkpoint = _checkpoint(prodigy_home, worktree.name)
    assert checkpoint["retry_state"] == {"pass_index": 0, "step_index": 0, "attempts_failed": 1, "max_attempts": 3}

    resumed = run_prodigy("resume", worktree.name, "-y")
    assert resumed.exit_code == 0, resumed.output
    assert "interrupted after 1 of 3 attempts" in resumed.stdout
    assert "attempt=2" in resumed.stdout and "attempt=1" not in resumed.stdout
    assert "passed on attempt 2" in resumed.stdout
    assert len(fake_claude.calls()) == 1                     # the fix is not asked for again
    assert "fix it" in log_subjects(repo)


def test_an_interrupted_retry_loop_keeps_its_budget_and_a_failed_one_gets_a_new_one(
        repo: Path, fake_claude: FakeClaude, prodigy_home: Path, run_prodigy: RunProdigy) -> None:
    started = repo.parent / "fix-started"
    # The first fix hangs (to be interrupted); later fixes do nothing, so every attempt fails.
    fake_claude.scenario([{"match": "^/fix", "calls": [1], "actions": [{"shell": f"touch {started}"},
                                                                       {"sleep": 60}]}],
                         default={"actions": []})
    wf = write(repo / "wf.yml", RETRY.replace("max_attempts: 3", "max_attempts: 2"))
    proc = subprocess.Popen([sys.executable, "-m", "prodigy", "cook", str(wf), "-y"], cwd=repo,
                            env=fake_claude.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    _wait_for(started)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    (worktree,) = session_dirs(prodigy_home, repo)

    # Attempt 2 of 2 is the last: no second fix, the step fails.
    resumed = run_prodigy("resume", worktree.name, "-y")
    assert resumed.exit_code == 1, resumed.output
    assert "attempt=2" in resumed.stdout and "attempt=1" not in resumed.stdout
    assert "failed after 2 attempts" in resumed.stderr
    assert len(fake_claude.calls()) == 1
    assert _checkpoint(prodigy_home, worktree.name)["retry_state"] is None
    (meta,) = metadata(prodigy_home, repo)
    assert meta["status"] == "failed"

    # A failed loop is over: resuming the failed run starts the step with a fresh budget.
    again = run_prodigy("resume", worktree.name, "-y")
    assert again.exit_code == 1
    assert "attempt=1" in again.stdout and "attempt=2" in again.stdout
    assert len(fake_claude.calls()) == 2
