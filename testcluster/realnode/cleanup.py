"""What ``down`` does after a node supervisor that could not clean up (it was SIGKILLed).

The supervisor records its mount namespace and its cgroups in ``DIR/node/sandbox.json`` as
soon as it has made them. containerd and the kubelet die with it (PR_SET_PDEATHSIG), but the
shims (daemonised, in the node's mount namespace) and the containers (in the node's cgroups)
would run on; this finds them by those two marks, kills them, and removes the cgroups.
"""

from __future__ import annotations

import json
import os
import signal
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from testcluster.realnode import cgroups

RECORD = "sandbox.json"
# What runs in the node's own mount namespace (containers have namespaces of their own); only
# these are killed by namespace, so a namespace id reused later can never hit anything else.
NODE_COMMANDS = ("containerd-shim", "containerd", "kubelet")


@dataclass(frozen=True)
class SandboxRecord:
    mount_namespace: str          # readlink /proc/self/ns/mnt of the supervisor, e.g. "mnt:[4026532871]"
    cgroup_root: str
    made: tuple[str, ...]          # cgroup directories the supervisor created

    def save(self, node_root: Path) -> None:
        (node_root / RECORD).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, node_root: Path) -> SandboxRecord | None:
        try:
            raw = json.loads((node_root / RECORD).read_text())
        except (OSError, ValueError):
            return None
        return cls(raw["mount_namespace"], raw["cgroup_root"], tuple(raw["made"]))


def _in_namespace(mount_namespace: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            if (os.readlink(f"/proc/{name}/ns/mnt") == mount_namespace
                    and Path(f"/proc/{name}/comm").read_text().strip() in NODE_COMMANDS):
                found.append(int(name))
        except OSError:
            continue
    return found


def _in_cgroups(root: str, fs: Path = cgroups.CGROUP_FS) -> list[int]:
    found: set[int] = set()
    top = fs / "memory" / root.lstrip("/")
    for procs in top.rglob("cgroup.procs") if top.is_dir() else ():
        try:
            found.update(int(line) for line in procs.read_text().split())
        except (OSError, ValueError):
            continue
    return sorted(found)


def leftovers(record: SandboxRecord) -> list[int]:
    return sorted(set(_in_namespace(record.mount_namespace)) | set(_in_cgroups(record.cgroup_root)))


def clean(node_root: Path, *, timeout: float = 10.0) -> list[int]:
    """SIGKILL what the node left running and remove its cgroups; return the pids killed."""
    record = SandboxRecord.load(node_root)
    if record is None:
        return []
    killed: list[int] = []
    deadline = time.monotonic() + timeout
    while (pids := leftovers(record)) and time.monotonic() < deadline:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.1)
    cgroups.remove(record.cgroup_root, [Path(p) for p in record.made])
    return sorted(set(killed))
