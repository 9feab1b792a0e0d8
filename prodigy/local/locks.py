"""One process at a time per session: an exclusive lock on ``<state_dir>/session.lock``.

`cook` holds it for the whole run and `resume` takes it before touching the worktree, so two
`prodigy resume S` (or a resume while the first run is still going) cannot both run steps in the
same worktree. The lock is `fcntl.flock` on an open file: the kernel drops it when the holder
exits, however it exits, so a crash never leaves a stale lock behind. The file keeps the holder's
pid (informational only; the flock is the truth) so the refusal can name it.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from prodigy.errors import UsageError

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
    path = lock_path(state_dir)
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(path)
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
