"""Start components as daemons in their own process groups, find and stop them.

Each component leads its own process group (new session), so stopping it never
touches the caller's group, and ``down`` can stop a cluster started by another
process: only the pids recorded in the cluster directory are needed.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_PR_SET_PDEATHSIG = 1
# Components started by this process, kept until reaped: dropping a running Popen
# would warn, and an unreaped exited child would linger as a zombie.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Leader:
    """A process we started, recorded so that a later ``down`` recognises it."""

    pid: int
    start_ticks: int


@dataclass(frozen=True)
class ProcessInfo:
    """What /proc says about a live process. ``start_ticks`` tells pid reuse apart."""

    pid: int
    ppid: int
    pgid: int
    state: str
    start_ticks: int
    rss_bytes: int


def _read_stat(pid: int) -> ProcessInfo | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(")") + 2:].split()
    page = os.sysconf("SC_PAGE_SIZE")
    return ProcessInfo(pid=pid, state=fields[0], ppid=int(fields[1]), pgid=int(fields[2]),
                       start_ticks=int(fields[19]), rss_bytes=int(fields[21]) * page)


def all_processes() -> list[ProcessInfo]:
    """Every live (non-zombie) process on the machine."""
    infos = (_read_stat(int(name)) for name in os.listdir("/proc") if name.isdigit())
    return [info for info in infos if info is not None and info.state not in ("Z", "X")]


def tree(roots: Iterable[int], processes: Sequence[ProcessInfo]) -> list[ProcessInfo]:
    """Processes in the groups led by ``roots`` plus all their descendants.

    Descendants matter for the node agent: it may start each pod in a session of its
    own, outside the agent's process group.
    """
    root_set = set(roots)
    children: dict[int, list[ProcessInfo]] = {}
    for info in processes:
        children.setdefault(info.ppid, []).append(info)
    found = {info.pid: info for info in processes if info.pgid in root_set or info.pid in root_set}
    pending = list(found)
    while pending:
        for child in children.get(pending.pop(), []):
            if child.pid not in found:
                found[child.pid] = child
                pending.append(child.pid)
    return sorted(found.values(), key=lambda info: info.pid)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. If the test process dies without its
    # teardown (SIGKILL, CI timeout), the kernel kills the component too.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def spawn(
    command: Sequence[str],
    *,
    log: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    die_with_parent: bool = False,
) -> subprocess.Popen[bytes]:
    """Start ``command`` in a new session with stdout and stderr appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        child = subprocess.Popen(
            list(command), stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=dict(env), cwd=cwd, start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )
    _CHILDREN[child.pid] = child
    return child


def _reap(pids: Iterable[int]) -> None:
    """Collect exit statuses of our own children so they don't linger as zombies."""
    for pid in pids:
        child = _CHILDREN.get(pid)
        if child is not None and child.poll() is not None:
            del _CHILDREN[pid]


def _signal(targets: Iterable[ProcessInfo], sig: signal.Signals) -> None:
    for target in targets:
        current = _read_stat(target.pid)
        if current is not None and current.start_ticks == target.start_ticks:
            try:
                os.kill(target.pid, sig)
            except ProcessLookupError:
                pass


def identify(pid: int) -> Leader | None:
    """The identity to record for a process we just started, or None if it already exited."""
    info = _read_stat(pid)
    return None if info is None else Leader(pid, info.start_ticks)


def _ours(leader: Leader) -> bool:
    """False if ``leader.pid`` now belongs to an unrelated process (pid reuse).

    A dead leader's group id stays ours while members live: Linux never hands out a
    pid that is still in use as a process-group id.
    """
    info = _read_stat(leader.pid)
    return info is None or info.start_ticks == leader.start_ticks


def stop(
    leaders: Sequence[Leader],
    *,
    grace: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> list[int]:
    """SIGTERM the groups of ``leaders`` and their descendants, wait up to ``grace`` s, SIGKILL the rest.

    The set of processes is the union of the groups and their descendants, refreshed
    while waiting, so children re-parented to init when their parent exits are still
    found. Returns the pids that needed SIGKILL.
    """
    groups = [leader.pid for leader in leaders if _ours(leader)]
    known: dict[tuple[int, int], ProcessInfo] = {}

    def refresh() -> list[ProcessInfo]:
        _reap(groups)
        live = all_processes()
        for info in tree(groups, live):
            known[(info.pid, info.start_ticks)] = info
        live_keys = {(info.pid, info.start_ticks) for info in live}
        return [info for key, info in known.items() if key in live_keys]

    remaining = refresh()
    _signal(remaining, signal.SIGTERM)
    deadline = clock() + grace
    while remaining and clock() < deadline:
        sleep(0.05)
        remaining = refresh()
    _signal(remaining, signal.SIGKILL)
    killed = [info.pid for info in remaining]
    for _ in range(100):  # SIGKILL is not instant: wait briefly until they are gone
        if not refresh():
            break
        sleep(0.02)
    # A leader that died between the last reap and the /proc scan is a zombie the scan
    # skips: collect it now.
    for pid in groups:
        child = _CHILDREN.pop(pid, None)
        if child is not None:
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                _CHILDREN[pid] = child
    return killed


def alive(leader: Leader) -> bool:
    _reap([leader.pid])
    info = _read_stat(leader.pid)
    return info is not None and info.state not in ("Z", "X") and info.start_ticks == leader.start_ticks


def resident_bytes(leaders: Sequence[Leader]) -> int:
    """Sum of RSS over the groups of ``leaders`` and their descendants."""
    groups = [leader.pid for leader in leaders if _ours(leader)]
    return sum(info.rss_bytes for info in tree(groups, all_processes()))
