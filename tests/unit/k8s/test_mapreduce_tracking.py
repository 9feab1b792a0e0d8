"""What the map phase sees of its Indexed Job, as a pure function of the watched Job, pods and
events: which items to collect, which run, which pods were lost and retried, why items wait."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from prodigy.k8s.config.resolve import GraceWindows
from prodigy.k8s.diagnose import parse_time
from prodigy.k8s.mapreduce.tracking import (
    INDEX_LABEL,
    Collect,
    Lost,
    MapState,
    Running,
    absorb,
    decide,
    parse_indexes,
    pod_index,
)
from prodigy.k8s.watch import WatchEvent

from . import wire as w

T0 = parse_time(w.T0)
assert T0 is not None
GRACE = GraceWindows(image_pull_seconds=120, unschedulable_seconds=300)


def map_job(*, completed: str = "", failed: str = "", conditions: tuple[dict[str, Any], ...] = ()) -> dict[str, Any]:
    job = w.job(*conditions)
    job["spec"].update(completionMode="Indexed", completions=4, parallelism=2, backoffLimitPerIndex=3)
    if completed:
        job["status"]["completedIndexes"] = completed
    if failed:
        job["status"]["failedIndexes"] = failed
    return job


def index_pod(index: int, phase: str, *, suffix: str = "a", failures: int = 0, created: str = w.T0,
              containers: list[dict[str, Any]] | None = None, **kwargs: Any) -> dict[str, Any]:
    pod = w.pod(phase, name=f"{w.JOB}-{index}-{suffix}", created=created, containers=containers, **kwargs)
    pod["metadata"]["labels"][INDEX_LABEL] = str(index)
    pod["metadata"]["annotations"] = {INDEX_LABEL: str(index),
                                      "batch.kubernetes.io/job-index-failure-count": str(failures)}
    pod["spec"]["nodeName"] = "node-1"
    return pod


def feed(*events: WatchEvent, state: MapState | None = None, at: float = 10.0
         ) -> tuple[MapState, list[Any], Any]:
    state = state or MapState(completions=4)
    for event in events:
        state = absorb(state, event)
    assert T0 is not None
    return decide(state, T0 + timedelta(seconds=at), GRACE)


def job_event(job: dict[str, Any]) -> WatchEvent:
    return WatchEvent("job", "MODIFIED", obj=job)


def pods(*items: dict[str, Any]) -> WatchEvent:
    return WatchEvent("pods", "SYNC", items=items)


def test_index_ranges_are_read_as_the_job_controller_writes_them() -> None:
    assert parse_indexes("0-3,5,7-8") == {0, 1, 2, 3, 5, 7, 8}
    assert parse_indexes(None) == frozenset() and parse_indexes("") == frozenset()
    assert parse_indexes("x,2") == {2}


def test_a_running_pod_is_announced_once_with_its_node_and_attempt() -> None:
    state, actions, progress = feed(job_event(map_job()), pods(index_pod(1, "Running", containers=[w.running()])))
    assert actions == [Running(1, f"{w.JOB}-1-a", "node-1", 1)]
    assert progress.running == 1 and progress.pending == 3
    _, again, _ = feed(state=state)
    assert again == []


def test_a_succeeded_pod_is_collected_once_even_before_the_job_counts_it() -> None:
    done = index_pod(2, "Succeeded", containers=[w.terminated(0, "Completed")])
    state, actions, _ = feed(job_event(map_job()), pods(done))
    assert actions == [Running(2, f"{w.JOB}-2-a", "node-1", 1), Collect(2, f"{w.JOB}-2-a", True, 1)]
    _, again, _ = feed(job_event(map_job(completed="2")), state=state)
    assert again == []


def test_a_pod_lost_to_the_infrastructure_is_reported_when_the_job_starts_its_next_attempt() -> None:
    killed = index_pod(0, "Failed", containers=[w.terminated(143)], deleting=True)
    state, actions, _ = feed(job_event(map_job()), pods(killed))
    assert actions == [Running(0, f"{w.JOB}-0-a", "node-1", 1)]       # may still be the index's last failure
    retry = index_pod(0, "Running", suffix="b", failures=1, created="2026-11-27T09:31:00Z",
                      containers=[w.running()])
    state, actions, _ = feed(pods(killed, retry), state=state)
    assert [type(a) for a in actions] == [Running, Lost]
    assert actions[0] == Running(0, f"{w.JOB}-0-b", "node-1", 2)
    assert isinstance(actions[1], Lost) and actions[1].pod == f"{w.JOB}-0-a" and actions[1].attempt == 1
    assert actions[1].reason == "deleted"
    done = index_pod(0, "Succeeded", suffix="b", failures=1, created="2026-11-27T09:31:00Z",
                     containers=[w.terminated(0, "Completed")])
    _, actions, _ = feed(pods(killed, done), state=state)
    assert actions == [Collect(0, f"{w.JOB}-0-b", True, 2)]


def test_an_index_the_job_failed_is_collected_from_its_last_pod() -> None:
    failed = index_pod(3, "Failed", containers=[w.terminated(1)])
    state, actions, _ = feed(job_event(map_job()), pods(failed))
    assert not any(isinstance(a, Collect) for a in actions)      # the Job has not decided yet
    _, actions, _ = feed(job_event(map_job(failed="3")), state=state)
    assert actions == [Collect(3, f"{w.JOB}-3-a", False, 1)]


def test_a_failed_index_whose_pods_are_gone_is_still_collected() -> None:
    _, actions, _ = feed(job_event(map_job(failed="1")), pods())
    assert actions == [Collect(1, None, False)]


def test_the_phase_is_over_when_the_job_ended_and_every_finished_index_was_collected() -> None:
    ended = map_job(completed="0-2", failed="3",
                    conditions=(w.job_condition("Failed", "FailedIndexes", "Job has failed indexes"),))
    finished = [index_pod(i, "Succeeded", containers=[w.terminated(0, "Completed")]) for i in range(3)]
    state = absorb(absorb(MapState(completions=4), job_event(map_job())), pods(*finished))
    assert not state.over
    state = absorb(state, job_event(ended))
    assert not state.over                                          # nothing collected yet
    state, actions, _ = decide(state, T0 + timedelta(seconds=5), GRACE)
    assert sorted(a.job_index for a in actions if isinstance(a, Collect)) == [0, 1, 2, 3]
    assert state.over


def test_a_job_deleted_outside_prodigy_ends_the_phase() -> None:
    state = absorb(MapState(completions=4), job_event(map_job()))
    state = absorb(state, WatchEvent("job", "DELETED", obj=map_job()))
    assert state.job_gone and state.over


def test_pending_pods_say_why_they_wait_from_the_diagnosis() -> None:
    pulling = index_pod(0, "Pending", conditions=[w.scheduled()],
                        containers=[w.waiting("ImagePullBackOff", 'Back-off pulling image "prodigy-agent:dev"')])
    _, _, progress = feed(job_event(map_job()), pods(pulling), at=30)
    assert progress.pending == 4 and progress.running == 0
    assert "prodigy-agent:dev" in progress.waiting and "gives up in" in progress.waiting
    assert progress.stuck is None
    _, _, later = feed(job_event(map_job()), pods(pulling), at=200)
    assert later.stuck is not None                 # the image pull grace ran out: the phase gives up


def test_unschedulable_pods_are_counted_with_their_reason() -> None:
    waiting = [index_pod(i, "Pending", conditions=[w.unschedulable("0/3 nodes are available: 3 Insufficient cpu.")])
               for i in (0, 1)]
    _, _, progress = feed(job_event(map_job()), pods(*waiting))
    assert progress.waiting.startswith("2 no node has enough cpu")


def test_a_quota_refusing_more_pods_is_a_pending_reason_until_the_job_creates_one_again() -> None:
    running = index_pod(0, "Running", containers=[w.running()])
    refused = w.event("FailedCreate", 'Error creating: pods "x" is forbidden: exceeded quota: pods-2, requested: '
                      "pods=1, used: pods=2, limited: pods=2", kind="Job", name=w.JOB,
                      first="2026-11-27T09:30:05Z")
    created_before = w.event("SuccessfulCreate", "Created pod: x", kind="Job", name=w.JOB, type_="Normal")
    state, _, progress = feed(job_event(map_job()), pods(running),
                              WatchEvent("events", "SYNC", items=(created_before, refused)))
    assert "pods-2" in progress.waiting
    created_after = w.event("SuccessfulCreate", "Created pod: y", kind="Job", name=w.JOB, type_="Normal",
                            first="2026-11-27T09:30:08Z")
    _, _, progress = feed(WatchEvent("events", "ADDED", obj=created_after), state=state)
    assert "pods-2" not in progress.waiting


@pytest.mark.parametrize("labels, annotations, expected", [
    ({INDEX_LABEL: "7"}, {}, 7), ({}, {INDEX_LABEL: "3"}, 3), ({}, {}, None), ({INDEX_LABEL: "x"}, {}, None)])
def test_a_pods_index_comes_from_its_label_or_annotation(labels: dict[str, str], annotations: dict[str, str],
                                                         expected: int | None) -> None:
    assert pod_index({"metadata": {"labels": labels, "annotations": annotations}}) == expected


def test_the_pods_of_collected_items_are_forgotten_so_the_state_follows_only_running_ones() -> None:
    done = [index_pod(i, "Succeeded", containers=[w.terminated(0, "Completed")]) for i in (0, 1)]
    running = index_pod(2, "Running", containers=[w.running()])
    state, actions, _ = feed(job_event(map_job()), pods(*done, running))
    assert sorted(a.job_index for a in actions if isinstance(a, Collect)) == [0, 1]
    assert [pod_index(p) for p in state.pods.values()] == [2]
    # A late event about a collected pod changes nothing.
    _, again, _ = feed(WatchEvent("pods", "MODIFIED", obj=done[0]), state=state)
    assert again == []


def test_a_pod_deleted_outright_before_its_replacement_appears_is_still_reported_lost() -> None:
    first = index_pod(0, "Running", containers=[w.running()])
    state, _, _ = feed(job_event(map_job()), pods(first))
    state, actions, progress = feed(WatchEvent("pods", "DELETED", obj=first), state=state)
    assert actions == [] and progress.running == 0
    retry = index_pod(0, "Running", suffix="b", failures=1, created="2026-11-27T09:31:00Z", containers=[w.running()])
    _, actions, _ = feed(WatchEvent("pods", "ADDED", obj=retry), state=state)
    assert [(type(a).__name__, a.pod) for a in actions] == [("Running", f"{w.JOB}-0-b"), ("Lost", f"{w.JOB}-0-a")]
    assert isinstance(actions[1], Lost) and actions[1].reason == "deleted"
