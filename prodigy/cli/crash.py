"""Report an unexpected exception: one line for the user, the traceback in a log file.

The reporter itself must never fail: it runs when something already went wrong, often because
the disk or PRODIGY_HOME is the problem. If the log cannot be written, the user gets the
traceback's last frame and the reason the log is missing instead. Workflow secrets loaded in
this process are masked in everything it prints or writes; the log is mode 0600 (argv may hold
``--args`` values).
"""

from __future__ import annotations

import os
import platform
import sys
import traceback
from datetime import datetime, timezone
from pathlib import Path

import click

from prodigy import __version__, redact
from prodigy.paths import prodigy_home


def _write_log(text: str) -> Path:
    log_dir = prodigy_home() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    log = log_dir / f"crash-{stamp}.log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8", errors="replace") as handle:
        handle.write(text)
    return log


def _last_frame(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "(no traceback)"
    frame = frames[-1]
    return f"{frame.filename}:{frame.lineno} in {frame.name}"


def report_crash(exc: BaseException, exit_code: int) -> int:
    try:
        mask = redact.known()
        try:
            details = "".join(traceback.format_exception(exc))
        except Exception:  # noqa: BLE001 - a broken __str__ must not hide the crash
            details = f"{type(exc).__name__} (its traceback could not be formatted)\n"
        summary = mask.text(f"{type(exc).__name__}: {_safe_str(exc)}")
        click.echo(f"Error: unexpected {summary}", err=True)
        try:
            log = _write_log(mask.text(f"prodigy {__version__}\npython {sys.version}\nplatform {platform.platform()}\n"
                                       f"argv {sys.argv}\n\n{details}"))
        except Exception as problem:  # noqa: BLE001 - the reporter never crashes
            reason = problem.strerror if isinstance(problem, OSError) and problem.strerror else _safe_str(problem)
            where = getattr(problem, "filename", None) or prodigy_home() / "logs"
            click.echo(f"hint: this is a bug in prodigy; it happened at {_last_frame(exc)}", err=True)
            click.echo(f"hint: the traceback could not be saved to {where}: {reason}", err=True)
        else:
            click.echo(f"hint: this is a bug in prodigy; the traceback is in {log}", err=True)
    except Exception:  # noqa: BLE001 - last resort: even the terminal may be gone
        try:
            sys.stderr.write(f"Error: unexpected {type(exc).__name__}\n")
        except Exception:  # noqa: BLE001
            pass
    return exit_code


def _safe_str(value: BaseException) -> str:
    try:
        return str(value)
    except Exception:  # noqa: BLE001
        return f"<{type(value).__name__}>"
