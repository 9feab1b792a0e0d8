"""Run a child process in its own process group, streaming its output while capturing it.

The child gets a new session (``start_new_session``), so a terminal Ctrl+C reaches prodigy
only; prodigy then ends the child's whole group (``sh -c`` plus everything it started).
The same happens on a timeout. Nothing is left running after `run_process` returns or raises.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from prodigy.local.process_scope import current_scope
from prodigy.local.signals import deferred

LineSink = Callable[[str], None]

# How long a group gets between SIGTERM and SIGKILL.
KILL_GRACE_SECONDS = 2.0
TIMEOUT_EXIT_CODE = -1


@dataclass(frozen=True)
class ProcessResult:
    exit_code: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False

    @property
    def success(self) -> bool:
        return self.exit_code == 0


def _pump(stream: IO[str], sink: LineSink | None, buffer: list[str]) -> None:
    for line in iter(stream.readline, ""):
        buffer.append(line)
        if sink is not None:
            sink(line)
    stream.close()


def terminate_group(proc: subprocess.Popen[str], grace: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is still there after `grace`."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
            # The leader is gone; stragglers in the group get the same signal once more.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            break
        except subprocess.TimeoutExpired:
            continue


def run_process(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str], timeout: float | None = None,
                on_stdout: LineSink | None = None, on_stderr: LineSink | None = None) -> ProcessResult:
    """Run `argv`, feeding each output line to the sinks as it arrives; stdin is empty.

    A timeout ends the group and returns exit code -1 with ``Command timed out after N seconds``
    appended to stderr (upstream's wording). Any exception raised while waiting (an interrupt
    turned into `Interrupted` by the signal handler) ends the group before it propagates.
    In a stopped `ProcessScope` (an agent thread told to stop), its stop error is raised instead
    of starting the child, or once the ended child's wait returns.
    """
    scope = current_scope()
    if scope is not None:
        scope.check()
    started = time.monotonic()
    out: list[str] = []
    err: list[str] = []
    proc: subprocess.Popen[str] | None = None
    timed_out = False
    try:
        # An interrupt must not land between fork and knowing the pid: the child would leak.
        with deferred():
            try:
                proc = subprocess.Popen(
                    list(argv), cwd=cwd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE, text=True, errors="replace", bufsize=1, start_new_session=True,
                )
            except (OSError, ValueError) as exc:
                # Nothing started (program or directory missing, arguments too long, a NUL byte):
                # that is this command's failure, reported like a shell's "command not found".
                return _not_started(argv, cwd, exc, time.monotonic() - started)
        if scope is not None:
            scope.add(proc)
        assert proc.stdout is not None and proc.stderr is not None
        pumps = [threading.Thread(target=_pump, args=(proc.stdout, on_stdout, out), daemon=True),
                 threading.Thread(target=_pump, args=(proc.stderr, on_stderr, err), daemon=True)]
        for pump in pumps:
            pump.start()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            terminate_group(proc)
    except BaseException:
        if proc is not None:
            terminate_group(proc)
        raise
    finally:
        if scope is not None and proc is not None:
            scope.discard(proc)
    if scope is not None:
        scope.check()
    for pump in pumps:
        # A grandchild that escaped the group could hold the pipe open; don't wait for it forever.
        pump.join(timeout=5.0)
    stderr = "".join(err)
    if timed_out:
        stderr += f"Command timed out after {timeout:g} seconds\n"
    return ProcessResult(
        exit_code=TIMEOUT_EXIT_CODE if timed_out else proc.returncode,
        stdout="".join(out), stderr=stderr, duration=time.monotonic() - started, timed_out=timed_out,
    )


NOT_STARTED_EXIT_CODE = 127


def _not_started(argv: Sequence[str], cwd: Path, exc: BaseException, duration: float) -> ProcessResult:
    if isinstance(exc, OSError):
        reason = exc.strerror or str(exc)
        if exc.errno == errno.E2BIG:
            reason += " (the command or its environment is too large; pass big values through a file)"
        elif isinstance(exc, FileNotFoundError) and not cwd.is_dir():
            reason = f"the directory {cwd} does not exist"
        elif isinstance(exc, FileNotFoundError):
            reason = f"{argv[0]}: command not found on PATH"
    else:
        reason = str(exc)
    return ProcessResult(NOT_STARTED_EXIT_CODE, "", f"prodigy: cannot start {argv[0]}: {reason}\n", duration)


def run_shell(command: str, *, cwd: Path, env: Mapping[str, str], timeout: float | None = None,
              on_stdout: LineSink | None = None, on_stderr: LineSink | None = None) -> ProcessResult:
    """`sh -c <command>` (upstream's shell step)."""
    return run_process(["sh", "-c", command], cwd=cwd, env=env, timeout=timeout,
                       on_stdout=on_stdout, on_stderr=on_stderr)
