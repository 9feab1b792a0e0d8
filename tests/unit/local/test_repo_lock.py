"""The repository lock: exclusive across processes, names its holder, released by a crash,
reentrant within a process, and it tells a waiting run who it waits for."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from prodigy.repo.locks import RepoLockHolder, repo_lock, repo_lock_holder
from testing.waiting import eventually

HOLD = textwrap.dedent("""\
    import sys, time
    from pathlib import Path
    from prodigy.repo.locks import repo_lock
    with repo_lock(Path(sys.argv[1]), "merging prodigy-session-x"):
        print("held", flush=True)
        time.sleep(600)
""")


def _holding_process(common_dir: Path) -> subprocess.Popen[str]:
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(common_dir)], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    with process.stdout:
        assert process.stdout.readline().strip() == "held"
    return process


def test_a_holder_is_named_and_a_crash_releases_the_lock(tmp_path: Path) -> None:
    assert repo_lock_holder(tmp_path) is None
    process = _holding_process(tmp_path)
    try:
        holder = repo_lock_holder(tmp_path)
        assert holder is not None and holder.pid == process.pid
        assert holder.purpose == "merging prodigy-session-x"
    finally:
        process.send_signal(signal.SIGKILL)      # no clean exit: the kernel drops the flock
        process.wait()
    assert repo_lock_holder(tmp_path) is None
    with repo_lock(tmp_path, "after the crash"):
        holder = repo_lock_holder(tmp_path)
        assert holder is not None and holder.pid == os.getpid()


def test_a_waiting_process_is_told_who_holds_the_lock_and_gets_it_when_released(tmp_path: Path) -> None:
    process = _holding_process(tmp_path)
    told: list[RepoLockHolder | None] = []
    got = threading.Event()

    def wait_for_it() -> None:
        with repo_lock(tmp_path, "adding worktree y", on_wait=told.append):
            got.set()

    waiter = threading.Thread(target=wait_for_it, daemon=True)
    waiter.start()
    try:
        eventually(lambda: bool(told), timeout=30, what="the waiting notice")
        assert not got.is_set()
        (holder,) = told
        assert holder is not None and holder.pid == process.pid and "merging" in holder.describe()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    waiter.join(30)
    assert got.is_set()


def test_the_lock_is_reentrant_within_a_process_and_released_at_the_outermost_exit(tmp_path: Path) -> None:
    with repo_lock(tmp_path, "merging"):
        with repo_lock(tmp_path, "adding a temporary worktree"):
            pass
        # Still held after the inner block: another process cannot take it.
        probe = subprocess.run([sys.executable, "-c", textwrap.dedent("""\
            import fcntl, os, sys
            fd = os.open(sys.argv[1], os.O_RDWR)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                print("busy")
            else:
                print("free")
        """), str(tmp_path / "prodigy-repo.lock")], capture_output=True, text=True, check=True)
        assert probe.stdout.strip() == "busy"
    assert repo_lock_holder(tmp_path) is None
