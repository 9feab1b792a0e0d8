"""The real node (`--node kubelet`) runs Jobs through the real kubelet and changes nothing
outside its directory: no sysctl, no firewall chain, no mount, no file under /run or
/var/lib, and `down` leaves no process and no cgroup behind."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from testcluster import cluster
from testcluster.realnode import config
from testcluster.realnode.cgroups import own_memory_cgroup
from testing import cluster as clusters
from testing.waiting import eventually

pytestmark = [pytest.mark.testcluster_only, pytest.mark.real_node_only, pytest.mark.timeout(300)]

NODE_PATHS = ("containerd", "kubelet", "cni", "netns", "runc", "kubepods")


def machine(directory: Path) -> dict[str, object]:
    """What the node must never touch, as seen from the machine's own namespaces."""
    iptables = shutil.which("iptables")
    return {
        "sysctls": {name: Path(f"/proc/sys/{name}").read_text() for name in config.KERNEL_DEFAULTS},
        "iptables": [subprocess.run([iptables, "-t", table, "-S"], capture_output=True, text=True).stdout
                     for table in ("filter", "nat", "mangle")] if iptables else [],
        "paths": sorted(str(p) for base in ("/run", "/var/lib", "/var/log") for p in Path(base).iterdir()
                        if p.name in NODE_PATHS),
        "mounts": [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(directory) in line],
    }


def leftovers(directory: Path, name: str) -> list[str]:
    processes = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and str(directory) in (proc / "cmdline").read_text(errors="replace"):
                processes.append(proc.name)
        except OSError:
            continue
    base = own_memory_cgroup(Path("/proc/self/cgroup").read_text()).lstrip("/")
    cgroups = [str(p) for hierarchy in Path("/sys/fs/cgroup").iterdir()
               for p in (hierarchy / base).glob(f"prodigy-testcluster-{name}-*")]
    return processes + cgroups


def test_a_real_node_runs_a_job_changes_nothing_on_the_machine_and_leaves_nothing(tmp_path: Path) -> None:
    directory, name = tmp_path / "cluster", "prodigy-test-rn"
    before = machine(directory)
    started = clusters.start(directory, name, node="kubelet")
    try:
        started.kubectl("create", "job", "hi", f"--image={started.test_image}", "--",
                        "sh", "-c", "echo hello from $(id -u) in $(hostname)")

        def said_hello() -> str | None:
            out = started.kubectl("logs", "job/hi", check=False).stdout
            return out if "hello from" in out else None

        logs = eventually(said_hello, timeout=120, what="the Job's log through the apiserver")
        node = json.loads(started.kubectl("get", "node", started.node_name or "", "-o", "json").stdout)
        during = machine(directory)
    finally:
        clusters.stop(started)

    assert "hello from 1000 in hi-" in logs             # the image's uid, the pod's hostname
    assert {"type": "InternalIP", "address": "127.0.0.1"} in node["status"]["addresses"]
    assert not node["spec"].get("taints")
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://")
    assert during == before
    assert machine(directory) == before
    assert leftovers(directory, name) == []


def test_down_after_the_node_supervisor_was_killed_outright_leaves_nothing(tmp_path: Path) -> None:
    directory, name = tmp_path / "cluster", "prodigy-test-rk"
    started = clusters.start(directory, name, node="kubelet")
    try:
        started.kubectl("run", "sleeper", f"--image={started.test_image}", "--restart=Never", "--", "sleep", "600")
        eventually(lambda: started.kubectl("get", "pod", "sleeper", "-o", "jsonpath={.status.phase}",
                                           check=False).stdout == "Running", timeout=120, what="the pod running")
        (node,) = [c for c in cluster.recorded(directory) if c.name == "node"]
        os.kill(node.pid, signal.SIGKILL)      # no shutdown: its shims and containers are orphaned
        eventually(lambda: not cluster.status(directory).get("node"), what="the supervisor gone")
    finally:
        clusters.stop(started)

    assert leftovers(directory, name) == []     # the pause and sleep processes were in the node's cgroups
