"""Which pods run here: a list+watch of the pods bound to this node, one worker per pod."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from kubernetes.client.exceptions import ApiException

from testcluster.nodeagent.kube import retry_transient
from testcluster.nodeagent.lifecycle import PodWorker
from testcluster.nodeagent.runtime import NodeContext
from testcluster.nodeagent.logserver import PodLogs

log = logging.getLogger(__name__)

WATCH_TIMEOUT = 300


def _terminal(pod: Mapping[str, Any]) -> bool:
    return (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed")


class PodManager:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.workers: dict[str, PodWorker] = {}
        self.lock = threading.Lock()
        self.closed = False
        self.stopped = threading.Event()    # the agent is shutting down: stop retrying

    def handle(self, kind: str, pod: Mapping[str, Any]) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED":
            with self.lock:
                worker = self.workers.pop(uid, None)
            if worker is not None:
                threading.Thread(target=worker.abandon, daemon=True).start()
            return
        with self.lock:
            if self.closed:
                return
            worker = self.workers.get(uid)
            if worker is None:
                if _terminal(pod):
                    # Finished before this agent started (or by another agent): nothing to run,
                    # but a deletion still needs the kubelet's final delete.
                    if pod["metadata"].get("deletionTimestamp"):
                        threading.Thread(target=self._final_delete, args=(pod,), daemon=True).start()
                    return
                worker = PodWorker(pod, self.ctx)
                self.workers[uid] = worker
                worker.start()
        worker.update(pod)

    def resync(self, pods: Iterable[Mapping[str, Any]]) -> None:
        """After a (re)list: forget pods that vanished while the watch was down."""
        listed = {p["metadata"]["uid"] for p in pods}
        with self.lock:
            gone = [uid for uid in self.workers if uid not in listed]
        for uid in gone:
            with self.lock:
                worker = self.workers.get(uid)
            if worker is not None:
                self.handle("DELETED", worker.pod)
        for pod in pods:
            self.handle("ADDED", pod)

    def _final_delete(self, pod: Mapping[str, Any]) -> None:
        meta = pod["metadata"]
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": meta["uid"]}}
        try:
            retry_transient(
                lambda: self.ctx.kube.request("DELETE", f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}",
                                              body=body),
                stop=self.stopped, what=f"final delete of {meta['namespace']}/{meta['name']}")
        except ApiException as error:
            if error.status not in (404, 409):
                log.warning("final delete of %s/%s failed: %s", meta["namespace"], meta["name"], error)

    def lookup(self, namespace: str, name: str) -> PodLogs | None:
        with self.lock:
            matches = [w for w in self.workers.values() if w.namespace == namespace and w.name == name]
        return matches[-1].log_view() if matches else None

    def shutdown(self, grace: float) -> None:
        self.stopped.set()
        with self.lock:
            self.closed = True
            workers = list(self.workers.values())
            self.workers.clear()
        threads = [threading.Thread(target=w.abandon, args=(grace,), daemon=True) for w in workers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for worker in workers:
            worker.thread.join(timeout=5)


def watch_pods(manager: PodManager, stop: threading.Event) -> None:
    """List, then watch from the list's resourceVersion; list again after 410 Gone."""
    kube, selector = manager.ctx.kube, f"spec.nodeName={manager.ctx.node}"
    version: str | None = None
    while not stop.is_set():
        try:
            if version is None:
                listing = kube.request("GET", "/api/v1/pods", query={"fieldSelector": selector})
                version = listing["metadata"]["resourceVersion"]
                manager.resync(listing["items"])
            for event in kube.watch(
                "/api/v1/pods",
                fieldSelector=selector,
                resourceVersion=version,
                allowWatchBookmarks=True,
                timeoutSeconds=WATCH_TIMEOUT,
            ):
                if stop.is_set():
                    return
                kind, obj = event["type"], event["object"]
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        version = None
                        break
                    raise ApiException(status=obj.get("code"), reason=obj.get("message"))
                version = obj["metadata"]["resourceVersion"]
                if kind != "BOOKMARK":
                    manager.handle(kind, obj)
        except ApiException as error:
            if error.status == 410:
                version = None
            else:
                log.warning("pod watch failed: %s", error)
                stop.wait(1.0)
        except Exception as error:  # connection resets, apiserver restarts: keep watching
            if stop.is_set():
                return
            log.warning("pod watch interrupted: %s", error)
            stop.wait(1.0)
