"""Supervising a submitted run until it is over: watch, stream logs, show status, decide.

One thread (the caller's, normally the main thread so signals arrive there) owns all state
and reads one inbox; watchers and signal handlers only put messages into it. That makes the
decisions sequential and easy to follow:

- Job and pod events update the state; each pod container that starts running gets a log
  follower (init containers included);
- the status line shows the phase and the pending reason (``diagnose.pod_phase_summary``);
- ``diagnose.diagnose`` classifies a pod that is not running yet and says when its grace
  window ends (image pull, unschedulable with autoscaler awareness, config errors); the
  supervisor wakes at that deadline, re-reads the events, and if the diagnosis is then
  terminal it fails the run and deletes the Job so nothing lingers;
- the run is over when the Job's conditions say so; then the log followers drain to the
  last line (bounded) and, on failure, the diagnosis is gathered and returned;
- a signal (``cancel.Interrupts``) deletes the run and waits, bounded, for its pods to go.

Time comes from an injected clock and every wait is ``inbox.get(timeout=...)``, so nothing
blocks without a deadline and tests need no real sleeping.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from prodigy.k8s.cancel import CANCEL_WAIT_SECONDS, Interrupts, delete_run
from prodigy.k8s.clients import Kube
from prodigy.k8s.errors import Forbidden, KubeError
from prodigy.k8s.logs import LogCut, LogFollower, LogSource, container_state
from prodigy.k8s.transport.podspec import QUIET_CONTAINERS
from prodigy.k8s.config.resolve import GraceWindows
from prodigy.k8s.diagnose import Diagnosis, diagnose, pod_phase_summary
from prodigy.k8s.render import format_pending
from prodigy.k8s.progress import JobEnd, JobVerdict, workload_started_ending, job_end
from prodigy.k8s.status import Display, format_status
from prodigy.k8s.submit import ObjectRef, SubmittedRun
from prodigy.k8s.watch import WatchEvent, Watcher, job_collection, pod_collection

DRAIN_SECONDS = 15.0      # after the Job is over, how long log followers may take to finish
TAIL_LINES = 20


class RunOutcome(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


@dataclass(frozen=True)
class SupervisionResult:
    outcome: RunOutcome
    reason: str = ""                 # short: DeadlineExceeded, ImagePullBackOff, step failed...
    job: dict[str, Any] | None = None
    pods: tuple[dict[str, Any], ...] = ()
    tails: dict[str, list[str]] = field(default_factory=dict)   # "pod/container" -> last lines
    stuck: Diagnosis | None = None  # a pending reason that outlived its grace window
    end: JobEnd | None = None
    signal_exit_code: int = 0
    leftovers: tuple[str, ...] = ()  # pods still terminating when a cancel stopped waiting


@dataclass(frozen=True)
class _Interrupt:
    signum: int


@dataclass(frozen=True)
class _FollowerDone:
    key: str


class Supervisor:
    def __init__(self, kube: Kube, run: SubmittedRun, display: Display, interrupts: Interrupts, *,
                 grace: GraceWindows, containers: int = 1, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 drain_seconds: float = DRAIN_SECONDS, cancel_wait_seconds: float = CANCEL_WAIT_SECONDS,
                 keep_on_failure: bool = False, log_cut: LogCut | None = None) -> None:
        self.kube = kube
        self.run_ref = run
        self.display = display
        self.interrupts = interrupts
        self.clock = clock
        self.drain_seconds = drain_seconds
        self.cancel_wait_seconds = cancel_wait_seconds
        self.keep_on_failure = keep_on_failure
        self.log_cut = log_cut       # attached to a running run: its output from then on (logs.LogCut)
        self.multi_container = containers > 1
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.grace = grace
        self.wall_clock = wall_clock
        self.events: list[dict[str, Any]] = []      # read on demand, at grace deadlines
        self.pending: Diagnosis | None = None
        self.job: dict[str, Any] | None = None
        self.job_deleted = False
        self.pods: dict[str, dict[str, Any]] = {}
        self.pods_listed = False                    # the pod watch's first list arrived
        self.followers: dict[str, LogFollower] = {}
        self.tails: dict[str, list[str]] = {}
        self.started = clock()
        self.watchers: list[Watcher] = []
        interrupts.set_notify(lambda signum: self.inbox.put(_Interrupt(signum)))

    # --- public ----------------------------------------------------------------------------

    def supervise(self) -> SupervisionResult:
        ns, name, uid = self.run_ref.namespace, self.run_ref.job_name, self.run_ref.job_uid
        self.watchers = [
            Watcher(self.kube, job_collection(ns, name), self.inbox.put, stop=self.stop),
            Watcher(self.kube, pod_collection(ns, uid), self.inbox.put, stop=self.stop),
        ]
        for w in self.watchers:
            w.start()
        try:
            if self.interrupts.requested.is_set():
                return self._cancel()
            return self._loop()
        finally:
            self._shutdown()

    # --- the loop -----------------------------------------------------------------------------

    def _loop(self) -> SupervisionResult:
        while True:
            timeout = self._next_timeout()
            try:
                message = self.inbox.get(timeout=timeout)
            except queue.Empty:
                message = None
            if isinstance(message, _Interrupt):
                return self._cancel()
            if isinstance(message, WatchEvent):
                error = self._apply(message)
                if error is not None:
                    raise error
            now = self.clock()
            self._refresh_status(now)
            end = job_end(self.job)
            # A Job seen already over (a client attaching to a finished run) is finished once its
            # pods are known too: their logs and the agent's report come from them.
            if end is not None and self.pods_listed:
                return self._finish(end)
            if self.job_deleted:
                return SupervisionResult(RunOutcome.FAILED, "the Job was deleted outside prodigy",
                                         job=self.job, pods=tuple(self.pods.values()))
            stuck = self._check_pending()
            if stuck is not None:
                return self._give_up(stuck)

    def _next_timeout(self) -> float:
        # Wake for the status line's elapsed counter and for the pending reason's deadline.
        timeout = 1.0
        if self.pending is not None and self.pending.deadline is not None:
            timeout = min(timeout, max(0.05, (self.pending.deadline - self.wall_clock()).total_seconds()))
        return timeout

    def _diagnose(self) -> Diagnosis | None:
        if self.job is None:
            return None
        return diagnose(self.job, list(self.pods.values()), self.events, self.tails, self.wall_clock(), self.grace)

    def _check_pending(self) -> Diagnosis | None:
        """A pod that is not running yet: stuck past its grace window? Once a pod or one of
        its main containers has ended, the Job's conditions decide the outcome instead."""
        if workload_started_ending(self.pods.values()):
            self.pending = None
            return None
        found = self._diagnose()
        if found is not None and found.terminal:
            # Before failing, re-read the events: a TriggeredScaleUp (autoscaler) or the first
            # pull failure's time may move the deadline.
            self._refresh_events()
            found = self._diagnose()
        self.pending = found
        return found if found is not None and found.terminal else None

    def _refresh_events(self) -> None:
        uids = [self.run_ref.job_uid, *self.pods]
        self.events = [e for uid in uids for e in list_events(self.kube, self.run_ref.namespace, uid)]

    def _apply(self, event: WatchEvent) -> KubeError | None:
        if event.type == "ERROR":
            assert event.error is not None
            return event.error
        if event.kind == "job":
            if event.type == "SYNC":
                self.job = event.items[0] if event.items else self.job
                self.job_deleted = not event.items and self.job is not None
            elif event.type == "DELETED":
                self.job_deleted = True
            elif event.obj is not None:
                self.job = event.obj
        else:
            if event.type == "SYNC":
                self.pods = {p["metadata"]["uid"]: p for p in event.items}
                self.pods_listed = True
            elif event.type == "DELETED" and event.obj is not None:
                self.pods.pop(event.obj["metadata"]["uid"], None)
            elif event.obj is not None:
                self.pods[event.obj["metadata"]["uid"]] = event.obj
            self._start_followers()
        return None

    def _refresh_status(self, now: float) -> None:
        pods = sorted(self.pods.values(), key=lambda p: p["metadata"].get("creationTimestamp") or "")
        if pods:
            phase = pod_phase_summary(pods[-1])
        elif self.job is not None and (self.job.get("spec") or {}).get("suspend"):
            phase = "Submitted"
        else:
            phase = "Waiting for the pod"
        detail = ""
        if self.pending is not None:
            # The diagnosis names the reason in words; the pod's waiting reason would repeat it.
            phase, detail = "Pending", format_pending(self.pending, self.wall_clock())
        self.display.status(format_status(self.run_ref.job_name, phase, detail, now - self.started))

    # --- logs ----------------------------------------------------------------------------------

    def _start_followers(self) -> None:
        for pod in self.pods.values():
            if len(self.pods) > 1:
                self.multi_container = True
            meta, spec = pod["metadata"], pod.get("spec") or {}
            for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
                cname = container["name"]
                if cname in QUIET_CONTAINERS:   # transport plumbing (base64 result frames), not workflow output
                    continue
                key = f"{meta['name']}/{cname}"
                if key in self.followers or container_state(pod, cname) not in ("running", "terminated"):
                    continue
                tail: list[str] = []
                self.tails[key] = tail
                source = LogSource(self.run_ref.namespace, meta["name"], cname,
                                   label=f"[{key}] " if self.multi_container else "")
                follower = LogFollower(self.kube, source, self._emitter(tail), stop=self.stop,
                                       on_error=self.display.info,
                                       after=self.log_cut.start_for(cname) if self.log_cut else None)
                self.followers[key] = follower
                follower.start()

    def _emitter(self, tail: list[str]) -> Callable[[str], None]:
        def emit(line: str) -> None:
            self.display.log(line)
            tail.append(line)
            if len(tail) > TAIL_LINES:
                del tail[0]
        return emit

    def _drain_logs(self, seconds: float) -> None:
        deadline = self.clock() + seconds
        # A container that started and ended between two pod events never had a follower.
        self._start_followers()
        for follower in list(self.followers.values()):
            follower.join(max(0.0, deadline - self.clock()))

    # --- endings -------------------------------------------------------------------------------

    def _finish(self, end: JobEnd) -> SupervisionResult:
        self._drain_logs(self.drain_seconds)
        outcome = RunOutcome.SUCCEEDED if end.verdict is JobVerdict.SUCCEEDED else RunOutcome.FAILED
        return SupervisionResult(outcome, end.reason, job=self.job, pods=tuple(self.pods.values()),
                                 tails=dict(self.tails), end=end)

    def _give_up(self, stuck: Diagnosis) -> SupervisionResult:
        """A pending reason outlived its grace window: report it and remove the Job."""
        if not self.keep_on_failure:
            delete_run(self.kube, ObjectRef("Job", self.run_ref.namespace, self.run_ref.job_name),
                       self.run_ref.owned, propagation="Background")
        return SupervisionResult(RunOutcome.FAILED, str(stuck.category), job=self.job,
                                 pods=tuple(self.pods.values()), tails=dict(self.tails), stuck=stuck)

    def _cancel(self) -> SupervisionResult:
        code = self.interrupts.exit_code
        self.display.info("cancelling: deleting the Job, its pods, ConfigMap and Secret…")
        delete_run(self.kube, ObjectRef("Job", self.run_ref.namespace, self.run_ref.job_name), self.run_ref.owned,
                   propagation="Foreground")
        deadline = self.clock() + self.cancel_wait_seconds
        while not self.interrupts.force.is_set():
            # Before the first list, "no pods" only means "not known yet" (a cancel requested
            # before supervision began): wait for it, so the pod's grace-period export is not missed.
            if self.pods_listed and not self.pods and (self.job_deleted or self.job is None):
                break
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            try:
                message = self.inbox.get(timeout=min(0.2, remaining))
            except queue.Empty:
                continue
            if isinstance(message, WatchEvent) and message.type != "ERROR":
                self._apply(message)
        leftovers = tuple(p["metadata"]["name"] for p in self.pods.values())
        return SupervisionResult(RunOutcome.CANCELLED, "cancelled", job=self.job, pods=tuple(self.pods.values()),
                                 signal_exit_code=code, leftovers=leftovers)

    def _shutdown(self) -> None:
        self.stop.set()
        threads: list[Watcher | LogFollower] = [*self.watchers, *self.followers.values()]
        for thread in threads:
            thread.shutdown()
        for thread in threads:
            thread.join(1.0)


def _event_time(event: dict[str, Any]) -> str:
    return str(event.get("lastTimestamp") or event.get("eventTime") or
               (event.get("metadata") or {}).get("creationTimestamp") or "")


def list_events(kube: Kube, namespace: str, uid: str) -> list[dict[str, Any]]:
    """Events about one object. Reading events is not a required permission: without it the
    diagnosis simply has no events."""
    try:
        listing = kube.request("GET", f"/api/v1/namespaces/{namespace}/events",
                               query=[("fieldSelector", f"involvedObject.uid={uid}")], action="reading events")
    except Forbidden:
        return []
    except KubeError:
        return []
    return list(listing.get("items") or [])
