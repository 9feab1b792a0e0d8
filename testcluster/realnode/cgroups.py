"""The node's cgroup root: created before the kubelet starts, removed after its pods are gone.

The kubelet (cgroupfs driver) puts every pod under ``cgroupRoot/kubepods`` and insists that
``cgroupRoot`` exists in each cgroup v1 hierarchy. The root sits below the memory cgroup the
cluster was started in, so pods stay inside whatever memory accounting the machine applies to
this session, and one name per cluster keeps two clusters' kubelets out of each other's pods.
"""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_FS = Path("/sys/fs/cgroup")
# The hierarchies the kubelet's cgroup manager checks on cgroup v1.
SUBSYSTEMS = ("cpu", "cpuacct", "cpuset", "memory", "pids", "blkio", "devices", "freezer", "hugetlb", "systemd")
# runc also mirrors each container's cgroup into the (nearly empty) v2 hierarchy of a hybrid host.
CLEANUP = (*SUBSYSTEMS, "unified")


def own_memory_cgroup(proc_cgroup: str) -> str:
    """This process's memory cgroup path from /proc/self/cgroup text ("/" if none)."""
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2)
        if "memory" in controllers.split(","):
            return path or "/"
    return "/"


def root_for(cluster: str, token: str, proc_cgroup: str) -> str:
    base = own_memory_cgroup(proc_cgroup).rstrip("/")
    return f"{base}/prodigy-testcluster-{cluster}-{token}"


def _hierarchies(fs: Path, names: tuple[str, ...] = SUBSYSTEMS) -> list[Path]:
    return [fs / name for name in names if (fs / name / "cgroup.procs").exists()]


def create(root: str, fs: Path = CGROUP_FS) -> list[Path]:
    """Make ``root`` in every mounted v1 hierarchy; return the directories made (outermost first)."""
    made: list[Path] = []
    for hierarchy in _hierarchies(fs):
        current = hierarchy
        for part in [p for p in root.split("/") if p]:
            parent, current = current, current / part
            if current.is_dir():
                continue
            current.mkdir()
            made.append(current)
            if hierarchy.name == "cpuset":
                # A new v1 cpuset is empty and accepts no task until it has CPUs and memory nodes.
                for knob in ("cpuset.cpus", "cpuset.mems"):
                    (current / knob).write_text((parent / knob).read_text())
    return made


def remove(root: str, made: list[Path], fs: Path = CGROUP_FS) -> list[Path]:
    """Remove ``root`` and everything below it, deepest first, then the parents ``create`` made.

    Returns the directories that could not be removed (still holding tasks).
    """
    left: list[Path] = []
    for hierarchy in _hierarchies(fs, CLEANUP):
        top = hierarchy / root.lstrip("/")
        if not top.is_dir():
            continue
        for directory, subdirs, _ in sorted(os.walk(top), key=lambda entry: -entry[0].count("/")):
            del subdirs
            try:
                os.rmdir(directory)
            except OSError:
                left.append(Path(directory))
    for made_dir in sorted(made, key=lambda path: -len(path.parts)):
        try:
            made_dir.rmdir()
        except FileNotFoundError:
            pass
        except OSError:
            left.append(made_dir)
    # Parents another cluster's node made while this one ran, now empty: outside the memory
    # hierarchy (where they are this session's own cgroup) nothing else uses them. rmdir
    # refuses a cgroup that still has tasks or children.
    for hierarchy in _hierarchies(fs):
        if hierarchy.name == "memory":
            continue
        parents = Path(root.lstrip("/")).parents
        for parent in [p for p in parents if str(p) != "."]:
            try:
                (hierarchy / parent).rmdir()
            except OSError:
                break
    return left
