"""The in-pod agent's pure parts: the bounded termination summary and OOM-kill detection."""

from __future__ import annotations

import json
from pathlib import Path

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
