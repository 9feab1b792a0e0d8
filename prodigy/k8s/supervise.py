"""Supervising a submitted run until it is over: the imperative shell around ``supervision.decide``.

One thread (the caller's, normally the main thread so signals arrive there) owns the state and
reads one inbox; everything else only puts messages into it:

- watches of the Job, its pods, the Job's events and (when allowed) the pods' Nodes;
- a heartbeat that asks the API server for ``/version`` every few seconds, because a frozen
  server leaves every watch hanging silently;
- signal handlers (``cancel.Interrupts``).

Each message (or a ``Tick`` when nothing came in time) goes to ``supervision.decide.decide``,
which returns the new state, the status line and the actions to carry out here: start log
followers, read events or LimitRanges, watch a Node, or end the run (finish and drain the logs,
give up and delete the Job, cancel). Every wait is ``inbox.get(timeout=...)``, so nothing blocks
without a deadline, and time comes from injected clocks.
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
from prodigy.k8s.config.resolve import GraceWindows
from prodigy.k8s.diagnose import Diagnosis
from prodigy.k8s.errors import KubeError
from prodigy.k8s.logs import LogCut, LogFollower, LogSource, container_state
from prodigy.k8s.manifests.pod import TERMINATION_GRACE_SECONDS
from prodigy.k8s.progress import JobEnd, JobVerdict
from prodigy.k8s.status import Display
from prodigy.k8s.submit import ObjectRef, SubmittedRun
from prodigy.k8s.supervision import decide as core
from prodigy.k8s.transport.podspec import QUIET_CONTAINERS
from prodigy.k8s.watch import (
    WatchEvent,
    Watcher,
    event_collection,
    job_collection,
    node_collection,
    pod_collection,
)

DRAIN_SECONDS = 15.0      # after the Job is over, how long log followers may take to finish
TAIL_LINES = 20
HEARTBEAT_SECONDS = 3.0   # how often the API server is asked whether it still answers
HEARTBEAT_TIMEOUT = 5.0
# After the Job vanished: the pod's grace period to export, plus the API round trips.
PODS_GONE_WAIT_SECONDS = TERMINATION_GRACE_SECONDS + 10.0


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
    stuck: Diagnosis | None = None  # a pending reason or a lost node that outlived its grace window
    end: JobEnd | None = None
    signal_exit_code: int = 0
    leftovers: tuple[str, ...] = ()  # pods still terminating when a cancel stopped waiting
    job_deleted: bool = False        # the Job was deleted outside prodigy while it ran


class Heartbeat(threading.Thread):
    """Asks the API server for ``/version`` every few seconds; says when it stops or starts
    answering (as a watch does), since a frozen server leaves the watches hanging silently."""

    def __init__(self, kube: Kube, sink: Callable[[WatchEvent], None], stop: threading.Event, *,
                 every: float = HEARTBEAT_SECONDS, timeout: float = HEARTBEAT_TIMEOUT) -> None:
        super().__init__(name="watch:heartbeat", daemon=True)
        self.kube, self.sink, self.stop, self.every, self.timeout = kube, sink, stop, every, timeout

    def run(self) -> None:
        down = False
        while not self.stop.wait(self.every):
            try:
                self.kube.request("GET", "/version", read_timeout=self.timeout, action="checking the API server")
            except KubeError as exc:
                if not down and not self.stop.is_set():
                    down = True
                    self.sink(WatchEvent("api", "UNREACHABLE", error=exc))
                continue
            except Exception:  # noqa: BLE001 - a heartbeat never ends the run
                continue
            if down:
                down = False
                self.sink(WatchEvent("api", "REACHABLE"))

    def shutdown(self) -> None:
        pass


class Supervisor:
    def __init__(self, kube: Kube, run: SubmittedRun, display: Display, interrupts: Interrupts, *,
                 grace: GraceWindows, containers: int = 1, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
                 drain_seconds: float = DRAIN_SECONDS, cancel_wait_seconds: float = CANCEL_WAIT_SECONDS,
                 keep_on_failure: bool = False, pods_gone_wait_seconds: float = PODS_GONE_WAIT_SECONDS,
                 heartbeat_seconds: float = HEARTBEAT_SECONDS, log_cut: LogCut | None = None) -> None:
        self.kube = kube
        self.run_ref = run
        self.display = display
        self.interrupts = interrupts
        self.clock = clock
        self.wall_clock = wall_clock
        self.drain_seconds = drain_seconds
        self.cancel_wait_seconds = cancel_wait_seconds
        self.keep_on_failure = keep_on_failure
        self.heartbeat_seconds = heartbeat_seconds
        self.log_cut = log_cut       # attached to a running run: its output from then on (logs.LogCut)
        self.multi_container = containers > 1
        self.settings = core.Settings(job_name=run.job_name, namespace=run.namespace, grace=grace,
                                      pods_gone_wait_seconds=pods_gone_wait_seconds)
        self.inbox: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.state = core.initial_state(self._now())
        self.followers: dict[str, LogFollower] = {}
        self.tails: dict[str, list[str]] = {}
        self.watchers: list[Watcher | Heartbeat] = []
        interrupts.set_notify(lambda signum: self.inbox.put(core.Interrupt(signum)))

    # --- public ----------------------------------------------------------------------------

    def supervise(self) -> SupervisionResult:
        ns, uid = self.run_ref.namespace, self.run_ref.job_uid
        for collection in (job_collection(ns, self.run_ref.job_name), pod_collection(ns, uid),
                           event_collection(ns, uid)):
            self._watch(Watcher(self.kube, collection, self.inbox.put, stop=self.stop))
        self._watch(Heartbeat(self.kube, self.inbox.put, self.stop, every=self.heartbeat_seconds))
        try:
            if self.interrupts.requested.is_set():
                return self._cancel(self.interrupts.exit_code)
            return self._loop()
        finally:
            self._shutdown()

    # --- the loop -----------------------------------------------------------------------------

    def _now(self) -> core.Now:
        return core.Now(self.clock(), self.wall_clock())

    def _loop(self) -> SupervisionResult:
        wake_in = 0.0
        while True:
            try:
                message: core.Message = self.inbox.get(timeout=wake_in)
            except queue.Empty:
                message = core.Tick()
            decision = self._decide(message)
            ending = decision.ending
            if ending is not None:
                return self._end(ending)
            wake_in = decision.wake_in

    def _decide(self, message: core.Message) -> core.Decision:
        """One decision, and the actions that only gather more input, until none is left."""
        while True:
            decision = core.decide(self.state, message, self._now(), self.settings)
            self.state = decision.state
            if decision.status:
                self.display.status(decision.status)
            follow_up: core.Message | None = None
            for action in decision.actions:
                if isinstance(action, core.FollowLogs):
                    self._start_followers()
                elif isinstance(action, core.WatchNode):
                    self._watch(Watcher(self.kube, node_collection(action.name), self.inbox.put, stop=self.stop))
                elif isinstance(action, core.ReadEvents):
                    follow_up = core.EventsRead(tuple(
                        e for uid in action.uids for e in list_events(self.kube, self.run_ref.namespace, uid)))
                elif isinstance(action, core.ReadLimitRanges):
                    follow_up = core.LimitRangesRead(tuple(list_limit_ranges(self.kube, self.run_ref.namespace)))
            if follow_up is None or decision.ending is not None:
                return decision
            message = follow_up

    def _watch(self, watcher: Watcher | Heartbeat) -> None:
        self.watchers.append(watcher)
        watcher.start()

    # --- logs ----------------------------------------------------------------------------------

    def _start_followers(self) -> None:
        pods = self.state.pods
        for pod in pods.values():
            if len(pods) > 1:
                self.multi_container = True
            meta, spec = pod["metadata"], pod.get("spec") or {}
            for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
                cname = container["name"]
                if cname in QUIET_CONTAINERS:   # transport plumbing (base64 result frames), not workflow output
                    continue
                key = f"{meta['name']}/{cname}"
                if key in self.followers or container_state(dict(pod), cname) not in ("running", "terminated"):
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

    def _end(self, action: core.Action) -> SupervisionResult:
        if isinstance(action, core.Finish):
            return self._finish(action.end)
        if isinstance(action, core.GiveUp):
            return self._give_up(action.diagnosis)
        if isinstance(action, core.JobGone):
            self._drain_logs(self.drain_seconds)
            return SupervisionResult(RunOutcome.FAILED, action.reason, job=self._job(), pods=self._pods(),
                                     tails=dict(self.tails), job_deleted=True)
        if isinstance(action, core.Cancel):
            return self._cancel(self.interrupts.exit_code)
        assert isinstance(action, core.Abort)
        raise action.error

    def _pods(self) -> tuple[dict[str, Any], ...]:
        return tuple(dict(p) for p in self.state.pods.values())

    def _job(self) -> dict[str, Any] | None:
        return dict(self.state.job) if self.state.job is not None else None

    def _finish(self, end: JobEnd) -> SupervisionResult:
        self._drain_logs(self.drain_seconds)
        outcome = RunOutcome.SUCCEEDED if end.verdict is JobVerdict.SUCCEEDED else RunOutcome.FAILED
        return SupervisionResult(outcome, end.reason, job=self._job(), pods=self._pods(), tails=dict(self.tails),
                                 end=end)

    def _give_up(self, stuck: Diagnosis) -> SupervisionResult:
        """A pending reason or a lost node outlived its grace window: report it and remove the Job."""
        if not self.keep_on_failure:
            delete_run(self.kube, ObjectRef("Job", self.run_ref.namespace, self.run_ref.job_name),
                       self.run_ref.owned, propagation="Background")
        return SupervisionResult(RunOutcome.FAILED, str(stuck.category), job=self._job(), pods=self._pods(),
                                 tails=dict(self.tails), stuck=stuck)

    def _cancel(self, code: int) -> SupervisionResult:
        self.display.info("cancelling: deleting the Job, its pods, ConfigMap and Secret…")
        delete_run(self.kube, ObjectRef("Job", self.run_ref.namespace, self.run_ref.job_name), self.run_ref.owned,
                   propagation="Foreground")
        deadline = self.clock() + self.cancel_wait_seconds
        while not self.interrupts.force.is_set():
            # Before the first list, "no pods" only means "not known yet" (a cancel requested
            # before supervision began): wait for it, so the pod's grace-period export is not missed.
            if self.state.pods_listed and not self.state.pods and (
                    self.state.job_gone_at is not None or self.state.job is None):
                break
            remaining = deadline - self.clock()
            if remaining <= 0:
                break
            try:
                message = self.inbox.get(timeout=min(0.2, remaining))
            except queue.Empty:
                continue
            if isinstance(message, WatchEvent) and message.kind in ("job", "pods") and message.type != "ERROR":
                self.state, _ = core.absorb(self.state, message, self._now())
        leftovers = tuple(str(p["metadata"]["name"]) for p in self.state.pods.values())
        return SupervisionResult(RunOutcome.CANCELLED, "cancelled", job=self._job(), pods=self._pods(),
                                 signal_exit_code=code, leftovers=leftovers)

    def _shutdown(self) -> None:
        self.stop.set()
        threads: list[Watcher | Heartbeat | LogFollower] = [*self.watchers, *self.followers.values()]
        for thread in threads:
            thread.shutdown()
        for thread in threads:
            thread.join(1.0)


def list_limit_ranges(kube: Kube, namespace: str) -> list[dict[str, Any]]:
    """The namespace's LimitRanges, to name the one refusing a pod; empty when not readable."""
    try:
        listing = kube.request("GET", f"/api/v1/namespaces/{namespace}/limitranges", action="reading limit ranges")
    except KubeError:
        return []
    return list(listing.get("items") or [])


def list_events(kube: Kube, namespace: str, uid: str) -> list[dict[str, Any]]:
    """Events about one object. Reading events is not a required permission: without it the
    diagnosis simply has no events."""
    try:
        listing = kube.request("GET", f"/api/v1/namespaces/{namespace}/events",
                               query=[("fieldSelector", f"involvedObject.uid={uid}")], action="reading events")
    except KubeError:
        return []
    return list(listing.get("items") or [])
