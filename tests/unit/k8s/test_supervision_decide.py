"""The supervisor's decisions as a pure function of (state, message, now): no cluster, no threads,
no sleeping. Each test feeds the messages the watches would deliver, moves an injected clock and
checks what a user would see (the status line) and what the supervisor does (the actions)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prodigy.k8s.config.resolve import GraceWindows
from prodigy.k8s.diagnose import Category, parse_time
from prodigy.k8s.errors import Forbidden, Unreachable
from prodigy.k8s.supervision import decide as core
from prodigy.k8s.watch import WatchEvent

from . import wire as w

T0 = parse_time(w.T0)
assert T0 is not None
GRACE = GraceWindows(image_pull_seconds=120, unschedulable_seconds=300, node_lost_seconds=60)
SETTINGS = core.Settings(job_name=w.JOB, namespace=w.NS, grace=GRACE, pods_gone_wait_seconds=40)
NODE = "node-1"


@dataclass
class Sim:
    """The supervisor's loop without its threads: one decision per message, at a chosen time."""

    seconds: float = 0.0
    state: core.State = field(default_factory=lambda: core.initial_state(core.Now(0.0, T0)))
    last: core.Decision | None = None

    def now(self) -> core.Now:
        assert T0 is not None
        return core.Now(self.seconds, T0 + timedelta(seconds=self.seconds))

    def feed(self, message: core.Message, *, at: float | None = None) -> core.Decision:
        if at is not None:
            self.seconds = at
        self.last = core.decide(self.state, message, self.now(), SETTINGS)
        self.state = self.last.state
        return self.last

    def tick(self, at: float) -> core.Decision:
        return self.feed(core.Tick(), at=at)


def job_sync(job: dict[str, Any] | None = None) -> WatchEvent:
    return WatchEvent("job", "SYNC", items=(job or w.job(),))


def pods(*items: dict[str, Any]) -> WatchEvent:
    return WatchEvent("pods", "SYNC", items=items)


def running_pod(*, ready: bool = True) -> dict[str, Any]:
    pod = w.pod("Running", containers=[w.running()], conditions=[w.scheduled(), {
        "type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": "2026-11-27T09:30:20Z"}])
    pod["spec"]["nodeName"] = NODE
    return pod


def node(ready: str = "True", since: str = "2026-11-27T09:30:30Z") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE},
            "status": {"conditions": [{"type": "Ready", "status": ready, "lastTransitionTime": since,
                                       "reason": "NodeStatusUnknown" if ready == "Unknown" else "KubeletReady",
                                       "message": "Kubelet stopped posting node status." if ready == "Unknown"
                                       else "kubelet is posting ready status"}]}}


def of(decision: core.Decision, kind: type) -> list[Any]:
    return [a for a in decision.actions if isinstance(a, kind)]


# --- the ordinary run ------------------------------------------------------------------------------


def test_a_run_follows_its_pods_logs_and_finishes_when_the_job_completes() -> None:
    sim = Sim()
    assert sim.feed(job_sync()).ending is None
    decision = sim.feed(pods(running_pod()), at=2)
    assert of(decision, core.FollowLogs) and of(decision, core.WatchNode) == [core.WatchNode(NODE)]
    assert decision.status == f"{w.JOB}: Running 2s"
    complete = w.job(w.job_condition("Complete", "CompletionsReached", "done"))
    ending = sim.feed(WatchEvent("job", "MODIFIED", obj=complete), at=5).ending
    assert isinstance(ending, core.Finish) and ending.end.reason == "CompletionsReached"


def test_a_signal_cancels_and_a_job_watch_that_fails_for_good_aborts() -> None:
    sim = Sim()
    sim.feed(job_sync())
    assert sim.feed(core.Interrupt(2)).ending == core.Cancel(2)
    denied = Forbidden("jobs is forbidden", status=403, reason="Forbidden")
    assert isinstance(Sim().feed(WatchEvent("job", "ERROR", error=denied)).ending, core.Abort)
    # Events and Nodes are optional: without the permission supervision goes on.
    sim = Sim()
    sim.feed(job_sync())
    assert sim.feed(WatchEvent("events", "ERROR", error=denied)).ending is None
    assert sim.feed(WatchEvent("node", "ERROR", error=denied)).ending is None


# --- no pod: the Job's FailedCreate events (issue 9: the supervisor never read them) ----------------


def failed_create(reason: str, first: str = w.T0) -> WatchEvent:
    message = f'Error creating: pods "{w.JOB}-x7k2p" is forbidden: {reason}'
    return WatchEvent("events", "ADDED", obj=w.event("FailedCreate", message, kind="Job", name=w.JOB, first=first))


def test_a_job_whose_pod_is_refused_shows_why_and_ends_within_seconds_when_waiting_cannot_help() -> None:
    sim = Sim()
    sim.feed(job_sync())
    assert sim.tick(1).status == f"{w.JOB}: Waiting for the pod 1s"
    refused = sim.feed(failed_create("ValidatingAdmissionPolicy 'no-agents' with binding 'b' denied request: "
                                     "no agents here"), at=2)
    assert refused.status == (f"{w.JOB}: Pending — ValidatingAdmissionPolicy no-agents refuses the pod: "
                              "no agents here, gives up in 8s 2s")
    assert 0.05 <= refused.wake_in <= 1.0
    assert sim.tick(9).ending is None
    # At the deadline the events are read again once before failing, in case they moved it.
    at_deadline = sim.tick(10)
    (read,) = of(at_deadline, core.ReadEvents)
    assert w.job()["metadata"]["uid"] in read.uids and at_deadline.ending is None
    ending = sim.feed(core.EventsRead(()), at=10).ending
    assert isinstance(ending, core.GiveUp)
    assert ending.diagnosis.category is Category.POD_CREATION_ADMISSION and ending.diagnosis.terminal


def test_a_used_up_quota_waits_the_unschedulable_grace_window() -> None:
    sim = Sim()
    sim.feed(job_sync())
    waiting = sim.feed(failed_create("exceeded quota: compute, requested: limits.cpu=2, used: limits.cpu=2, "
                                     "limited: limits.cpu=3"), at=1)
    assert "ResourceQuota compute has no room for the pod" in waiting.status and "gives up in 299s" in waiting.status
    assert sim.tick(200).ending is None
    assert of(sim.tick(300), core.ReadEvents)
    assert isinstance(sim.feed(core.EventsRead(()), at=300).ending, core.GiveUp)


def test_a_limit_range_refusal_reads_the_limit_ranges_once_to_name_the_one_refusing() -> None:
    sim = Sim()
    sim.feed(job_sync())
    decision = sim.feed(failed_create("maximum cpu usage per Container is 1, but limit is 2"), at=1)
    assert of(decision, core.ReadLimitRanges) == [core.ReadLimitRanges()]
    ranges = ({"metadata": {"name": "tiny"}, "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}},)
    named = sim.feed(core.LimitRangesRead(ranges), at=1)
    assert "LimitRange tiny allows at most 1 cpu per Container" in named.status
    assert not of(named, core.ReadLimitRanges) and not of(sim.tick(2), core.ReadLimitRanges)


def test_without_events_a_job_that_creates_no_pod_still_ends() -> None:
    sim = Sim()
    sim.feed(job_sync())
    sim.feed(WatchEvent("events", "ERROR", error=Forbidden("events is forbidden", status=403, reason="Forbidden")))
    assert "created no pod in 60s" in sim.tick(60).status
    assert of(sim.tick(300), core.ReadEvents)
    assert isinstance(sim.feed(core.EventsRead(()), at=300).ending, core.GiveUp)


# --- a running pod's node ------------------------------------------------------------------------------


def test_a_node_that_stops_responding_shows_on_the_status_line_and_the_run_ends_node_lost() -> None:
    sim = Sim()
    sim.feed(job_sync())
    sim.feed(pods(running_pod()), at=1)
    sim.feed(WatchEvent("node", "SYNC", items=(node(),)), at=2)
    assert sim.tick(29).status == f"{w.JOB}: Running 29s"
    lost = sim.feed(WatchEvent("node", "MODIFIED", obj=node("Unknown", since="2026-11-27T09:30:30Z")), at=31)
    assert lost.status == (f"{w.JOB}: Running — node {NODE} is not responding (Kubelet stopped posting node "
                           "status.), gives up in 59s 31s")
    assert sim.tick(89).ending is None
    ending = sim.tick(90).ending          # 60 s (node_lost_seconds) after the node's transition
    assert isinstance(ending, core.GiveUp)
    d = ending.diagnosis
    assert d.category is Category.NODE_LOST and d.pod == w.POD
    assert f"node {NODE} is not responding" in d.summary and "resume" in d.hint
    assert f"kubectl describe node {NODE}" in d.inspect


def test_a_node_that_comes_back_clears_the_status_line_and_the_run_goes_on() -> None:
    sim = Sim()
    sim.feed(job_sync())
    sim.feed(pods(running_pod()), at=1)
    sim.feed(WatchEvent("node", "SYNC", items=(node("Unknown"),)), at=40)
    back = sim.feed(WatchEvent("node", "MODIFIED", obj=node("True")), at=50)
    assert back.status == f"{w.JOB}: Running 50s"
    assert sim.tick(200).ending is None


def test_without_permission_to_read_nodes_the_pods_ready_condition_tells() -> None:
    sim = Sim()
    sim.feed(job_sync())
    sim.feed(pods(running_pod()), at=1)
    sim.feed(WatchEvent("node", "ERROR", error=Forbidden("nodes is forbidden", status=403, reason="Forbidden")), at=1)
    assert sim.tick(10).status == f"{w.JOB}: Running 10s"
    unready = sim.feed(pods(running_pod(ready=False)), at=30)     # the node controller's MarkPodsNotReady
    assert f"the pod was marked not ready: node {NODE} may have stopped responding" in unready.status
    assert not of(unready, core.WatchNode)
    assert isinstance(sim.tick(80).ending, core.GiveUp)            # 09:30:20 + 60 s


def test_an_eviction_is_named_on_the_status_line() -> None:
    sim = Sim()
    sim.feed(job_sync())
    pod = running_pod()
    pod["metadata"]["deletionTimestamp"] = "2026-11-27T09:31:00Z"
    pod["status"]["conditions"].append({"type": "DisruptionTarget", "status": "True",
                                        "reason": "EvictionByEvictionAPI", "message": "Eviction API: evicting"})
    assert sim.feed(pods(pod), at=3).status == f"{w.JOB}: Terminating — evicted: Eviction API: evicting 3s"


# --- the API server ------------------------------------------------------------------------------


def test_an_unreachable_api_server_is_shown_after_a_few_seconds_and_cleared_when_it_answers() -> None:
    sim = Sim()
    sim.feed(job_sync())
    sim.feed(pods(running_pod()), at=1)
    refused = Unreachable("connection refused")
    first = sim.feed(WatchEvent("pods", "UNREACHABLE", error=refused), at=10)
    assert first.status == f"{w.JOB}: Running 10s"      # a blip is not worth a word
    assert first.wake_in <= 5.0
    sim.feed(WatchEvent("api", "UNREACHABLE", error=refused), at=12)
    assert sim.tick(16).status == f"{w.JOB}: Running — API server unreachable for 6s, retrying (connection refused) 16s"
    sim.feed(WatchEvent("pods", "REACHABLE"), at=17)
    assert "unreachable for 8s" in sim.tick(18).status          # the heartbeat has not answered yet
    assert sim.feed(WatchEvent("api", "REACHABLE"), at=19).status == f"{w.JOB}: Running 19s"
    assert sim.state.pods and sim.last is not None and sim.last.ending is None


# --- the Job deleted by someone else (issue 9: the exported commits were lost) -----------------------


def test_a_job_deleted_outside_prodigy_waits_for_its_pod_to_hand_over_its_export() -> None:
    sim = Sim()
    sim.feed(job_sync())
    pod = running_pod()
    sim.feed(pods(pod), at=1)
    gone = sim.feed(WatchEvent("job", "DELETED", obj=w.job()), at=10)
    assert gone.ending is None
    assert "the Job was deleted outside prodigy; waiting for its pod to stop" in gone.status
    stopping = dict(pod, metadata={**pod["metadata"], "deletionTimestamp": "2026-11-27T09:30:11Z"})
    assert sim.feed(WatchEvent("pods", "MODIFIED", obj=stopping), at=11).ending is None
    ending = sim.feed(WatchEvent("pods", "DELETED", obj=stopping), at=25).ending
    assert ending == core.JobGone(f"Job {w.JOB} was deleted outside prodigy while the workflow ran")


def test_the_wait_for_a_deleted_jobs_pod_is_bounded() -> None:
    sim = Sim()
    sim.feed(job_sync())
    sim.feed(pods(running_pod()), at=1)
    sim.feed(WatchEvent("job", "SYNC", items=()), at=10)      # a re-list finds the Job gone
    assert sim.tick(49).ending is None
    assert isinstance(sim.tick(50).ending, core.JobGone)
