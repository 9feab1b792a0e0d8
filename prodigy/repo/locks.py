"""Two locks: one process at a time per session, and one repository change at a time.

The session lock is an exclusive lock on ``<state_dir>/session.lock``.

`cook` holds it for the whole run and `resume` takes it before touching the worktree, so two
`prodigy resume S` (or a resume while the first run is still going) cannot both run steps in the
same worktree. The lock is `fcntl.flock` on an open file: the kernel drops it when the holder
exits, however it exits, so a crash never leaves a stale lock behind. The file keeps the holder's
pid (informational only; the flock is the truth) so the refusal can name it.

The repository lock (``repo_lock``, below) serialises what concurrent runs change in the
repository they share: worktrees, branches, merges into the user's branch.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from prodigy.errors import UsageError

T = TypeVar("T")

LOCK_FILE = "session.lock"


class SessionBusy(UsageError):
    """Another process holds the session's lock."""

    def __init__(self, session_id: str, holder: int | None) -> None:
        who = f"process {holder}" if holder else "another process"
        hint = (f"wait for it to finish, or stop it with: kill -INT {holder}" if holder
                else "wait for the other prodigy command to finish")
        super().__init__(f"session {session_id} is already running in {who}", hint=hint)
        self.holder = holder


def lock_path(state_dir: Path) -> Path:
    return state_dir / LOCK_FILE


def holder_pid(state_dir: Path) -> int | None:
    """The pid of the process holding the session's lock, or None when nobody holds it."""
    return _holder(lock_path(state_dir), _read_pid)


def _holder(path: Path, read: Callable[[Path], T | None]) -> T | None:
    """Who holds the flock on ``path`` (as ``read`` finds it in the file), or None when it is free:
    a shared lock we can take means nobody holds the exclusive one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


@contextmanager
def session_lock(state_dir: Path, session_id: str) -> Iterator[None]:
    """Hold the session's exclusive lock for the block; raise SessionBusy if someone else has it."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = lock_path(state_dir)
    # O_CLOEXEC: step processes must not inherit the lock (a leftover background job would hold it).
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SessionBusy(session_id, _read_pid(path)) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)   # closing the descriptor releases the flock


def _read_pid(path: Path) -> int | None:
    try:
        text = path.read_text(encoding="ascii").strip()
    except (OSError, ValueError):
        return None
    return int(text) if text.isdigit() else None


# --- the repository lock ---------------------------------------------------------------------
#
# Every prodigy process that changes the shared parts of a repository — creating or removing a
# worktree, creating, moving or deleting a branch, merging into the user's branch — does it
# under one exclusive lock per repository. Without it, ten runs finishing together race:
# `git worktree prune` removes the admin directory another process's `worktree add` is still
# filling in ("failed to read .git/worktrees/X/commondir"); two `git merge` in the user's
# checkout interleave ("cannot lock ref 'HEAD'"), and the loser leaves its half-applied tree in
# the user's index and working directory (its `merge --abort` finds no MERGE_HEAD to undo).
#
# The lock file lives in the repository's common git directory, which every worktree of the
# repository shares, whatever PRODIGY_HOME each process uses. It is `flock`ed, so a process
# that dies, however it dies, releases it; it records its holder (pid, what it is doing, since
# when) so a waiting run can say what it waits for. Holding is reentrant within a process (a
# merge creates and removes a temporary worktree while it holds the lock) and the descriptor is
# close-on-exec, so workflow steps never inherit it.

REPO_LOCK_FILE = "prodigy-repo.lock"
REPO_LOCK_NOTICE_SECONDS = 2.0     # wait this long silently before saying who holds the lock
_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class RepoLockHolder:
    pid: int | None
    purpose: str
    since: str

    def describe(self) -> str:
        who = f"process {self.pid}" if self.pid else "another process"
        return f"{who} ({self.purpose}, since {self.since})" if self.purpose else who


def repo_lock_path(git_common_dir: Path) -> Path:
    return git_common_dir / REPO_LOCK_FILE


def repo_lock_holder(git_common_dir: Path) -> RepoLockHolder | None:
    """Who holds the repository lock right now, or None when it is free."""
    return _holder(repo_lock_path(git_common_dir), _read_holder)


class _Held:
    """This process's holdings, by lock file: the descriptor and the nesting depth."""

    def __init__(self) -> None:
        self.mutex = threading.RLock()          # one thread of this process at a time, reentrant
        self.fd: int | None = None
        self.depth = 0


_held: dict[Path, _Held] = {}
_held_guard = threading.Lock()


@contextmanager
def repo_lock(git_common_dir: Path, purpose: str, *,
              on_wait: Callable[[RepoLockHolder | None], None] | None = None,
              clock: Callable[[], float] = time.monotonic) -> Iterator[None]:
    """Hold the repository's exclusive lock for the block, waiting for it as long as it takes.

    ``on_wait(holder)`` is called once when the lock is still taken after a couple of seconds, so
    the user learns why the run pauses (the default prints one line on stderr).
    """
    path = repo_lock_path(git_common_dir)
    with _held_guard:
        held = _held.setdefault(path, _Held())
    with held.mutex:
        if held.depth == 0:
            held.fd = _acquire(path, purpose, on_wait or _say_waiting, clock)
        held.depth += 1
        try:
            yield
        finally:
            held.depth -= 1
            if held.depth == 0 and held.fd is not None:
                os.close(held.fd)             # closing the descriptor releases the flock
                held.fd = None


def _acquire(path: Path, purpose: str, on_wait: Callable[[RepoLockHolder | None], None],
             clock: Callable[[], float]) -> int:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        started = clock()
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pass
            if not told and clock() - started >= REPO_LOCK_NOTICE_SECONDS:
                told = True
                on_wait(_read_holder(path))
            time.sleep(_POLL_SECONDS)
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        record = json.dumps({"pid": os.getpid(), "purpose": purpose, "since": stamp})
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{record}\n".encode(), 0)
        return fd
    except BaseException:
        os.close(fd)
        raise


def _read_holder(path: Path) -> RepoLockHolder | None:
    try:
        raw = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict):
        return None
    pid = raw.get("pid")
    return RepoLockHolder(pid if isinstance(pid, int) else None, str(raw.get("purpose") or ""),
                          str(raw.get("since") or "?"))


def _say_waiting(holder: RepoLockHolder | None) -> None:
    who = holder.describe() if holder else "another prodigy process"
    sys.stderr.write(f"prodigy: waiting for {who} to finish with this repository\n")
    sys.stderr.flush()
