"""The in-pod agent: the bounded termination summary, OOM-kill detection, and its heartbeat."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from prodigy.agent import MAX_SUMMARY_BYTES, oom_kills, summary_json


def test_summary_fits_the_termination_message_limit_keeping_status_and_exit_code() -> None:
    summary = {"status": "failed", "exit_code": 1, "failed_step": "shell: make", "error": "x" * 20_000,
               "head_sha": "a" * 40, "commits": 3}
    text = summary_json(summary)
    assert len(text.encode()) <= MAX_SUMMARY_BYTES
    data = json.loads(text)
    assert data["status"] == "failed" and data["exit_code"] == 1 and data["commits"] == 3
    assert data["error"].startswith("xxx") and data["error"].endswith("…")


def test_small_summaries_are_unchanged() -> None:
    summary = {"status": "completed", "exit_code": 0, "error": None}
    assert json.loads(summary_json(summary)) == summary


def test_oom_kills_are_read_from_cgroup_v1_and_v2(tmp_path: Path) -> None:
    v1 = tmp_path / "memory" / "pods" / "c1"
    v1.mkdir(parents=True)
    (v1 / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    assert oom_kills("4:memory:/pods/c1\n1:cpu:/\n", tmp_path) == 2
    v2 = tmp_path / "kubepods" / "c2"
    v2.mkdir(parents=True)
    (v2 / "memory.events").write_text("low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n")
    assert oom_kills("0::/kubepods/c2\n", tmp_path) == 1
    assert oom_kills("0::/nowhere\n", tmp_path) == 0
    assert oom_kills("", tmp_path) == 0


def test_the_heartbeat_lasts_until_the_export_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """After SIGTERM the results container waits only while the agent beats: a heartbeat that stopped
    before the export made a slow export (a loaded node) read as a dead agent, and the commits were lost."""
    import threading

    from prodigy import agent
    from prodigy.k8s.transport import podspec
    from prodigy.k8s.transport.pod import AgentSide
    from testing.repos import make_repo

    repo = make_repo(tmp_path / "repo")
    workflow = tmp_path / "wf.yml"
    workflow.write_text("- shell: echo hi\n")
    seen: list[bool] = []

    def export(self: AgentSide, exit_code: int, say: object = print) -> None:
        seen.append(any(t.name == "prodigy-heartbeat" and t.is_alive() for t in threading.enumerate()))

    monkeypatch.setattr(AgentSide, "export", export)
    env = {**os.environ, podspec.ENV_REPO_DIR: str(repo), podspec.ENV_BASE_SHA: "0" * 40,
           podspec.ENV_SESSION_BRANCH: "main", podspec.ENV_RESULTS_DIR: str(tmp_path / "out"),
           podspec.ENV_STATE_DIR: str(tmp_path / "state"), agent.TERMINATION_LOG_ENV: str(tmp_path / "term")}
    assert agent.execute(agent.AgentRequest(workflow_path=workflow), env) == 0
    assert seen == [True]
    assert not any(t.name == "prodigy-heartbeat" for t in threading.enumerate())   # and it ends after
