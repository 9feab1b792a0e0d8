"""Report an unexpected exception: one line for the user, the traceback in a log file."""

from __future__ import annotations

import platform
import sys
import traceback
from datetime import datetime, timezone

import click

from prodigy import __version__
from prodigy.paths import prodigy_home


def report_crash(exc: BaseException, exit_code: int) -> int:
    log_dir = prodigy_home() / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    log = log_dir / f"crash-{stamp}.log"
    log.write_text(
        f"prodigy {__version__}\npython {sys.version}\nplatform {platform.platform()}\n"
        f"argv {sys.argv}\n\n" + "".join(traceback.format_exception(exc))
    )
    click.echo(f"Error: unexpected {type(exc).__name__}: {exc}", err=True)
    click.echo(f"hint: this is a bug in prodigy; the traceback is in {log}", err=True)
    return exit_code
