"""`prodigy cook|run WORKFLOW` and `prodigy exec`: one run, wherever it executes.

    read the workflow once -> check the inputs -> choose the executor -> prepare (every check,
    no side effect; --dry-run stops here) -> start -> follow -> collect -> finish

The same sequence runs a local run and a cluster run; `drive` is shared with `resume`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from typing import TextIO

from prodigy import paths
from prodigy.app.executors import executor_for
from prodigy.app.finish import FinishPrefs, finish
from prodigy.app.prepare import prepare_request, read_workflow
from prodigy.errors import EXIT_OK, UsageError
from prodigy.execution import Executor, RunCancelled
from prodigy.options import RunOptions
from prodigy.repo.locks import session_lock
from prodigy.ui.console import Console
from prodigy.workflow.mapreduce_loader import is_mapreduce_file
from prodigy.workflow.model import Workflow


def cook(options: RunOptions, *, console: Console | None = None, stdin: TextIO | None = None,
         environ: Mapping[str, str] | None = None) -> int:
    """The whole run; returns the exit code."""
    env = dict(os.environ if environ is None else environ)
    console = console or Console(options.verbosity)
    if options.detach:
        check_detach(options)
    if options.resume_session:
        if options.cluster:
            raise UsageError("--resume cannot be combined with --cluster",
                             hint="use `prodigy resume SESSION` for a session that ran on a cluster")
        from prodigy.app.resume import resume

        return resume(options.resume_session, options, console=console, stdin=stdin, environ=env)
    if is_mapreduce_file(options.workflow_path):
        from prodigy.app.mapreduce import cook_mapreduce

        return cook_mapreduce(options, console=console, stdin=stdin, environ=env)
    loaded = read_workflow(options.workflow_path, console)
    request = prepare_request(options, loaded, env)
    executor = executor_for(request, options, console)
    try:
        executor.prepare(dry_run=options.dry_run)
        if options.dry_run:
            console.outcome(executor.dry_run().rstrip("\n"))
            return EXIT_OK
        prefs = FinishPrefs(yes=options.yes, verbosity=options.verbosity, stdin=stdin, environ=env)
        if options.detach:
            from prodigy.app.detach import drive_detached

            return drive_detached(executor, loaded.workflow, prefs, console)
        return drive(executor, loaded.workflow, prefs, console)
    finally:
        executor.close()


def check_detach(options: RunOptions) -> None:
    """``--detach`` leaves a run without a client: only a cluster run can outlive the terminal."""
    if not options.cluster:
        raise UsageError("--detach needs --cluster NAME: a local run lives in this terminal",
                         hint="run it on a cluster (prodigy cook WORKFLOW --cluster NAME --detach), or drop --detach")
    if options.resume_session:
        raise UsageError("--detach cannot be combined with --resume",
                         hint="resume a cluster session with `prodigy resume SESSION`")


def drive(executor: Executor, workflow: Workflow | None, prefs: FinishPrefs, console: Console, *,
          locked: bool = False) -> int:
    """start -> follow -> collect -> finish, with Ctrl+C handled the executor's way and one
    process per session (a second `resume` of it is refused while this runs). ``locked``: the
    caller already holds the session's lock (resume takes it before it reads the session)."""
    with executor.interruptible():
        try:
            session = executor.start()
        except RunCancelled as cancelled:
            return cancelled.exit_code
        with contextlib.nullcontext() if locked else session_lock(paths.state_dir(session.id), session.id):
            executor.follow()
            end = executor.collect()
            return finish(session, workflow, end, prefs, console)
