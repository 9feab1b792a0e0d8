"""`prodigy cluster attach RUN|SESSION`: follow a run submitted earlier as if it never was detached.

The run's own executor does the work (`ClusterExecutor.existing`): its live Job and the
session's placement give back the submitted run, and the same follow -> collect -> finish as an
attached run ends it: live output from now on (``--history``: from its start), the status line,
Ctrl+C cancelling it with its commits kept, then the summary and the merge prompt (``-y``, the
``merge:`` block of the workflow text it was submitted with), or the kept worktree and
``Resume with:``. A run that already finished is collected and finished at once.

Only one client finishes a run (`prodigy.app.existing.claim`): a second attach is refused.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

from prodigy.app.existing import claim, find_cluster_session, reload, report_collected
from prodigy.app.finish import FinishPrefs
from prodigy.app.run import drive
from prodigy.errors import EXIT_OK, ProdigyError, WorkflowFileError
from prodigy.k8s.executor import ClusterExecutor
from prodigy.repo.placement import ClusterPlacement
from prodigy.repo.worktrees import Session
from prodigy.ui.console import Console
from prodigy.workflow.loader import parse_workflow
from prodigy.workflow.model import Workflow


def attach(name: str, *, yes: bool = False, verbosity: int = 0, history: bool = False, stdin: TextIO | None = None,
           environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    console = Console(verbosity)
    session, placement = find_cluster_session(name)
    with claim(session, placement):
        session, placement = reload(session, placement)
        if placement.collected:
            report_collected(session, placement, console)
            return EXIT_OK
        executor = ClusterExecutor.existing(session, placement, console, history=history)
        try:
            executor.prepare()
            workflow = submitted_workflow(executor.workflow_text(), session, console)
            prefs = FinishPrefs(yes=yes, verbosity=verbosity, stdin=stdin, environ=env)
            # From the banner on, Ctrl+C is the run's Ctrl+C (the banner says so).
            with executor.interruptible():
                console.info(_banner(executor, placement))
                return drive(executor, workflow, prefs, console, locked=True)
        finally:
            executor.close()


def _banner(executor: ClusterExecutor, placement: ClusterPlacement) -> str:
    where = f"run {placement.run_id} (Job {placement.job} on cluster {placement.cluster})"
    ended = executor.ended
    if ended is not None:
        return f"Collecting {where}: it {ended.verdict.value}"
    step = executor.current_step
    at = f", at step {step.describe(60)}" if step is not None else ""
    return (f"Attached to {where}{at}. Ctrl+C cancels the run and keeps its commits; "
            f"`prodigy cluster logs {placement.run_id} -f` only watches")


def submitted_workflow(text: str | None, session: Session, console: Console) -> Workflow | None:
    """The workflow a run was submitted with: the text its ConfigMap holds (the file may have been
    edited since, and its `merge:` block must be the one the run read), else the file."""
    path = Path(session.metadata.workflow_path or "workflow.yml")
    if text is not None:
        try:
            return parse_workflow(text, path).workflow
        except WorkflowFileError:
            pass
    try:
        return parse_workflow(path.read_text(encoding="utf-8"), path).workflow
    except (OSError, ProdigyError) as exc:
        why = exc.message if isinstance(exc, ProdigyError) else str(exc)
        console.warn(f"the workflow of session {session.id} cannot be read ({why.splitlines()[0]}); "
                     "a merge: block it has will not run")
        return None
