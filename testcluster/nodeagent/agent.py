"""Wiring: start the log server, register the node, watch pods; tear it all down on stop."""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from testcluster.nodeagent.images import load_map
from testcluster.nodeagent.kube import EventRecorder, Kube
from testcluster.nodeagent.runtime import NodeContext
from testcluster.nodeagent.logserver import LogServer
from testcluster.nodeagent.node import NodeRegistration
from testcluster.nodeagent.oom import MemoryControl
from testcluster.nodeagent.pods import PodManager, watch_pods

log = logging.getLogger("testcluster.nodeagent")

SHUTDOWN_GRACE = 2.0  # seconds each container gets after SIGTERM when the agent itself stops
REGISTER_TIMEOUT = 60.0


@dataclass(frozen=True)
class AgentOptions:
    kubeconfig: Path
    node_name: str
    port: int
    state_dir: Path
    cert: Path
    key: Path
    image_map: Path | None = None
    restart_backoff: float = 10.0
    verbose: bool = False


def python_shims(state_dir: Path) -> Path:
    """A directory whose ``python``/``python3`` is the base interpreter (stdlib only)."""
    shims = state_dir / "bin-python"
    shims.mkdir(parents=True, exist_ok=True)
    base = os.path.realpath(getattr(sys, "_base_executable", sys.executable))
    for name in ("python", "python3"):
        link = shims / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(base)
    return shims


def _register(node: NodeRegistration, stop: threading.Event) -> None:
    deadline = time.monotonic() + REGISTER_TIMEOUT
    while True:
        try:
            node.register()
            return
        except Exception as error:
            if time.monotonic() > deadline or stop.is_set():
                raise
            log.info("node registration not possible yet (%s); retrying", error)
            stop.wait(1.0)


def run(options: AgentOptions, stop: threading.Event) -> int:
    state_dir = options.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    placeholders = {"venv": sys.prefix, "python": str(python_shims(state_dir))}
    try:
        images = load_map(options.image_map, placeholders)
    except (OSError, ValueError) as error:
        log.error("cannot load the image map: %s", error)
        return 2
    kube = Kube(options.kubeconfig)
    memory = MemoryControl.detect(f"prodigy-nodeagent-{options.node_name}-{os.getpid()}")
    log.info("memory limits enforced by %s%s", memory.mechanism, f" under {memory.base}" if memory.base else "")
    events = EventRecorder(kube, options.node_name)
    node = NodeRegistration(kube, options.node_name, options.port)
    ctx = NodeContext(
        kube=kube,
        node=options.node_name,
        state_dir=state_dir,
        images=images,
        memory=memory,
        events=events,
        allocatable=node.resources,
        restart_backoff=options.restart_backoff,
    )
    manager = PodManager(ctx)
    server = LogServer(options.port, options.cert, options.key, manager.lookup)
    server.start()
    try:
        _register(node, stop)
        log.info("node %s registered; kubelet endpoint https://127.0.0.1:%d", options.node_name, options.port)
        threading.Thread(target=node.heartbeat, args=(stop,), name="heartbeat", daemon=True).start()
        threading.Thread(target=watch_pods, args=(manager, stop), name="pod-watch", daemon=True).start()
        while not stop.wait(1.0):
            pass
        log.info("stopping: terminating all containers")
        return 0
    finally:
        manager.shutdown(SHUTDOWN_GRACE)
        server.stop()
        events.close()
        memory.remove()
        log.info("node agent stopped")
