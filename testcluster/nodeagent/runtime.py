"""The agent's view of a node and of one container: shared context and mutable state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testcluster.nodeagent.containers import Process
from testcluster.nodeagent.images import ImageMap
from testcluster.nodeagent.kube import EventRecorder, Kube
from testcluster.nodeagent.logs import ContainerLog
from testcluster.nodeagent.oom import MemoryControl
from testcluster.nodeagent.status import ContainerView, Running, Terminated, Waiting

MAX_BACKOFF = 300.0


@dataclass(frozen=True)
class NodeContext:
    """Everything a pod worker needs from the agent."""

    kube: Kube
    node: str
    state_dir: Path
    images: ImageMap
    memory: MemoryControl
    events: EventRecorder
    allocatable: Mapping[str, str]
    restart_backoff: float = 10.0


class Backoff:
    def __init__(self, initial: float) -> None:
        self.initial = initial
        self.next = initial

    def step(self) -> float:
        delay, self.next = self.next, min(self.next * 2, MAX_BACKOFF)
        return delay


class ContainerRuntime:
    """Mutable state of one container; guarded by the worker's lock."""

    def __init__(self, spec: Mapping[str, Any], init: bool) -> None:
        self.spec = spec
        self.name: str = spec["name"]
        self.image: str = spec.get("image", "")
        self.init = init
        self.state: Waiting | Running | Terminated = Waiting("PodInitializing" if not init else "ContainerCreating")
        self.restart_count = 0
        self.last_state: Terminated | None = None
        self.container_id = ""
        self.process: Process | None = None
        self.logs: dict[str, ContainerLog] = {}

    @property
    def field_path(self) -> str:
        return f"spec.{'initContainers' if self.init else 'containers'}{{{self.name}}}"

    def view(self) -> ContainerView:
        return ContainerView(
            name=self.name,
            image=self.image,
            state=self.state,
            restart_count=self.restart_count,
            last_state=self.last_state,
            container_id=self.container_id,
            image_id=f"process://{self.image}" if self.container_id else "",
        )
