"""Is a running pod still alive? Read from its Node and its own conditions; pure.

A pod whose node dies stays ``Running`` in the API: nobody is left to say otherwise. What does
change is the Node: the node lifecycle controller turns its ``Ready`` condition ``Unknown``
("Kubelet stopped posting node status.") once its Lease is not renewed for the grace period,
and marks the node's pods not ready (``Ready`` false, a ``NodeNotReady`` event). A client that
may read Nodes sees the first; any client sees the second, as a pod whose ``Ready`` condition is
false while every container says it is running and ready (prodigy's pods have no probes, so
only the node lifecycle controller turns them unready that way).

An eviction (API-initiated, taint-based, node pressure) adds a ``DisruptionTarget`` condition
before the pod is deleted; ``disruption`` words it for the status line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from prodigy.k8s.diagnose import parse_time

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class NodeTrouble:
    node: str
    text: str                  # for the status line and the report: "node n1 is not ready (…)"
    since: datetime | None     # when it started, when the API says so


def _condition(obj: Obj | None, kind: str) -> Obj | None:
    for cond in ((obj or {}).get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return dict(cond)
    return None


def node_of(pod: Obj) -> str | None:
    name = (pod.get("spec") or {}).get("nodeName")
    return str(name) if name else None


def is_running(pod: Obj) -> bool:
    """Running on a node and not being deleted: the pod liveness is about."""
    return (pod.get("status") or {}).get("phase") == "Running" and not (pod.get("metadata") or {}).get(
        "deletionTimestamp")


def node_trouble(pod: Obj, node: Obj | None, *, node_deleted: bool = False) -> NodeTrouble | None:
    """Why the node of a running pod looks lost, or None while it looks fine."""
    name = node_of(pod)
    if name is None or not is_running(pod):
        return None
    if node_deleted:
        return NodeTrouble(name, f"node {name} was removed from the cluster", None)
    if node is not None:
        ready = _condition(node, "Ready")
        if ready is not None and ready.get("status") != "True":
            why = " ".join(str(ready.get("message") or ready.get("reason") or "").split())
            state = "not responding" if ready.get("status") == "Unknown" else "not ready"
            return NodeTrouble(name, f"node {name} is {state}" + (f" ({why})" if why else ""),
                               parse_time(ready.get("lastTransitionTime")))
        return None
    # Nodes unreadable: the pod's own Ready condition, turned false behind running, ready containers.
    ready = _condition(pod, "Ready")
    statuses = [*((pod.get("status") or {}).get("containerStatuses") or ())]
    if ready is None or ready.get("status") != "False" or not statuses:
        return None
    if all(s.get("ready") and "running" in (s.get("state") or {}) for s in statuses):
        return NodeTrouble(name, f"the pod was marked not ready: node {name} may have stopped responding",
                           parse_time(ready.get("lastTransitionTime")))
    return None


def disruption(pod: Obj) -> str | None:
    """``evicted (EvictionByEvictionAPI): Eviction API: evicting`` for a pod being disrupted."""
    cond = _condition(pod, "DisruptionTarget")
    if cond is None or cond.get("status") != "True":
        status = pod.get("status") or {}
        if status.get("reason") == "Evicted":
            return f"evicted: {' '.join(str(status.get('message') or '').split())}".rstrip(": ")
        return None
    reason = str(cond.get("reason") or "")
    message = " ".join(str(cond.get("message") or "").split())
    what = {"PreemptionByScheduler": "preempted", "DeletionByTaintManager": "evicted from a tainted node",
            "DeletionByPodGC": "removed by the pod garbage collector", "TerminationByKubelet": "evicted by its node",
            "EvictionByEvictionAPI": "evicted"}.get(reason, "disrupted")
    return f"{what}" + (f": {message}" if message else "")
