"""A run's output (the workflow container's log), read from the cluster or from the copy kept here.

The pod's log lives only as long as the pod: TTL, `cluster gc` or a cancel remove it. So when a
run is collected (the end of an attached run, `cluster attach`, `cluster collect`), its whole
output is copied to ``$PRODIGY_HOME/run-logs/<run-id>.log``; `prodigy cluster logs` reads that
copy once the pod is gone. Only the workflow container (``prodigy-agent``) is read: the
repository init container and the results container are transport plumbing.

    copy_path(run_id)                      where the copy is (None for a malformed run id)
    save_copy(kube, ns, pod, run_id)       the whole log -> the copy (best effort: a copy is a convenience)
    read_log(kube, ns, pod)                the whole log, now
    read_tail(kube, ns, pod, lines)        the last lines with their timestamps: the current step
                                           (`ui.steps.current_step`) and where "from now" starts (`LogCut`)
    follow_log(kube, ns, pod, emit, stop)  every line until the container ends (`logs.LogFollower`)
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prodigy import paths
from prodigy.k8s import names
from prodigy.k8s.clients import Kube
from prodigy.k8s.errors import KubeError
from prodigy.k8s.logs import LineSplitter, LogCut, LogFollower, LogSource, parse_line
from prodigy.k8s.manifests.contract import AGENT_CONTAINER
from prodigy.k8s.streams import StreamSlot

COPY_DIR = "run-logs"
MAX_COPY_BYTES = 64 * 1024 * 1024      # a runaway step must not fill the disk
TAIL_LINES = 200                       # enough to find the current step header under most step output
TAIL_BYTES = 256 * 1024
READ_TIMEOUT = 60.0


def copy_path(run_id: str, home: Path | None = None) -> Path | None:
    """The local copy of ``run_id``'s output; None when the id is not one prodigy makes (it
    names a file, and it may come from a hostile label or a typo)."""
    if not names.is_run_id(run_id):
        return None
    return (home or paths.prodigy_home()) / COPY_DIR / f"{run_id}.log"


def _log_path(namespace: str, pod: str) -> str:
    return f"/api/v1/namespaces/{namespace}/pods/{pod}/log"


def _read(kube: Kube, namespace: str, pod: str, query: list[tuple[str, str | int | bool]]) -> list[str]:
    response = kube.open_stream(_log_path(namespace, pod), query=[("container", AGENT_CONTAINER), *query],
                                read_timeout=READ_TIMEOUT, action=f"reading logs of {pod}")
    splitter, lines = LineSplitter(), []
    with StreamSlot().reading(response):
        while chunk := response.read1(64 * 1024):
            lines += splitter.feed(chunk)
    tail = splitter.flush()
    if tail is not None:
        lines.append(tail)
    return lines


def read_log(kube: Kube, namespace: str, pod: str, *, limit_bytes: int = MAX_COPY_BYTES) -> list[str]:
    return _read(kube, namespace, pod, [("limitBytes", limit_bytes)])


@dataclass(frozen=True)
class Tail:
    lines: tuple[str, ...]            # without timestamps
    cut: LogCut | None                # after the last line; None when the container printed nothing yet


def read_tail(kube: Kube, namespace: str, pod: str, lines: int = TAIL_LINES) -> Tail:
    raw = _read(kube, namespace, pod, [("timestamps", "true"), ("tailLines", lines), ("limitBytes", TAIL_BYTES)])
    parsed = [parse_line(line) for line in raw]
    cut = None
    for ts, text in reversed(parsed):
        if ts is not None:
            cut = LogCut(AGENT_CONTAINER, ts, text)
            break
    return Tail(tuple(text for _, text in parsed), cut)


def save_copy(kube: Kube, namespace: str, pod: str, run_id: str) -> Path | None:
    """Copy the run's whole output next to the run index; None when it could not be read."""
    target = copy_path(run_id)
    if target is None:
        return None
    try:
        lines = read_log(kube, namespace, pod)
    except KubeError:
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)
    os.replace(tmp, target)
    return target


def follow_log(kube: Kube, namespace: str, pod: str, emit: Callable[[str], None], stop: threading.Event) -> None:
    """Print every line of the workflow container until it has ended (or ``stop`` is set)."""
    follower = LogFollower(kube, LogSource(namespace, pod, AGENT_CONTAINER), emit, stop=stop)
    follower.start()
    try:
        while follower.is_alive():
            follower.join(0.2)   # short joins: Ctrl+C reaches the main thread between them
    finally:
        stop.set()
        follower.shutdown()
        follower.join(1.0)
