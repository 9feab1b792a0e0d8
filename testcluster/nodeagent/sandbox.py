"""Container entry: build a private filesystem view, then exec the container's command.

Run by the agent as ``python -I -S sandbox.py SPEC.json`` with the container's pipes, it
replaces itself with the command (same pid), so it must stay standalone: stdlib only,
no package imports. Steps:

1. join the container's memory cgroup (before anything else, so every byte counts);
2. ``unshare`` a mount (and UTS) namespace and make every mount private, so nothing
   done here is visible on the host or in other containers;
3. build a root on a tmpfs whose entries are bind mounts of the host's ``/``. A
   mountPath that does not exist on the host (``/workspace``, ``/etc/prodigy``) is
   created by *shadowing* its parent: a tmpfs over it, refilled with bind mounts of
   the host entries, plus the new directory. The host is never written to;
4. bind each volume (and the termination-message file) at its path, read-only if asked;
5. ``chroot`` into that root, ``chdir`` to workingDir and ``execvpe`` the command.

If the command cannot be executed the reason goes to ``start_error_file`` and the exit
code is 128, which the agent reports as the kubelet's StartError.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import socket
import sys
from typing import Any

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
MS_RDONLY = 0x1
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_REC = 0x4000
MS_PRIVATE = 0x40000

_libc = ctypes.CDLL(None, use_errno=True)


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    args = [None if a is None else a.encode() for a in (source, target, fstype, data)]
    if _libc.mount(args[0], args[1], args[2], ctypes.c_ulong(flags), args[3]) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def _join(parent: str, name: str) -> str:
    return parent.rstrip("/") + "/" + name


class Root:
    """A tmpfs root for one container, filled with bind mounts of the host."""

    def __init__(self, path: str) -> None:
        self.path = path.rstrip("/")
        self.owned: set[str] = set()  # container dirs that are ours: tmpfs or created by us
        self.volumes: set[str] = set()  # container dirs with a volume mounted
        _mount("tmpfs", self.path, "tmpfs", 0, "mode=755")
        self._fill("/")

    def real(self, path: str) -> str:
        return self.path + path if path != "/" else self.path

    def _fill(self, directory: str) -> None:
        """Mirror the host's ``directory`` into our (empty, tmpfs) copy of it."""
        self.owned.add(directory)
        for entry in os.scandir(directory):
            target = self.real(_join(directory, entry.name))
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), target)
            elif entry.is_dir(follow_symlinks=False):
                os.mkdir(target)
                _mount(entry.path, target, None, MS_BIND | MS_REC)
            else:
                open(target, "w").close()
                try:
                    _mount(entry.path, target, None, MS_BIND)
                except OSError:
                    os.unlink(target)  # sockets that vanished in the meantime, etc.

    def _writable(self, directory: str) -> bool:
        return directory in self.owned or any(
            directory == v or directory.startswith(v.rstrip("/") + "/") for v in self.volumes
        )

    def ensure(self, path: str, is_file: bool = False, depth: int = 0) -> str:
        """Make ``path`` exist in the root without writing to the host; returns its resolved path."""
        parts = [p for p in path.split("/") if p]
        current = "/"
        for index, part in enumerate(parts):
            candidate = _join(current, part)
            real = self.real(candidate)
            last = index == len(parts) - 1
            if os.path.islink(real) and depth < 16:
                link = os.readlink(real)
                resolved = os.path.normpath(link if link.startswith("/") else _join(current, link))
                rest = "/".join(parts[index + 1 :])
                return self.ensure(_join(resolved, rest) if rest else resolved, is_file, depth + 1)
            if not os.path.lexists(real):
                if not self._writable(current):
                    _mount("tmpfs", self.real(current), "tmpfs", 0, "mode=755")
                    self._fill(current)
                if last and is_file:
                    open(real, "w").close()
                else:
                    os.mkdir(real, 0o755)
                    self.owned.add(candidate)
            current = candidate
        return current

    def bind(self, source: str, target: str, read_only: bool) -> None:
        is_file = not os.path.isdir(source)
        resolved = self.ensure(target, is_file)
        real = self.real(resolved)
        _mount(source, real, None, MS_BIND | MS_REC)
        if read_only:
            _mount(None, real, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        if not is_file:
            self.volumes.add(resolved)


def _isolate(spec: dict[str, Any]) -> None:
    mounts = sorted(spec["mounts"], key=lambda m: m["target"].count("/"))
    try:
        if _libc.unshare(CLONE_NEWNS | CLONE_NEWUTS) != 0:
            raise OSError(ctypes.get_errno(), "unshare")
        socket.sethostname(spec["hostname"][:63])
        _mount(None, "/", None, MS_REC | MS_PRIVATE)
    except OSError as error:
        print(f"nodeagent sandbox: no private mount namespace ({error}); volumes are not mounted", file=sys.stderr)
        return
    root = Root(spec["root"])
    for mount in mounts:  # first create every mount point, so no later shadowing hides a mount
        root.ensure(mount["target"], is_file=not os.path.isdir(mount["source"]))
    for mount in mounts:
        root.bind(mount["source"], mount["target"], mount.get("readOnly", False))
    if spec.get("workingDir"):
        root.ensure(spec["workingDir"])
    os.chroot(root.path)


def main() -> None:
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    if spec.get("cgroupProcs"):
        with open(spec["cgroupProcs"], "w") as handle:
            handle.write(str(os.getpid()))
    if spec.get("isolate", True):
        _isolate(spec)
    argv, env = spec["argv"], spec["env"]
    if not argv:
        _start_error(spec, "failed to create containerd task: unable to start container process: no command specified: unknown")
    try:
        os.chdir(spec.get("workingDir") or "/")
        os.execvpe(argv[0], argv, env)
    except OSError as error:
        if error.errno == errno.ENOENT:
            detail = f'exec: "{argv[0]}": executable file not found in $PATH'
        else:
            detail = f'exec: "{argv[0]}": {os.strerror(error.errno or 0)}'
        _start_error(spec, f"failed to create containerd task: unable to start container process: {detail}: unknown")


def _start_error(spec: dict[str, Any], message: str) -> None:
    with open(spec["startErrorFile"], "w") as handle:
        handle.write(message)
    print(message, file=sys.stderr)
    sys.exit(128)


if __name__ == "__main__":
    main()
