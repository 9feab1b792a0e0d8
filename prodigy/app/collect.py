"""`prodigy cluster collect SESSION|RUN_ID`: land a finished cluster run and finish it.

For a cluster run whose client was killed after submission: while the finished Job still
exists, its commits and checkpoint come home and the session ends exactly as the run would
have (summary, merge or keep).
"""

from __future__ import annotations

import os
from pathlib import Path

from prodigy import paths
from prodigy.app.existing import find_cluster_session
from prodigy.app.finish import FinishPrefs, finish
from prodigy.app.prepare import read_workflow
from prodigy.errors import EXIT_OK, UsageError
from prodigy.mapreduce.limits import is_mapreduce_session
from prodigy.repo import worktrees
from prodigy.repo.locks import session_lock
from prodigy.repo.placement import placement_of
from prodigy.ui.console import Console


def collect(name: str, *, yes: bool = False, verbosity: int = 0) -> int:
    session, placement = find_cluster_session(name)
    console = Console(verbosity)
    with session_lock(paths.state_dir(session.id), session.id):
        session = worktrees.load_session(session.id)
        placement = placement_of(session) or placement
        if is_mapreduce_session(session):
            raise UsageError(f"session {session.id} is a MapReduce session: its items are collected as they finish, "
                             "by the command that runs it",
                             hint=f"continue it with `prodigy resume {session.id}`: the items not merged yet run again")
        if placement.collected:
            console.info(f"the results of Job {placement.job} were already collected into {session.branch}")
            return EXIT_OK
        if not session.metadata.workflow_path:
            raise UsageError(f"session {session.id} does not record its workflow file")
        from prodigy.k8s.executor import collect_finished   # here: `prodigy --help` never loads the k8s side

        end = collect_finished(session, placement, console)
        if end is None:
            raise UsageError(f"Job {placement.job} of session {session.id} no longer exists (its TTL expired or it "
                             "was deleted), so its commits cannot be collected",
                             hint=f"run the steps it did not finish again with `prodigy resume {session.id}`")
        loaded = read_workflow(Path(session.metadata.workflow_path), console)
        prefs = FinishPrefs(yes=yes, verbosity=verbosity, environ=dict(os.environ))
        return finish(session, loaded.workflow, end, prefs, console)
