"""`prodigy cluster cancel RUN|SESSION`: Ctrl+C for a run nobody follows.

The attached run's Ctrl+C path, driven by the run's own executor (`ClusterExecutor.existing`):
the Job is deleted with its pods (Foreground) and dependents; the pod's agent, stopped by
SIGTERM, exports the commits made so far and its checkpoint during its grace period, the
termination capture reads them before the pod is gone, and they land on the session branch.
The session is then marked interrupted and resumable (``prodigy resume SESSION``), exactly as
after Ctrl+C. Exit 0 once the run is cancelled.

A run that already finished is not cancelled (its results wait to be collected by `cluster
attach`); one that another process follows is refused (that process's Ctrl+C is the way).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from prodigy.app.existing import claim, find_cluster_session, reload, report_collected
from prodigy.app.finish import FinishPrefs, finish
from prodigy.errors import EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, UsageError
from prodigy.k8s.executor import ClusterExecutor
from prodigy.ui.console import Console


def cancel(name: str, *, verbosity: int = 0, environ: Mapping[str, str] | None = None) -> int:
    env = dict(os.environ if environ is None else environ)
    console = Console(verbosity)
    session, placement = find_cluster_session(name)
    with claim(session, placement):
        session, placement = reload(session, placement)
        if placement.collected:
            report_collected(session, placement, console)
            raise UsageError(f"run {placement.run_id} already ended; there is nothing to cancel")
        executor = ClusterExecutor.existing(session, placement, console)
        try:
            executor.prepare()
            ended = executor.ended
            if ended is not None:
                raise UsageError(f"run {placement.run_id} already finished ({ended.verdict.value}); there is "
                                 "nothing to cancel, and its results wait to be collected",
                                 hint=f"collect and merge it with `prodigy cluster attach {placement.run_id}`, or "
                                      f"discard it with `prodigy worktree clean -f {session.id}`")
            console.info(f"Cancelling run {placement.run_id} (Job {placement.job} on cluster {placement.cluster})")
            with executor.interruptible():
                executor.start()
                executor.cancel()
                executor.follow()
                end = executor.collect()
            code = finish(session, None, end, FinishPrefs(verbosity=verbosity, environ=env), console)
        finally:
            executor.close()
    # The run ended the Ctrl+C way, as asked: that is this command's success.
    return EXIT_OK if code in (EXIT_SIGINT, EXIT_SIGTERM) else code
