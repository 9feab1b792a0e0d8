"""What a MapReduce phase's pod hands back besides its commits, read as hostile data; and the
checks around it (the cluster's version, the run index's phases, the connections of streams)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from prodigy.errors import WorkflowFailed
from prodigy.k8s import runindex
from prodigy.k8s.mapreduce import reports
from prodigy.k8s.preflight import CheckStatus, server_version_check
from prodigy.k8s.streams import give_back, read_to_the_end
from prodigy.mapreduce import layout

from . import wire as w


def write(directory: Path, name: str, data: Any) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_text(data if isinstance(data, str) else json.dumps(data))
    return directory


def test_the_setup_report_gives_the_items_and_how_they_were_chosen(tmp_path: Path) -> None:
    state = write(tmp_path, layout.POD_SETUP_REPORT, {
        "items": [{"id": 1}, "two"], "lines": ["2 items from x.json", 7], "found": 3, "selected": 2,
        "source": "x.json", "captured": {"COUNT": "3"}})
    report = reports.setup_report(state)
    assert report.items == [{"id": 1}, "two"] and report.lines == ("2 items from x.json",)
    assert (report.found, report.selected, report.source, report.captured) == (3, 2, "x.json", {"COUNT": "3"})


@pytest.mark.parametrize("content", ["", "not json", json.dumps({"items": "no list"}), json.dumps([1, 2])])
def test_a_missing_or_malformed_setup_report_fails_the_phase_clearly(tmp_path: Path, content: str) -> None:
    state = write(tmp_path, layout.POD_SETUP_REPORT, content) if content else tmp_path
    with pytest.raises(WorkflowFailed, match="reported no work items"):
        reports.setup_report(state)


def test_the_agent_report_is_typed_and_bounded(tmp_path: Path) -> None:
    state = write(tmp_path, layout.POD_AGENT_REPORT, {
        "end": "failed", "error": "boom", "failed_step": ["not", "text"], "output": "x" * (200 * 1024),
        "duration": "fast"})
    report = reports.agent_report(state)
    assert report["error"] == "boom" and report["failed_step"] is None and report["duration"] == 0.0
    assert len(report["output"]) < 70 * 1024 and report["output"].endswith("(truncated)\n")
    assert reports.agent_report(tmp_path / "nothing") == {}


def test_a_failed_items_error_comes_from_its_report_else_its_pod() -> None:
    assert reports.failure_of({"error": "step x failed", "failed_step": "shell: x"}, None) == \
        ("step x failed", "shell: x")
    message = json.dumps({"status": "failed", "exit_code": 1, "error": "from the pod", "failed_step": "shell: y"})
    pod = w.pod("Failed", containers=[w.terminated(1, message=message)])
    assert reports.failure_of({}, pod) == ("from the pod", "shell: y")
    oom = w.pod("Failed", containers=[w.terminated(137, "OOMKilled")])
    assert reports.failure_of({}, oom)[0] == "the item's pod failed: Failed: OOMKilled (exit 137)"
    assert "gone" in reports.failure_of({}, None)[0]


@pytest.mark.parametrize("version, status", [
    ("v1.37.2", CheckStatus.OK), ("v1.29.0", CheckStatus.OK), ("v1.30.4-gke.1052000", CheckStatus.OK),
    ("v1.28.9", CheckStatus.FAILED), ("v1.21.0+k3s1", CheckStatus.FAILED), ("unknown", CheckStatus.OK)])
def test_preflight_says_when_the_cluster_is_too_old_for_the_map_job(version: str, status: CheckStatus) -> None:
    check = server_version_check(version, (1, 29), "MapReduce workflows")
    assert check.status is status
    if status is CheckStatus.FAILED:
        assert "older than v1.29" in check.detail and "without --cluster" in check.hint


def test_the_run_index_records_which_phase_of_which_session_a_job_ran(tmp_path: Path) -> None:
    index = tmp_path / "runs.jsonl"
    runindex.record_submitted(run_id="a" * 10, cluster="c", context=None, namespace="n", job="j-map",
                              workflow="notes", image="i", phase="map", session_id="session-1", path=index)
    runindex.record_submitted(run_id="b" * 10, cluster="c", context=None, namespace="n", job="j", workflow="w",
                              image="i", path=index)
    runs = runindex.join_runs(runindex.read_lines(index))
    assert [(r.phase, r.session_id) for r in runs] == [("map", "session-1"), ("", None)]


class FakeBody:
    def __init__(self, closed: bool) -> None:
        self.closed = closed

    def isclosed(self) -> bool:
        return self.closed


class FakeResponse:
    def __init__(self, *, ended: bool) -> None:
        self._fp: FakeBody | None = FakeBody(ended)
        self.calls: list[str] = []

    def close(self) -> None:
        self.calls.append("close")

    def release_conn(self) -> None:
        self.calls.append("release")


def test_a_stream_left_before_its_end_closes_its_connection_instead_of_reusing_it() -> None:
    unfinished, finished = FakeResponse(ended=False), FakeResponse(ended=True)
    give_back(unfinished)
    give_back(finished)
    assert unfinished.calls == ["close", "release"]      # a watch still streaming: never back into the pool
    assert finished.calls == ["release"]
    gone = FakeResponse(ended=False)
    gone._fp = None
    assert read_to_the_end(gone)
