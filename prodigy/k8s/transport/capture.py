"""Catch the result of a pod that is being deleted, before the pod is gone.

A pod is deleted while it works when the user presses Ctrl+C (the CLI deletes the Job,
propagation Foreground), when the Job's ``activeDeadlineSeconds`` passes (the job controller
deletes the pod) or when the cluster evicts it. The kubelet then sends SIGTERM to every
container and waits up to ``terminationGracePeriodSeconds``: the agent stops the running step,
exports the commits made so far and its checkpoint, and the results container (which keeps
going through SIGTERM while the agent's heartbeat lives) prints them. Once every container has
exited, the pod and its logs are removed for good, so reading the log after the Job ended,
as a normal run does, would find nothing.

``TerminationCapture`` therefore watches the run's pods; the moment one carries a
``deletionTimestamp`` while its results container runs, it follows that container's log to
its end, decoding into a spool file. The flow then lands that result through the same import
path as any other (verify, fetch, fast-forward).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy.errors import ProdigyError
from prodigy.k8s.transport.cluster_io import collect_result, results_container_ran
from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.results import NEVER_STARTED
from prodigy.k8s.watch import Watcher, WatchEvent, pod_collection

if TYPE_CHECKING:
    from prodigy.k8s.clients import Kube
    from prodigy.k8s.transport.results import CollectedResult

# The pod's terminationGracePeriodSeconds (manifests/pod.py): the longest the agent may take to
# export after SIGTERM. Reads and waits are bounded by it plus a margin for the API round trips.
FOLLOW_MARGIN_SECONDS = 10.0


class TerminationCapture:
    def __init__(self, kube: Kube, *, namespace: str, job_uid: str, spool_dir: Path, grace_seconds: float,
                 give_up: threading.Event | None = None) -> None:
        self.kube = kube
        self.namespace = namespace
        self.spool_dir = spool_dir
        self.grace_seconds = grace_seconds
        self.give_up = give_up or threading.Event()     # a second Ctrl+C: stop waiting at once
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._follower: threading.Thread | None = None
        self._done = threading.Event()
        self.result: CollectedResult | None = None
        self.error: str | None = None
        self._watcher = Watcher(kube, pod_collection(namespace, job_uid), self._on_event, stop=self._stop)

    @property
    def triggered(self) -> bool:
        """Did a pod of the run get deleted while its results container ran?"""
        return self._follower is not None

    @property
    def read_nothing(self) -> bool:
        """The followed log ended cleanly without a result (the agent had nothing to export)."""
        return self._done.is_set() and self.result is None and self.error is None

    def start(self) -> TerminationCapture:
        self._watcher.start()
        return self

    def wait(self, timeout: float | None = None) -> CollectedResult | None:
        """The captured result, once the followed log ended (bounded; None if nothing was captured)."""
        if self._follower is None:
            return None
        budget = self.grace_seconds + FOLLOW_MARGIN_SECONDS if timeout is None else timeout
        step = 0.1
        waited = 0.0
        while not self._done.is_set() and not self.give_up.is_set() and waited < budget:
            self._done.wait(step)
            waited += step
        return self.result if self._done.is_set() else None

    def close(self) -> None:
        self._stop.set()
        self._watcher.shutdown()
        self._watcher.join(1.0)

    # --- internals -----------------------------------------------------------------------------

    def _on_event(self, event: WatchEvent) -> None:
        pods = event.items if event.type == "SYNC" else ((event.obj,) if event.obj is not None else ())
        for pod in pods:
            if pod.get("metadata", {}).get("deletionTimestamp") and results_container_ran(pod):
                self._follow(pod)

    def _follow(self, pod: dict[str, Any]) -> None:
        with self._lock:
            if self._follower is not None:
                return       # one pod per run (backoffLimit 0)
            name = pod["metadata"]["name"]
            self._follower = threading.Thread(target=self._read, args=(name,), name=f"capture:{name}", daemon=True)
            self._follower.start()

    def _missing(self, reason: str) -> None:
        # An agent that never started had no commits to lose; any other reason (it went quiet,
        # its export failed) means the commits made in the pod did not come back: say so.
        if not reason.startswith(NEVER_STARTED):
            self.error = reason

    def _read(self, pod_name: str) -> None:
        try:
            self.result = collect_result(self.kube, self.namespace, pod_name, self.spool_dir, follow=True,
                                         read_timeout=self.grace_seconds + FOLLOW_MARGIN_SECONDS,
                                         on_missing=self._missing)
        except (TransportError, ProdigyError) as exc:
            self.error = exc.message
        except Exception as exc:  # noqa: BLE001 - a dropped stream: report, the flow falls back
            self.error = str(exc) or type(exc).__name__
        finally:
            self._done.set()
