"""MapReduce bookkeeping: the journal replay, the dead-letter queue file, stopping agents' processes,
and what the progress display prints."""

from __future__ import annotations

import io
import subprocess
import threading
from pathlib import Path

from prodigy.errors import Interrupted
from prodigy.mapreduce.dlq import DeadLetterStore
from prodigy.mapreduce.journal import ItemStatus, JobHeader, JobStore, Phase, replay
from prodigy.local.process_scope import ProcessScope, stop_all
from prodigy.local.shell import run_shell
from prodigy.ui.console import Console
from prodigy.ui.dlq_format import DlqRow, format_dlq_entry, format_dlq_table
from prodigy.ui.mapreduce_view import MapProgress, PlainView, RunningAgent, format_agent_line, format_status
from testing.waiting import eventually


def test_replay_folds_events_into_each_items_state() -> None:
    events = [
        {"event": "started", "index": 0, "attempt": 1, "base": "b0"},
        {"event": "step", "index": 0, "next_step": 1, "variables": {"x": 1}},
        {"event": "started", "index": 1, "attempt": 1, "base": "b0"},
        {"event": "succeeded", "index": 0, "merged": True, "commits": ["c1"], "output": "out", "duration": 1.5},
        {"event": "failed", "index": 1, "error": "boom", "step": "shell: x", "in_dlq": True},
        {"event": "started", "index": 2, "attempt": 1, "base": "b0"},
        {"event": "step", "index": 2, "next_step": 2, "variables": {"y": 2}},
        {"event": "interrupted", "index": 2, "next_step": 2},
        {"event": "reset", "index": 1},
        {"event": "succeeded", "index": 99},                 # not an item of this job: ignored
        {"event": "started", "index": "1"},                  # malformed: ignored
    ]
    first, second, third, fourth = replay(events, 4)
    assert first.status is ItemStatus.SUCCEEDED and first.merged and first.commits == ("c1",) and first.finished
    assert second.status is ItemStatus.PENDING and second.attempt == 1 and not second.finished
    assert third.status is ItemStatus.INTERRUPTED and third.next_step == 2 and third.variables == {"y": 2}
    assert third.base_sha == "b0"
    assert fourth.status is ItemStatus.PENDING


def test_job_store_round_trip_and_a_torn_last_line(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "mr")
    assert store.load_header() is None and store.load_items() == []
    header = store.save_header(JobHeader("session-x", Phase.MAP, "abc", 2, ("2 items from x",), {"V": 1},
                                         retry_of="session-y", original_indexes=(4, 7)))
    assert store.load_header() == header
    store.save_items([{"a": 1}, "b"])
    assert store.load_items() == [{"a": 1}, "b"]
    store.record("started", 1, attempt=1, base="abc")
    with store.journal_file.open("a") as journal:
        journal.write('{"event": "succeeded", "ind')            # a crash mid-write
    assert [state.status for state in store.item_states(2)] == [ItemStatus.PENDING, ItemStatus.RUNNING]


def test_dead_letter_store_keeps_every_failure_and_forgets_on_success(tmp_path: Path) -> None:
    path = tmp_path / "dlq" / "repo" / "session-x.json"
    store = DeadLetterStore.open(path, session_id="session-x", repo=tmp_path, original_branch="main",
                                 workflow_path=tmp_path / "wf.yml")
    for attempt in (1, 2):
        store.add_failure(item_id="item_3", index=3, item={"n": 3}, attempt=attempt, error=f"boom {attempt}",
                          step="shell: x", log=tmp_path / "item_3.log", worktree=None, branch=None)
    store.add_failure(item_id="item_5", index=5, item="five", attempt=1, error="bad\nsecond line", step=None,
                      log=None, worktree=tmp_path / "wt", branch="b")
    queue = DeadLetterStore.read(path)
    assert queue is not None and queue.original_branch == "main"
    letter = queue.items["item_3"]
    assert [failure.error for failure in letter.failures] == ["boom 1", "boom 2"] and letter.last.attempt == 2
    lines = format_dlq_table([DlqRow(item.item_id, len(item.failures), item.last.at, item.last.step, item.last.error)
                              for item in queue.items.values()])
    assert lines[0].split() == ["ITEM", "FAILURES", "LAST", "ATTEMPT", "FAILED", "AT", "ERROR"]
    assert lines[2].startswith("item_5") and lines[2].endswith("bad")
    entry = format_dlq_entry(queue.items["item_5"].to_json())
    assert entry[:3] == ["Item: item_5", "Data:", '  "five"'] and "    second line" in entry
    store.remove("item_3")
    reread = DeadLetterStore.read(path)
    assert reread is not None and list(reread.items) == ["item_5"]


def _alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stopping_scopes_ends_their_process_groups_and_later_runs_raise(tmp_path: Path) -> None:
    scopes = [ProcessScope(f"agent {n}") for n in range(2)]
    pid_files = [tmp_path / f"pid-{n}" for n in range(2)]
    errors: list[BaseException] = []

    def agent(scope: ProcessScope, pid_file: Path) -> None:
        with scope.active():
            try:
                run_shell(f"sleep 60 & echo $! > {pid_file}; wait", cwd=tmp_path, env={"PATH": "/usr/bin:/bin"})
            except Interrupted as error:
                errors.append(error)
            try:
                run_shell("true", cwd=tmp_path, env={})
            except Interrupted as error:
                errors.append(error)

    threads = [threading.Thread(target=agent, args=pair) for pair in zip(scopes, pid_files)]
    for thread in threads:
        thread.start()
    eventually(lambda: all(path.exists() and path.read_text().strip() for path in pid_files), timeout=30,
               what="both sleeps started")
    sleepers = [int(path.read_text()) for path in pid_files]
    stop_all(scopes, Interrupted("stop"), grace=5)
    for thread in threads:
        thread.join(timeout=30)
    assert len(errors) == 4 and all(str(error) == "stop" for error in errors)
    eventually(lambda: not any(_alive(pid) for pid in sleepers), timeout=10, what="the sleeps to end")


def test_a_scope_that_is_not_stopped_changes_nothing(tmp_path: Path) -> None:
    with ProcessScope("quiet").active():
        assert run_shell("echo hi", cwd=tmp_path, env={"PATH": "/usr/bin:/bin"}).stdout == "hi\n"


def test_plain_view_lines_and_status() -> None:
    out = io.StringIO()
    view = PlainView(Console(0, out=out, err=out))
    view.start(total=3, done=1, failed=0, max_parallel=2)
    view.agent_started("item_1", "name=b", 1)
    view.agent_step("item_1", 1, 2, "shell: make\nmore")
    view.agent_started("item_2", "name=c", 2)
    view.agent_finished("item_1", ok=True, detail="merged 1 commit in 0.1s")
    view.agent_finished("item_2", ok=False, detail="failed at shell: x: boom [bracket]")
    lines = out.getvalue().splitlines()
    assert lines == [
        "Map: 2 items to run, up to 2 agents at once (1 already done)",
        "[item_1] started: name=b",
        "[item_2] started (attempt 2): name=c",
        "[item_1] ✓ merged 1 commit in 0.1s  (2/3 items done · 1 running)",
        "[item_2] ✗ failed at shell: x: boom [bracket]  (3/3 items done · 0 running · 1 failed)",
    ]
    assert format_status(MapProgress(total=5, done=2, failed=1, running={})) == "2/5 items done · 0 running · 1 failed"
    line = format_agent_line(RunningAgent("item_4", "name=d", started=100.0, step="step 2/3: claude: /fix"), 161.5)
    assert line == "item_4  name=d  —  step 2/3: claude: /fix  (1m 02s)"
    assert len(format_agent_line(RunningAgent("item_4", "x" * 200, 0.0), 1.0, width=50)) == 50


def test_children_started_after_a_stop_are_ended_at_once(tmp_path: Path) -> None:
    scope = ProcessScope("late")
    child = subprocess.Popen(["sleep", "60"], start_new_session=True, text=True)
    scope.stop(Interrupted("stop"), grace=0.1)
    scope.add(child)                      # registered after the stop (the race add() closes)
    assert child.wait(timeout=10) != 0
