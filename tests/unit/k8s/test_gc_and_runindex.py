"""Which leftover Jobs gc deletes, and the run index as an append-only audit trail."""

from __future__ import annotations

import json
import multiprocessing
from datetime import UTC, datetime, timedelta
from pathlib import Path

from prodigy.k8s import runindex
from prodigy.k8s.gc import awaiting_collection_kept, parse_duration, select_leftovers

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def job(name: str, *, created: str, completed: str | None = None, condition: str | None = None,
        suspend: bool = False) -> dict[str, object]:
    status: dict[str, object] = {}
    if completed:
        status["completionTime"] = completed
    if condition:
        status["conditions"] = [{"type": condition, "status": "True", "lastTransitionTime": completed or created}]
    return {"metadata": {"name": name, "namespace": "ns", "creationTimestamp": created,
                         "labels": {"prodigy.io/run-id": name[-3:]}},
            "spec": {"suspend": suspend}, "status": status}


def test_finished_jobs_older_than_the_limit_are_selected_running_ones_are_not() -> None:
    jobs = [
        job("old-done", created="2026-11-27T09:00:00Z", completed="2026-11-27T09:30:00Z", condition="Complete"),
        job("new-done", created="2026-11-27T11:50:00Z", completed="2026-11-27T11:55:00Z", condition="Complete"),
        job("old-failed", created="2026-11-27T08:00:00Z", completed="2026-11-27T08:10:00Z", condition="Failed"),
        job("old-running", created="2026-11-27T08:00:00Z"),
        job("old-suspended", created="2026-11-27T08:00:00Z", suspend=True),
    ]
    chosen = select_leftovers(jobs, now=NOW, older_than=timedelta(hours=1))
    assert [c.name for c in chosen] == ["old-suspended", "old-failed", "old-done"]  # oldest first
    assert {c.state for c in chosen} == {"succeeded", "failed", "suspended"}
    everything = select_leftovers(jobs, now=NOW, older_than=timedelta(0), include_running=True)
    assert len(everything) == 5


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("1h") == timedelta(hours=1)
    assert parse_duration("2d") == timedelta(days=2)
    assert parse_duration("30") == timedelta(seconds=30)


def test_submitted_and_finished_records_join_and_bad_lines_are_skipped(tmp_path: Path) -> None:
    index = tmp_path / "runs.jsonl"
    runindex.record_submitted(run_id="aaaaaaaaaa", cluster="dev", context="ctx", namespace="ns", job="prodigy-x-a",
                              workflow="x", image="img", path=index)
    with index.open("a") as handle:
        handle.write("{torn line\n")
    runindex.record_submitted(run_id="bbbbbbbbbb", cluster="dev", context="ctx", namespace="ns", job="prodigy-x-b",
                              workflow="x", image="img", path=index)
    runindex.record_finished(run_id="aaaaaaaaaa", outcome=runindex.Outcome.SUCCEEDED, exit_code=0, path=index)
    runs = runindex.join_runs(runindex.read_lines(index))
    assert [(r.run_id, r.outcome, r.exit_code) for r in runs] == [("aaaaaaaaaa", "succeeded", 0),
                                                                  ("bbbbbbbbbb", None, None)]


def test_a_run_collected_later_gets_the_jobs_outcome_instead_of_unknown(tmp_path: Path) -> None:
    index = tmp_path / "runs.jsonl"
    for run_id in ("aaaaaaaaaa", "bbbbbbbbbb"):
        runindex.record_submitted(run_id=run_id, cluster="dev", context="ctx", namespace="ns", job=f"prodigy-{run_id}",
                                  workflow="x", image="img", path=index)
    done = job("prodigy-a", created="2026-11-27T09:00:00Z", completed="2026-11-27T09:30:00Z", condition="Complete")
    failed = job("prodigy-b", created="2026-11-27T09:00:00Z", condition="Failed")
    runindex.record_collected("aaaaaaaaaa", done, {"status": "completed", "exit_code": 0}, 0, path=index)
    runindex.record_collected("bbbbbbbbbb", failed, {"exit_code": 1, "error": "Step 'x' failed\nmore"}, 1, path=index)
    runs = {r.run_id: r for r in runindex.join_runs(runindex.read_lines(index))}
    assert (runs["aaaaaaaaaa"].outcome, runs["aaaaaaaaaa"].exit_code) == ("succeeded", 0)
    assert (runs["bbbbbbbbbb"].outcome, runs["bbbbbbbbbb"].reason) == ("failed", "Step 'x' failed (collected later)")


def test_a_runs_duration_comes_from_its_job() -> None:
    from prodigy.k8s.progress import job_duration

    done = job("j", created="2026-11-27T09:00:00Z", completed="2026-11-27T09:30:00Z", condition="Complete")
    done["status"]["startTime"] = "2026-11-27T09:00:05Z"   # type: ignore[index]
    assert job_duration(done) == 1795.0
    assert job_duration(job("j", created="2026-11-27T09:00:00Z")) is None


def _append_many(path: str, worker: int) -> None:
    for i in range(200):
        runindex.append({"event": "submitted", "run_id": f"w{worker}-{i}", "submitted_at": "t",
                         "padding": "x" * 1500}, path=Path(path))


def test_concurrent_writers_never_interleave_records(tmp_path: Path) -> None:
    index = tmp_path / "runs.jsonl"
    processes = [multiprocessing.Process(target=_append_many, args=(str(index), w)) for w in range(4)]
    for p in processes:
        p.start()
    for p in processes:
        p.join()
    lines = index.read_text().splitlines()
    assert len(lines) == 800
    assert len({json.loads(line)["run_id"] for line in lines}) == 800


def test_submitted_records_carry_the_session_repository_and_detachment(tmp_path: Path) -> None:
    index = tmp_path / "runs.jsonl"
    runindex.record_submitted(run_id="cccccccccc", cluster="dev", context=None, namespace="ns", job="j", workflow="w",
                              image="img", session_id="session-x", repo=Path("/src/app"), detached=True, path=index)
    runindex.record_submitted(run_id="dddddddddd", cluster="dev", context=None, namespace="ns", job="j", workflow="w",
                              image="img", path=index)
    detached, attached = runindex.join_runs(runindex.read_lines(index))
    assert (detached.session_id, detached.repo, detached.detached) == ("session-x", "/src/app", True)
    assert (attached.session_id, attached.repo, attached.detached) == (None, None, False)
    assert "detached" not in index.read_text().splitlines()[1]     # old readers see the same record as before


def detached_job(name: str, *, completed: str, collected: bool = False) -> dict[str, object]:
    made = job(name, created="2026-11-01T08:00:00Z", completed=completed, condition="Complete")
    annotations = {"prodigy.io/detached": "true", "prodigy.io/ttl-after-collect": "3600"}
    if collected:
        annotations["prodigy.io/collected-at"] = "2026-11-27T11:00:00Z"
    made["metadata"]["annotations"] = annotations  # type: ignore[index]
    return made


def test_a_detached_run_waiting_for_collection_is_kept_until_it_is_abandoned() -> None:
    jobs = [
        detached_job("week-old-uncollected-aaa", completed="2026-11-19T12:00:00Z"),
        detached_job("day-old-uncollected-bbb", completed="2026-11-26T12:00:00Z"),
        detached_job("day-old-collected-ccc", completed="2026-11-26T12:00:00Z", collected=True),
    ]
    chosen = select_leftovers(jobs, now=NOW, older_than=timedelta(hours=1), abandoned_after=timedelta(days=7))
    assert [(c.name, c.abandoned) for c in chosen] == [("week-old-uncollected-aaa", True),
                                                       ("day-old-collected-ccc", False)]
    assert chosen[0].describe() == ("job ns/week-old-uncollected-aaa (abandoned detached run aaa: succeeded 8d ago, "
                                    "never collected)")
    assert awaiting_collection_kept(jobs, chosen) == ["bbb"]
    everything = select_leftovers(jobs, now=NOW, older_than=timedelta(hours=1), abandoned_after=timedelta(0))
    assert len(everything) == 3 and awaiting_collection_kept(jobs, everything) == []


def test_abandoned_after_reads_like_older_than_and_names_its_flag() -> None:
    import pytest

    from prodigy.errors import UsageError

    assert parse_duration("7d", "--abandoned-after") == timedelta(days=7)
    with pytest.raises(UsageError, match="--abandoned-after: cannot read 'soon'"):
        parse_duration("soon", "--abandoned-after")
