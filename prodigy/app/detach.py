"""`prodigy cook WORKFLOW --cluster NAME --detach`: submit, say how to find the run, exit 0.

Everything up to a created Job is the attached run's own road (prepare: every input error,
exit 2, before any side effect; start: session branch + worktree + metadata naming the Job,
then the submission). Then the client leaves: the Job runs on, keeps its results until they are
collected (`prodigy.k8s.manifests.retention`), and `prodigy cluster attach` later finishes it
exactly as this process would have. No session lock is held, so that later client can take it.

Ctrl+C/SIGTERM during the submission still cancels it the attached way (nothing is left
behind), since the user asked to stop, not to leave.
"""

from __future__ import annotations

from prodigy import paths
from prodigy.app.finish import FinishPrefs, finish
from prodigy.errors import EXIT_OK
from prodigy.execution import Executor, RunCancelled
from prodigy.k8s.executor import ClusterExecutor, DetachedRun
from prodigy.repo.locks import session_lock
from prodigy.ui.console import Console
from prodigy.workflow.model import Workflow


def next_steps(run: DetachedRun) -> list[str]:
    """What the user sees when the client leaves: the ids, then the commands that use them."""
    commands = [
        ("prodigy cluster runs", "what your runs are doing"),
        (f"prodigy cluster logs {run.run_id} -f", "follow its output"),
        (f"prodigy cluster attach {run.run_id}", "follow it, then collect and merge it (-y: without asking)"),
        (f"prodigy cluster cancel {run.run_id}", "stop it; its commits so far stay on the session branch"),
    ]
    width = max(len(command) for command, _ in commands)
    return [
        f"Detached: run {run.run_id} runs as Job {run.job} on cluster {run.cluster} (namespace {run.namespace})",
        f"Session: {run.session_id}",
        *(f"  {command.ljust(width)}   {what}" for command, what in commands),
    ]


def drive_detached(executor: Executor, workflow: Workflow, prefs: FinishPrefs, console: Console) -> int:
    assert isinstance(executor, ClusterExecutor), "--detach runs on a cluster (checked before the executor)"
    if prefs.yes:
        console.warn("-y has no effect with --detach; pass it to `prodigy cluster attach RUN -y` to merge "
                     "without asking")
    with executor.interruptible():
        try:
            session = executor.start()
        except RunCancelled as cancelled:
            return cancelled.exit_code
        run = executor.detached()
        if run is None:
            # Ctrl+C/SIGTERM arrived while submitting: stop the run like an attached one.
            with session_lock(paths.state_dir(session.id), session.id):
                executor.follow()
                return finish(session, workflow, executor.collect(), prefs, console)
    for line in next_steps(run):
        console.outcome(line)
    return EXIT_OK
