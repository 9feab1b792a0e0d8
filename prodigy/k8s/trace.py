"""Milestones of a cluster run on stderr, to see where its first second goes.

    PRODIGY_TRACE=1 prodigy cook workflow.yml --cluster NAME

    [trace]  0.420s (cpu  0.36s) main     planned (workflow valid, cluster resolved)
    [trace]  0.658s (cpu  0.58s) prewarm  client library imported
    ...

Times count from the start of the process (Linux: /proc/self/stat), so interpreter start-up
and imports are included, as a user experiences them; elsewhere from this module's import.
The CPU time (all threads) shows how much of the wall time was the interpreter's own work.
Off by default, and then ``mark`` costs one boolean test.
"""

from __future__ import annotations

import os
import sys
import threading
import time

ENV_VAR = "PRODIGY_TRACE"


def _process_start() -> float:
    """The process's start on the ``time.monotonic`` clock (CLOCK_MONOTONIC does not count
    suspend, so BOOTTIME is the clock /proc's start time is measured on)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        started_after_boot = int(fields[19]) / os.sysconf("SC_CLK_TCK")   # field 22: starttime
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - started_after_boot
        return time.monotonic() - max(0.0, age)
    except (OSError, ValueError, IndexError, AttributeError):
        return time.monotonic()


_enabled = bool(os.environ.get(ENV_VAR))
_origin = _process_start() if _enabled else 0.0


def enabled() -> bool:
    return _enabled


def mark(milestone: str) -> None:
    if not _enabled:
        return
    thread = threading.current_thread()
    who = "main" if thread is threading.main_thread() else thread.name.removeprefix("prodigy-")
    sys.stderr.write(f"[trace] {time.monotonic() - _origin:6.3f}s (cpu {time.process_time():5.2f}s) "
                     f"{who:<8} {milestone}\n")
    sys.stderr.flush()
