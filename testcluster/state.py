"""The record a running cluster leaves in its directory (``cluster.json``).

It is what lets ``down`` and ``status`` work from a different process than ``up``,
and what the pytest fixture hands to tests.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from testcluster.processes import Leader

STATE_FILE = "cluster.json"


@dataclass(frozen=True)
class Component:
    """One started process: its name, process-group leader and log file."""

    name: str
    pid: int
    start_ticks: int
    log: Path

    @property
    def leader(self) -> Leader:
        return Leader(self.pid, self.start_ticks)


@dataclass(frozen=True)
class ClusterState:
    name: str
    directory: Path
    server: str
    kubeconfig: Path
    admin_context: str
    restricted_context: str
    bin_dir: Path
    etcd_data: Path
    node_name: str | None
    components: tuple[Component, ...] = field(default=())
    node_kind: str = "process"   # "process", "kubelet" or "none"

    @property
    def kubectl(self) -> Path:
        return self.bin_dir / "kubectl"

    def with_component(self, component: Component) -> ClusterState:
        return replace(self, components=(*self.components, component))

    def without_components(self) -> ClusterState:
        return replace(self, components=())


def _encode(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {key: _encode(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(item) for item in value]
    return value


def save(state: ClusterState) -> None:
    """Write atomically: a reader never sees half a file, even if `up` is killed mid-write."""
    path = state.directory / STATE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(_encode(asdict(state)), indent=2) + "\n")
    os.replace(temporary, path)


def load(directory: Path) -> ClusterState | None:
    path = directory / STATE_FILE
    if not path.exists():
        return None
    raw = json.loads(path.read_text())
    components = tuple(
        Component(name=c["name"], pid=c["pid"], start_ticks=c["start_ticks"], log=Path(c["log"]))
        for c in raw.pop("components")
    )
    paths = {key: Path(raw[key]) for key in ("directory", "kubeconfig", "bin_dir", "etcd_data")}
    return ClusterState(**{**raw, **paths, "components": components})
