"""The results container when the pod is being deleted (SIGTERM): wait for a live agent's export, not a dead one's."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from prodigy.k8s.transport.framing import PREFIX
from prodigy.k8s.transport.pod import STOPPED_LINGER_SECONDS, emit_results
from prodigy.k8s.transport.results import HEARTBEAT_FILE, RESULT_FILE, wait_for_result


class FakeTime:
    def __init__(self, start: float) -> None:
        self.now = start

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_stopping_without_a_heartbeat_ends_at_once(tmp_path: Path) -> None:
    time = FakeTime(1000.0)

    missing = wait_for_result(tmp_path, clock=lambda: time.now, sleep=time.sleep, poll_seconds=1,
                              stopping=lambda: True)

    assert missing is not None and "never started" in missing
    assert time.now == 1000.0          # no waiting for a startup grace while the pod is being deleted


def test_stopping_with_a_live_agent_waits_for_its_export(tmp_path: Path) -> None:
    (tmp_path / HEARTBEAT_FILE).touch()
    time = FakeTime((tmp_path / HEARTBEAT_FILE).stat().st_mtime)

    def sleep(seconds: float) -> None:
        time.sleep(seconds)
        if time.now >= (tmp_path / HEARTBEAT_FILE).stat().st_mtime + 3:
            (tmp_path / RESULT_FILE).write_bytes(b"exported")    # the agent's export after SIGTERM

    assert wait_for_result(tmp_path, clock=lambda: time.now, sleep=sleep, poll_seconds=1, stopping=lambda: True) is None


def test_stopping_gives_up_on_a_silent_agent_sooner(tmp_path: Path) -> None:
    (tmp_path / HEARTBEAT_FILE).touch()
    time = FakeTime((tmp_path / HEARTBEAT_FILE).stat().st_mtime)

    missing = wait_for_result(tmp_path, clock=lambda: time.now, sleep=time.sleep, poll_seconds=1,
                              stale_after=20, stopping=lambda: True)

    assert missing is not None and "stopped without exporting" in missing
    assert time.now - (tmp_path / HEARTBEAT_FILE).stat().st_mtime < 20


def test_emit_results_survives_sigterm_and_prints_the_export(tmp_path: Path) -> None:
    (tmp_path / HEARTBEAT_FILE).touch()
    lines: list[str] = []
    previous = signal.getsignal(signal.SIGTERM)

    def agent_exports_after_sigterm() -> None:
        os.kill(os.getpid(), signal.SIGTERM)          # the kubelet signals every container at once
        (tmp_path / RESULT_FILE).write_bytes(b"the commits so far")

    threading.Timer(0.2, agent_exports_after_sigterm).start()
    lingered: list[float] = []
    assert emit_results(tmp_path, write=lines.append, linger=lingered.append) == 0

    assert lines[0] == f"{PREFIX} begin" and lines[-1].startswith(f"{PREFIX} end ")
    # The pod is going away: the container stays a while so a slow reader gets the last frame
    # before the kubelet deletes the exited container's log.
    assert lingered == [STOPPED_LINGER_SECONDS]
    assert signal.getsignal(signal.SIGTERM) == previous     # the handler was the command's, not the process's
