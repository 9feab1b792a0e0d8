"""The real node's supervisor: containerd and the kubelet in a private mount namespace.

``python -m testcluster.realnode.sandbox SPEC`` is the node component that ``testcluster up
--node kubelet`` starts. It

1. unshares a mount namespace with slave propagation: mounts made here never reach the host;
2. covers the fixed paths containerd and the kubelet still use (``/run``: containerd's and the
   shims' sockets, the pods' network namespaces; ``/var/lib``, ``/var/log``: strays such as
   the CNI cache) with tmpfs, binds the cluster's ``node/kubelet`` at ``/var/lib/kubelet`` (unix
   socket paths must be short), and shows the kubelet's expected kernel tunables in read-only files
   over their /proc/sys entries (the machine's values never change);
3. creates the kubelet's cgroup root, becomes a child subreaper (so the shims that
   containerd daemonises stay in this process tree and ``down`` finds them), starts
   containerd, imports the images, and starts the kubelet;
4. on SIGTERM stops the kubelet, kills every container and shim, stops containerd, removes
   the cgroups, and exits. The namespace and its mounts vanish with the last process.

A child that dies ends the node: everything is stopped and the exit code is non-zero.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from testcluster.realnode import cgroups, linux
from testcluster.realnode.cleanup import SandboxRecord

TMPFS_PATHS = ("/run", "/var/lib", "/var/log")


@dataclass(frozen=True)
class Spec:
    """What ``cluster.up`` hands the supervisor (``DIR/node/node.json``)."""

    containerd: list[str]
    kubelet: list[str]
    containerd_env: dict[str, str]
    kubelet_env: dict[str, str]
    socket: str
    ctr: str
    images: list[str]
    images_ready: str
    cgroup_root: str
    sysctls: dict[str, int]
    sysctl_dir: str
    logs: str
    binds: list[list[str]]

    @classmethod
    def load(cls, path: Path) -> Spec:
        return cls(**json.loads(path.read_text()))


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} node: {message}", file=sys.stderr, flush=True)


def _prepare_namespace(spec: Spec) -> None:
    linux.unshare_mounts()
    for path in TMPFS_PATHS:
        linux.mount_tmpfs(path)
    os.makedirs("/run/containerd", exist_ok=True)
    os.symlink("/dev/shm", "/run/shm")
    for source, target in spec.binds:   # directories of the cluster at the short paths the processes use
        os.makedirs(target, exist_ok=True)
        linux.bind(target, source)
    sysctl_dir = Path(spec.sysctl_dir)
    sysctl_dir.mkdir(parents=True, exist_ok=True)
    for name, value in spec.sysctls.items():
        shown = sysctl_dir / name.replace("/", ".")
        shown.write_text(f"{value}\n")
        linux.bind_read_only(str(shown), f"/proc/sys/{name}")


def _spawn(command: list[str], env: dict[str, str], log_name: str, logs: Path) -> subprocess.Popen[bytes]:
    with (logs / log_name).open("ab") as out:
        # If the supervisor is killed outright (SIGKILL, no shutdown), containerd and the
        # kubelet go with it instead of running on unowned.
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=env,
                                preexec_fn=linux.die_with_parent)


class Node:
    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.logs = Path(spec.logs)
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.stopping = False
        self.made_cgroups: list[Path] = []

    def reap(self) -> None:
        """Collect every exited child, ours or an adopted orphan (we are a subreaper)."""
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for child in self.children.values():
                if child.pid == pid and child.returncode is None:
                    child.returncode = -1

    def dead(self) -> list[str]:
        return [name for name, child in self.children.items() if child.poll() is not None]

    def wait_for_socket(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not Path(self.spec.socket).exists():
            self.reap()
            if self.dead():
                raise RuntimeError("containerd exited during startup (see logs/containerd.log)")
            if time.monotonic() > deadline:
                raise RuntimeError(f"containerd did not create {self.spec.socket} within {timeout:.0f} s")
            time.sleep(0.05)

    def import_images(self) -> None:
        for archive in self.spec.images:
            started = time.monotonic()
            result = subprocess.run([self.spec.ctr, "--address", self.spec.socket, "--namespace", "k8s.io",
                                     "images", "import", "--snapshotter", "overlayfs", archive],
                                    capture_output=True, text=True, env=self.spec.containerd_env, check=False)
            if result.returncode != 0:
                raise RuntimeError(f"ctr images import {archive} failed: {result.stderr.strip()}")
            names = " ".join(line.split()[1] for line in result.stdout.splitlines() if line.startswith("unpacking"))
            log(f"imported {Path(archive).name} ({names or 'no names'}) in {time.monotonic() - started:.1f} s")
        Path(self.spec.images_ready).write_text("\n".join(self.spec.images) + "\n")

    def run(self) -> int:
        _prepare_namespace(self.spec)
        linux.become_subreaper()
        self.made_cgroups = cgroups.create(self.spec.cgroup_root)
        SandboxRecord(os.readlink("/proc/self/ns/mnt"), self.spec.cgroup_root,
                      tuple(str(p) for p in self.made_cgroups)).save(Path(self.spec.images_ready).parent)
        log(f"mount namespace ready; cgroup root {self.spec.cgroup_root}")
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        try:
            self.children["containerd"] = _spawn(self.spec.containerd, self.spec.containerd_env, "containerd.log",
                                                 self.logs)
            self.wait_for_socket()
            self.children["kubelet"] = _spawn(self.spec.kubelet, self.spec.kubelet_env, "kubelet.log", self.logs)
            self.import_images()
            log("running")
            while not self.stopping:
                self.reap()
                dead = self.dead()
                if dead:
                    log(f"{', '.join(dead)} exited; stopping the node")
                    return 1
                time.sleep(0.2)
            return 0
        except Exception as error:  # noqa: BLE001 - any failure ends the node, with the reason logged
            log(f"failed: {error}")
            return 1
        finally:
            self.shutdown()

    def _on_signal(self, signum: int, frame: object) -> None:
        del signum, frame
        self.stopping = True

    def _descendants(self) -> list[int]:
        me = os.getpid()
        parents: dict[int, int] = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                stat = Path(f"/proc/{name}/stat").read_text()
            except OSError:
                continue
            parents[int(name)] = int(stat[stat.rindex(")") + 2:].split()[1])
        found, frontier = [], [me]
        while frontier:
            parent = frontier.pop()
            for pid, ppid in parents.items():
                if ppid == parent:
                    found.append(pid)
                    frontier.append(pid)
        return found

    def shutdown(self) -> None:
        """Kubelet first (it would restart what we kill), then every container and shim, then containerd."""
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        kubelet = self.children.get("kubelet")
        if kubelet is not None and kubelet.poll() is None:
            kubelet.terminate()
            try:
                kubelet.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kubelet.kill()
        containerd = self.children.get("containerd")
        keep = {containerd.pid} if containerd is not None and containerd.poll() is None else set()
        for pid in self._descendants():
            if pid not in keep:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if containerd is not None and containerd.poll() is None:
            containerd.terminate()
            try:
                containerd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                containerd.kill()
        deadline = time.monotonic() + 10
        while self._descendants() and time.monotonic() < deadline:
            for pid in self._descendants():
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            self.reap()
            time.sleep(0.05)
        self.reap()
        left = cgroups.remove(self.spec.cgroup_root, self.made_cgroups)
        log("stopped" + (f"; cgroups left behind: {', '.join(map(str, left))}" if left else ""))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m testcluster.realnode.sandbox SPEC.json", file=sys.stderr)
        return 2
    return Node(Spec.load(Path(argv[1]))).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv))
