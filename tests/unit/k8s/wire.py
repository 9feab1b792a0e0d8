"""Job, Pod and Event objects in the API's wire shape (camelCase JSON), as the runtime passes them
to ``prodigy.k8s.diagnose``. Shapes copied field by field from what a v1.3x apiserver returns."""

from __future__ import annotations

from typing import Any

NS = "prodigy-dev"
JOB = "prodigy-implement-k3x9q2m7ab"
POD = f"{JOB}-x7k2p"
T0 = "2026-11-27T09:30:00Z"

Obj = dict[str, Any]


def job(*conditions: Obj, active_deadline: int | None = None, suspend: bool = False, failed: int = 0) -> Obj:
    spec: Obj = {
        "backoffLimit": 0,
        "completions": 1,
        "parallelism": 1,
        "suspend": suspend,
        "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {
            "containerName": "prodigy-agent", "operator": "NotIn", "values": [0]}}]},
        "template": {"spec": {"containers": [{"name": "prodigy-agent", "image": "prodigy-agent:dev"}]}},
    }
    if active_deadline is not None:
        spec["activeDeadlineSeconds"] = active_deadline
    status: Obj = {"startTime": T0, "active": 0 if conditions else 1, "failed": failed}
    if conditions:
        status["conditions"] = list(conditions)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": JOB, "namespace": NS, "uid": "8d0c1b9e-4c1e-4a57-9a43-5b0d1f1f0001",
                     "creationTimestamp": T0, "labels": {"app": "prodigy", "prodigy.io/run-id": "k3x9q2m7ab"}},
        "spec": spec,
        "status": status,
    }


def job_condition(kind: str, reason: str, message: str, at: str = "2026-11-27T09:35:00Z") -> Obj:
    return {"type": kind, "status": "True", "reason": reason, "message": message,
            "lastProbeTime": at, "lastTransitionTime": at}


def pod(phase: str = "Pending", *, containers: list[Obj] | None = None, init: list[Obj] | None = None,
        conditions: list[Obj] | None = None, reason: str | None = None, message: str | None = None,
        name: str = POD, created: str = T0, memory_limit: str = "4Gi", deleting: bool = False) -> Obj:
    status: Obj = {"phase": phase, "qosClass": "Burstable"}
    if conditions is not None:
        status["conditions"] = conditions
    if containers is not None:
        status["containerStatuses"] = containers
    if init is not None:
        status["initContainerStatuses"] = init
    if reason:
        status["reason"] = reason
    if message:
        status["message"] = message
    meta: Obj = {"name": name, "namespace": NS, "uid": f"uid-{name}", "creationTimestamp": created,
                 "labels": {"batch.kubernetes.io/job-name": JOB, "job-name": JOB, "prodigy.io/run-id": "k3x9q2m7ab"},
                 "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": JOB, "controller": True,
                                      "blockOwnerDeletion": True, "uid": "8d0c1b9e-4c1e-4a57-9a43-5b0d1f1f0001"}]}
    if deleting:
        meta["deletionTimestamp"] = "2026-11-27T09:40:00Z"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "prodigy-agent", "image": "prodigy-agent:dev",
            "resources": {"limits": {"cpu": "2", "memory": memory_limit}, "requests": {"cpu": "500m", "memory": "1Gi"}},
        }]},
        "status": status,
    }


def scheduled(at: str = T0) -> Obj:
    return {"type": "PodScheduled", "status": "True", "lastProbeTime": None, "lastTransitionTime": at}


def unschedulable(message: str, at: str = T0) -> Obj:
    return {"type": "PodScheduled", "status": "False", "lastProbeTime": None, "lastTransitionTime": at,
            "reason": "Unschedulable", "message": message}


def waiting(reason: str, message: str | None = None, *, name: str = "prodigy-agent", image: str = "prodigy-agent:dev") -> Obj:
    state: Obj = {"reason": reason}
    if message is not None:
        state["message"] = message
    return {"name": name, "image": image, "imageID": "", "ready": False, "restartCount": 0, "started": False,
            "state": {"waiting": state}, "lastState": {}}


def running(name: str = "prodigy-agent") -> Obj:
    return {"name": name, "image": "prodigy-agent:dev", "imageID": "docker.io/library/prodigy-agent@sha256:" + "1" * 64,
            "containerID": "containerd://" + "a" * 64, "ready": True, "restartCount": 0, "started": True,
            "state": {"running": {"startedAt": "2026-11-27T09:30:05Z"}}, "lastState": {}}


def terminated(exit_code: int, reason: str = "Error", message: str | None = None, *, name: str = "prodigy-agent") -> Obj:
    state: Obj = {"exitCode": exit_code, "reason": reason, "startedAt": "2026-11-27T09:30:05Z",
                  "finishedAt": "2026-11-27T09:34:00Z", "containerID": "containerd://" + "b" * 64}
    if message is not None:
        state["message"] = message
    return {"name": name, "image": "prodigy-agent:dev", "imageID": "", "ready": False, "restartCount": 0,
            "started": False, "state": {"terminated": state}, "lastState": {}}


def event(reason: str, message: str, *, kind: str = "Pod", name: str = POD, type_: str = "Warning",
          first: str = T0, last: str | None = None, count: int = 1) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{abs(hash((reason, message, first))) % 10**12:x}", "namespace": NS},
        "involvedObject": {"apiVersion": "v1" if kind == "Pod" else "batch/v1", "kind": kind, "name": name,
                           "namespace": NS},
        "reason": reason,
        "message": message,
        "source": {"component": "kubelet" if kind == "Pod" else "job-controller"},
        "firstTimestamp": first,
        "lastTimestamp": last or first,
        "count": count,
        "type": type_,
        "reportingComponent": "",
        "reportingInstance": "",
    }
