"""The Node object: registration, Ready status, the not-ready taint, and the Lease heartbeat."""

from __future__ import annotations

import logging
import os
import platform
import threading
from typing import Any

from kubernetes.client.exceptions import ApiException

from testcluster.nodeagent.kube import MERGE, STRATEGIC, Kube, now_rfc3339

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.37.2"
LEASE_SECONDS = 40
# The test control plane's node-lifecycle-controller marks a node NotReady after 20 s without a
# Lease renewal or status post (testcluster/components.py); renewing every 2 s and posting the
# status every 10 s keeps a live agent Ready even when a busy machine delays a few beats, and
# brings a node back to Ready within seconds after a pause.
RENEW_EVERY = 2.0
STATUS_EVERY_BEATS = 5
NOT_READY_TAINT = "node.kubernetes.io/not-ready"


def capacity() -> dict[str, str]:
    """What the node offers the scheduler: the machine's CPUs and memory, 110 pods."""
    memory_kib = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    disk = os.statvfs("/")
    return {
        "cpu": str(os.cpu_count() or 1),
        "memory": f"{memory_kib}Ki",
        "pods": "110",
        "ephemeral-storage": f"{disk.f_blocks * disk.f_frsize // 1024}Ki",
    }


def node_status(name: str, port: int, resources: dict[str, str]) -> dict[str, Any]:
    stamp = now_rfc3339()

    def condition(kind: str, status: str, reason: str, message: str) -> dict[str, str]:
        return {
            "type": kind,
            "status": status,
            "reason": reason,
            "message": message,
            "lastHeartbeatTime": stamp,
            "lastTransitionTime": stamp,
        }

    return {
        "capacity": resources,
        "allocatable": resources,
        "conditions": [
            condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
            condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ],
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": name}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}},
        "nodeInfo": {
            "machineID": "",
            "systemUUID": "",
            "bootID": "",
            "kernelVersion": platform.release(),
            "osImage": "prodigy testcluster process node agent",
            "containerRuntimeVersion": "process://1.0.0",
            "kubeletVersion": KUBELET_VERSION,
            "kubeProxyVersion": "",
            "operatingSystem": "linux",
            "architecture": "amd64",
        },
    }


class NodeRegistration:
    def __init__(self, kube: Kube, name: str, port: int) -> None:
        self.kube = kube
        self.name = name
        self.port = port
        self.resources = capacity()

    def register(self) -> None:
        """Create (or adopt) the Node, report it Ready and drop the not-ready taint."""
        body = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node.kubernetes.io/instance-type": "process",
                },
            },
        }
        try:
            self.kube.request("POST", "/api/v1/nodes", body=body)
        except ApiException as error:
            if error.status != 409:
                raise
        self.post_status()
        self._remove_not_ready_taint()
        self.renew_lease()

    def post_status(self) -> None:
        self.kube.request(
            "PATCH",
            f"/api/v1/nodes/{self.name}/status",
            body={"status": node_status(self.name, self.port, self.resources)},
            content_type=STRATEGIC,
        )

    def _remove_not_ready_taint(self) -> None:
        # Admission adds the taint at creation; the node-lifecycle controller that would
        # lift it once Ready is not run in the test cluster, so the agent lifts it.
        for _ in range(10):
            node = self.kube.request("GET", f"/api/v1/nodes/{self.name}")
            taints = node.get("spec", {}).get("taints") or []
            kept = [t for t in taints if t.get("key") != NOT_READY_TAINT]
            if len(kept) == len(taints):
                return
            patch = {
                "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                "spec": {"taints": kept or None},
            }
            try:
                self.kube.request("PATCH", f"/api/v1/nodes/{self.name}", body=patch, content_type=MERGE)
                return
            except ApiException as error:
                if error.status != 409:
                    raise

    def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        stamp = now_rfc3339().replace("Z", ".000000Z")
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS, "renewTime": stamp}
        try:
            self.kube.request("PATCH", path, body={"spec": spec}, content_type=MERGE)
        except ApiException as error:
            if error.status != 404:
                raise
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                "spec": spec,
            }
            self.kube.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", body=lease)

    def heartbeat(self, stop: threading.Event) -> None:
        """Renew the Lease every 2 s and re-post the status every 10 s until ``stop``; after a
        failed beat (apiserver restarting), post the status at the next one."""
        beats = 0
        failed = False
        while not stop.wait(RENEW_EVERY):
            beats += 1
            try:
                self.renew_lease()
                if failed or beats % STATUS_EVERY_BEATS == 0:
                    self.post_status()
                failed = False
            except Exception as error:  # keep beating through apiserver hiccups
                failed = True
                log.warning("node heartbeat failed: %s", error)
