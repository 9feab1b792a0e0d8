"""Start one container instance as a host process group, and stop it.

The process runs ``sandbox.py`` (private mount namespace, volumes at their mountPath,
chroot, exec) in its own session, so the container is exactly one process group whose
leader's pid is the container ID (``process://<pid>``). Its stdout and stderr go to the
instance's CRI log; its memory limit to a cgroup (or RSS polling, see ``oom.py``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from testcluster.nodeagent.logs import ContainerLog
from testcluster.nodeagent.oom import ContainerCgroup, MemoryControl, watch_rss

log = logging.getLogger(__name__)

SANDBOX = Path(__file__).with_name("sandbox.py")


@dataclass(frozen=True)
class Mount:
    source: Path
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class LaunchSpec:
    argv: list[str]
    env: dict[str, str]
    working_dir: str
    mounts: list[Mount]
    hostname: str
    memory_limit: int | None
    termination_message_path: str


@dataclass
class Process:
    """A running (or finished) container instance."""

    popen: subprocess.Popen[bytes]
    log: ContainerLog
    instance_dir: Path
    started_at: datetime
    cgroup: ContainerCgroup | None
    rss_killed: threading.Event = field(default_factory=threading.Event)
    exited: threading.Event = field(default_factory=threading.Event)

    @property
    def container_id(self) -> str:
        return f"process://{self.popen.pid}"

    def wait(self) -> int:
        code = self.popen.wait()
        self.exited.set()
        return code

    def signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.popen.pid, signum)
        except (ProcessLookupError, PermissionError):
            pass
        if signum == signal.SIGKILL and self.cgroup is not None:
            self.cgroup.kill_all()  # also the ones that left the process group

    def oom_killed(self) -> bool:
        return self.rss_killed.is_set() or (self.cgroup is not None and self.cgroup.oom_killed())

    def start_error(self) -> str:
        path = self.instance_dir / "start-error"
        return path.read_text() if path.exists() else ""

    def termination_file_text(self) -> str:
        path = self.instance_dir / "termination-log"
        try:
            return path.read_bytes()[:4096].decode(errors="replace")
        except OSError:
            return ""

    def release(self) -> None:
        """After exit: kill leftovers (daemons the command left behind) and drop the cgroup."""
        try:
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        if self.cgroup is not None:
            self.cgroup.destroy()


def launch(spec: LaunchSpec, instance_dir: Path, container_log: ContainerLog, memory: MemoryControl, label: str) -> Process:
    instance_dir.mkdir(parents=True, exist_ok=True)
    (instance_dir / "root").mkdir(exist_ok=True)
    termination = instance_dir / "termination-log"
    termination.touch()
    cgroup = memory.create(label, spec.memory_limit) if memory.base is not None else None
    for mount in spec.mounts:
        if not mount.source.exists():  # a subPath the container has not created yet
            mount.source.mkdir(parents=True)
    mounts = [{"source": str(m.source), "target": m.target, "readOnly": m.read_only} for m in spec.mounts]
    if spec.termination_message_path:
        mounts.append({"source": str(termination), "target": spec.termination_message_path, "readOnly": False})
    sandbox_spec: dict[str, Any] = {
        "root": str(instance_dir / "root"),
        "hostname": spec.hostname,
        "mounts": mounts,
        "workingDir": spec.working_dir,
        "argv": spec.argv,
        "env": spec.env,
        "cgroupProcs": str(cgroup.procs_file) if cgroup else None,
        "startErrorFile": str(instance_dir / "start-error"),
        "isolate": os.geteuid() == 0,
    }
    spec_file = instance_dir / "sandbox.json"
    spec_file.write_text(json.dumps(sandbox_spec))
    popen = subprocess.Popen(
        [sys.executable, "-I", "-S", str(SANDBOX), str(spec_file)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
        cwd="/",
        env={"PATH": "/usr/bin:/bin"},
    )
    process = Process(popen, container_log, instance_dir, datetime.now(UTC), cgroup)
    assert popen.stdout is not None and popen.stderr is not None
    container_log.pump("stdout", popen.stdout)  # type: ignore[arg-type]
    container_log.pump("stderr", popen.stderr)  # type: ignore[arg-type]
    if spec.memory_limit is not None and cgroup is None:
        threading.Thread(
            target=watch_rss, args=(popen.pid, spec.memory_limit, process.exited, process.rss_killed), daemon=True
        ).start()
    return process


def stop_processes(processes: list[Process], grace: float, on_kill: Any = None) -> None:
    """SIGTERM every process group, wait up to ``grace`` seconds, then SIGKILL the rest."""
    alive = [p for p in processes if p.popen.poll() is None]
    for process in alive:
        if on_kill is not None:
            on_kill(process)
        process.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while alive and time.monotonic() < deadline:
        alive = [p for p in alive if p.popen.poll() is None]
        if alive:
            time.sleep(0.05)
    for process in alive:
        process.signal_group(signal.SIGKILL)
