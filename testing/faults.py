"""Faults a healthy cluster does not produce on demand: a component (the node agent, the
apiserver) killed mid-run and started again later with the same command line.

Only for clusters the test suite started itself (``KubeCluster.directory``): the component's
process and everything it started (a node agent's containers) get SIGKILL, as a crashed machine
would; ``restart`` runs the same command line and environment again and records the new process
in the cluster's state, so stopping the cluster stops it too.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass, replace
from pathlib import Path

from testcluster import processes, state
from testcluster.state import Component


@dataclass(frozen=True)
class Killed:
    directory: Path
    name: str
    command: tuple[str, ...]
    environ: dict[str, str]
    cwd: str
    log: Path

    def restart(self) -> None:
        child = processes.spawn(self.command, log=self.log, env=self.environ, cwd=Path(self.cwd),
                                die_with_parent=True)
        leader = processes.identify(child.pid)
        assert leader is not None, f"{self.name} exited at once; see {self.log}"
        current = state.load(self.directory)
        assert current is not None
        components = tuple(Component(self.name, leader.pid, leader.start_ticks, self.log) if c.name == self.name
                           else c for c in current.components)
        state.save(replace(current, components=components))


def kill(directory: Path, name: str) -> Killed:
    """SIGKILL component ``name`` and its descendants; return how to start it again."""
    current = state.load(directory)
    assert current is not None, f"no cluster recorded in {directory}"
    (component,) = [c for c in current.components if c.name == name]
    pid = component.pid
    command = tuple(arg.decode() for arg in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if arg)
    raw_env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    environ = dict(item.decode().split("=", 1) for item in raw_env if b"=" in item)
    cwd = os.readlink(f"/proc/{pid}/cwd")
    # SIGKILL only, the component and all it started (a node agent's containers), as a machine
    # that dies would: no SIGTERM that would let it clean up first.
    doomed = processes.tree([pid], processes.all_processes())
    for info in doomed:
        try:
            os.kill(info.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    processes.stop([component.leader], grace=5)      # reaps the leader; nothing is left to signal
    return Killed(directory, name, command, environ, cwd, component.log)
