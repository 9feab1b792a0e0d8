"""Commits out: pod export -> framed log lines -> verified import into the user's repository."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from prodigy.k8s.transport.checkout import materialize
from prodigy.k8s.transport.framing import PREFIX, decode_frames, encode_frames
from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.results import (
    RESULT_FILE, import_results, export_results, receive, wait_and_emit,
)
from prodigy.k8s.transport.spool import spool_commit

from .conftest import commit_all, run_git

BRANCH = "prodigy-session-abcd"


def pod_checkout(user_repo: Path, tmp_path: Path) -> tuple[str, Path]:
    base = run_git(user_repo, "rev-parse", "HEAD")
    spool_commit(user_repo, base, BRANCH, tmp_path / "chunks", max_bytes=64 << 20)
    pod = tmp_path / "pod" / "repo"
    materialize(tmp_path / "chunks", pod)
    return base, pod


def round_trip(pod: Path, tmp_path: Path, base: str, exit_code: int = 0, state: Path | None = None) -> list[str]:
    out = tmp_path / "pod" / "out"
    export_results(pod, base_sha=base, branch=BRANCH, exit_code=exit_code, out_dir=out, state_dir=state)
    lines: list[str] = []
    assert wait_and_emit(out, lines.append, sleep=lambda _: None)
    return lines


def make_pod_commits(pod: Path) -> None:
    (pod / "src" / "app.py").write_text("print('changed in the pod')\n")
    run_git(pod, "mv", "tool.sh", "renamed-tool.sh")
    (pod / "README.md").unlink()
    os.symlink("src/app.py", pod / "app-link")
    (pod / "payload.bin").write_bytes(os.urandom(100 * 1024))
    (pod / "script.sh").write_text("#!/bin/sh\n")
    (pod / "script.sh").chmod(0o755)
    commit_all(pod, "pod: edit, rename, delete, link, binary, mode")
    commit_all(pod, "pod: empty commit", allow_empty=True)


def test_commits_made_in_the_pod_arrive_with_identical_ids_and_trees(user_repo: Path, tmp_path: Path) -> None:
    base, pod = pod_checkout(user_repo, tmp_path)
    make_pod_commits(pod)
    state = tmp_path / "pod" / "state"
    (state / "checkpoints").mkdir(parents=True)
    (state / "checkpoints" / "run.checkpoint.json").write_text('{"status": "completed"}')

    lines = round_trip(pod, tmp_path, base, state=state)
    collected = receive(iter(lines), tmp_path / "cli")
    assert collected is not None
    local_state = tmp_path / "home" / "state" / "session-abcd"
    summary = import_results(user_repo, collected.path, expected_base=base, branch=BRANCH, state_dest=local_state)

    assert summary.commits == 2 and summary.exit_code == 0
    assert run_git(user_repo, "rev-parse", BRANCH) == run_git(pod, "rev-parse", "HEAD")
    assert run_git(user_repo, "log", "--format=%H %T %an <%ae> %s", f"{base}..{BRANCH}") == \
        run_git(pod, "log", "--format=%H %T %an <%ae> %s", f"{base}..HEAD")
    assert run_git(user_repo, "merge-base", "--is-ancestor", base, BRANCH) == ""
    assert run_git(user_repo, "rev-parse", "HEAD") == base  # the user's checkout is untouched
    assert (local_state / "checkpoints" / "run.checkpoint.json").read_text() == '{"status": "completed"}'


def test_a_failed_run_still_returns_its_partial_commits(user_repo: Path, tmp_path: Path) -> None:
    base, pod = pod_checkout(user_repo, tmp_path)
    (pod / "partial.txt").write_text("step 1 done\n")
    head = commit_all(pod, "step 1")

    collected = receive(iter(round_trip(pod, tmp_path, base, exit_code=1)), tmp_path / "cli")
    assert collected is not None
    summary = import_results(user_repo, collected.path, expected_base=base, branch=BRANCH, state_dest=None)

    assert summary.exit_code == 1
    assert run_git(user_repo, "rev-parse", BRANCH) == head


def test_no_commits_gives_a_branch_at_the_base(user_repo: Path, tmp_path: Path) -> None:
    base, pod = pod_checkout(user_repo, tmp_path)

    collected = receive(iter(round_trip(pod, tmp_path, base)), tmp_path / "cli")
    assert collected is not None
    summary = import_results(user_repo, collected.path, expected_base=base, branch=BRANCH, state_dest=None)

    assert summary.commits == 0 and summary.carried_by == "none"
    assert run_git(user_repo, "rev-parse", BRANCH) == base


def test_resumed_run_fast_forwards_the_checked_out_session_branch(user_repo: Path, tmp_path: Path) -> None:
    base, pod = pod_checkout(user_repo, tmp_path)
    commit_all(pod, "first run", allow_empty=True)
    first = receive(iter(round_trip(pod, tmp_path, base, exit_code=1)), tmp_path / "cli")
    assert first is not None
    import_results(user_repo, first.path, expected_base=base, branch=BRANCH, state_dest=None)
    worktree = tmp_path / "worktree"
    run_git(user_repo, "worktree", "add", "-q", str(worktree), BRANCH)

    # The resumed pod starts from the branch head, shipped the same way.
    resumed_base = run_git(user_repo, "rev-parse", BRANCH)
    spool_commit(user_repo, resumed_base, BRANCH, tmp_path / "chunks2", max_bytes=64 << 20, history_from=base)
    pod2 = tmp_path / "pod2"
    materialize(tmp_path / "chunks2", pod2)
    # The resumed pod sees the session's history from its first base, as a local resume would.
    assert run_git(pod2, "log", "--format=%s", f"{base}..HEAD") == "first run"
    assert run_git(pod2, "rev-list", "--count", "HEAD") == "2"
    (pod2 / "second.txt").write_text("resumed\n")
    head = commit_all(pod2, "resumed run")
    second = receive(iter(round_trip(pod2, tmp_path / "x", resumed_base)), tmp_path / "cli")
    assert second is not None
    import_results(user_repo, second.path, expected_base=resumed_base, branch=BRANCH, state_dest=None)

    assert run_git(worktree, "rev-parse", "HEAD") == head
    assert (worktree / "second.txt").read_text() == "resumed\n"


def test_result_for_another_base_is_refused(user_repo: Path, tmp_path: Path) -> None:
    base, pod = pod_checkout(user_repo, tmp_path)
    collected = receive(iter(round_trip(pod, tmp_path, base)), tmp_path / "cli")
    assert collected is not None
    with pytest.raises(TransportError, match="belongs to another run"):
        import_results(user_repo, collected.path, expected_base="0" * 40, branch=BRANCH, state_dest=None)


@pytest.mark.parametrize("damage", ["flip", "drop", "truncate"])
def test_damaged_stream_is_detected(damage: str) -> None:
    payload = os.urandom(20 * 1024)
    lines = list(encode_frames(io.BytesIO(payload)))
    if damage == "flip":
        head, seq, body = lines[2].rsplit(" ", 2)
        lines[2] = f"{head} {seq} {'A' if body[0] != 'A' else 'B'}{body[1:]}"
    elif damage == "drop":
        del lines[2]
    else:
        lines = lines[:-1]
    with pytest.raises(TransportError):
        decode_frames(lines, io.BytesIO())


def test_frames_survive_interleaved_log_noise_and_decode_exactly() -> None:
    payload = os.urandom(50 * 1024)
    lines = ["waiting for the agent", *encode_frames(io.BytesIO(payload)), "done"]
    sink = io.BytesIO()
    outcome = decode_frames(lines, sink)
    assert outcome.found and sink.getvalue() == payload
    assert all(len(line) < 16 * 1024 for line in lines)


def test_results_container_gives_up_when_the_agent_stops_beating(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "heartbeat").touch()
    beat = (out / "heartbeat").stat().st_mtime
    now = [beat]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    lines: list[str] = []
    printed = wait_and_emit(out, lines.append, clock=lambda: now[0], sleep=sleep, poll_seconds=1, stale_after=20)

    assert not printed
    assert lines[-1].startswith(f"{PREFIX} none ") and "stopped without exporting" in lines[-1]
    assert not (out / RESULT_FILE).exists()
    assert receive(iter(lines), tmp_path / "cli") is None
    heard: list[str] = []
    assert receive(iter(lines), tmp_path / "cli", on_missing=heard.append) is None
    assert len(heard) == 1 and "stopped without exporting" in heard[0]      # the CLI can say why
