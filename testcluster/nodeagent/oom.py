"""Memory limits: a memory cgroup per container, or RSS polling where there is none.

Mechanisms, chosen once at start (the agent logs which):

* ``cgroup2``: the agent's own cgroup v2 directory has the memory controller; each
  container gets a child with ``memory.max`` (and ``memory.swap.max=0``); an OOM kill
  shows as ``oom_kill`` in ``memory.events``.
* ``cgroup1``: a v1 memory hierarchy (``/sys/fs/cgroup/memory``); each container gets a
  child of the agent's cgroup with ``memory.limit_in_bytes`` and, when swap accounting
  exists, ``memory.memsw.limit_in_bytes``; ``oom_kill`` in ``memory.oom_control``.
* ``poll``: no usable cgroup; a thread sums the RSS of the container's process group
  every 100 ms and SIGKILLs it when over the limit.

Either way the container ends with reason OOMKilled and, as with containerd, the main
process's own exit code (137 when the kernel killed that process). A cgroup also
lets the agent kill every process of a container, including ones that left its
process group.
"""

from __future__ import annotations

import itertools
import logging
import os
import signal
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


def _own_cgroup(version: str) -> str | None:
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        if (version == "2" and controllers == "") or (version == "1" and "memory" in controllers.split(",")):
            return path
    return None


def _mount_point(fstype: str, option: str | None) -> Path | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        _, where, kind, options = line.split()[:4]
        if kind == fstype and (option is None or option in options.split(",")):
            return Path(where)
    return None


@dataclass
class MemoryControl:
    """Creates one cgroup per container instance under ``base`` (None means polling)."""

    mechanism: str
    base: Path | None
    _numbers: Iterator[int] = field(default_factory=itertools.count)  # thread-safe in CPython

    @classmethod
    def detect(cls, name: str) -> MemoryControl:
        candidates = []
        v2 = _mount_point("cgroup2", None)
        own2 = _own_cgroup("2")
        if v2 and own2 is not None and "memory" in (v2 / own2.lstrip("/") / "cgroup.controllers").read_text():
            candidates.append(("cgroup2", v2 / own2.lstrip("/") / name))
        v1 = _mount_point("cgroup", "memory")
        own1 = _own_cgroup("1")
        if v1 and own1 is not None:
            candidates.append(("cgroup1", v1 / own1.lstrip("/") / name))
        for mechanism, base in candidates:
            try:
                base.mkdir(exist_ok=True)
                if mechanism == "cgroup2":
                    # Children can only use controllers their parent delegates.
                    (base / "cgroup.subtree_control").write_text("+memory")
                return cls(mechanism, base)
            except OSError as error:
                log.info("memory cgroups (%s) unusable at %s: %s", mechanism, base, error)
        return cls("poll", None)

    def create(self, label: str, limit: int | None) -> ContainerCgroup | None:
        if self.base is None:
            return None
        path = self.base / f"{label}-{next(self._numbers)}"
        path.mkdir()
        if limit is not None:
            if self.mechanism == "cgroup2":
                (path / "memory.max").write_text(str(limit))
                if (path / "memory.swap.max").exists():
                    (path / "memory.swap.max").write_text("0")
            else:
                (path / "memory.limit_in_bytes").write_text(str(limit))
                if (path / "memory.memsw.limit_in_bytes").exists():
                    (path / "memory.memsw.limit_in_bytes").write_text(str(limit))
        return ContainerCgroup(path, self.mechanism)

    def remove(self) -> None:
        if self.base is not None:
            for child in self.base.iterdir():
                if child.is_dir():
                    ContainerCgroup(child, self.mechanism).destroy()
            try:
                self.base.rmdir()
            except OSError:
                pass


@dataclass(frozen=True)
class ContainerCgroup:
    path: Path
    mechanism: str

    @property
    def procs_file(self) -> Path:
        return self.path / "cgroup.procs"

    def oom_killed(self) -> bool:
        name = "memory.events" if self.mechanism == "cgroup2" else "memory.oom_control"
        try:
            for line in (self.path / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        except OSError:
            pass
        return False

    def kill_all(self) -> None:
        try:
            pids = [int(p) for p in self.procs_file.read_text().split()]
        except OSError:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def destroy(self) -> None:
        for _ in range(50):
            self.kill_all()
            try:
                self.path.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                threading.Event().wait(0.02)
        log.warning("could not remove cgroup %s", self.path)


def group_rss(pgid: int) -> int:
    """Resident bytes of all processes in a process group (fallback mechanism)."""
    total = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            if int(fields[2]) == pgid:  # field 5 of stat: pgrp
                total += int(fields[21]) * PAGE_SIZE  # field 24: rss in pages
        except (OSError, ValueError, IndexError):
            continue
    return total


def watch_rss(pgid: int, limit: int, done: threading.Event, on_kill: threading.Event) -> None:
    """Poll until ``done``; SIGKILL the group and set ``on_kill`` when it exceeds ``limit``."""
    while not done.wait(0.1):
        if group_rss(pgid) > limit:
            on_kill.set()
            try:
                os.killpg(pgid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            return
