"""A cluster run submitted earlier (``cook --detach``, or a client that died): find it and claim
it. Shared by attach, cancel, logs, runs and collect.

One client finishes a run. Whoever follows a run to its end (the submitting `cook`, `cluster
attach`, `cluster cancel`, `cluster collect`, `resume`) holds the session's lock
(`prodigy.repo.locks`, an flock the kernel drops when the process ends, however it ends) from
before it looks at the run until its finish is done; a second one is refused at once with the
holder's pid, before it reads or changes anything. So two clients attached to one run can never
both collect and merge it. Watching is free: `cluster logs -f` and `cluster runs` take no lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from prodigy import paths
from prodigy.errors import UsageError
from prodigy.k8s.runindex import RunRecord, join_runs, read_lines
from prodigy.repo import worktrees
from prodigy.repo.locks import SessionBusy, session_lock
from prodigy.repo.placement import ClusterPlacement, placement_of
from prodigy.repo.worktrees import Session, SessionStatus
from prodigy.ui.console import Console

RUNS_HINT = "`prodigy cluster runs` lists run ids (--all: of every repository); `prodigy worktree ls` lists sessions"


def find_cluster_session(name: str) -> tuple[Session, ClusterPlacement]:
    """A session by id, or the session whose cluster run has this run id."""
    if name.startswith(worktrees.SESSION_PREFIX):
        session = worktrees.load_session(name)
        placement = placement_of(session)
        if placement is None:
            raise UsageError(f"session {name} ran locally; there is no cluster run to work with")
        return session, placement
    for session, placement in placed_sessions():
        if placement.run_id == name:
            return session, placement
    raise UsageError(f"no cluster session or run id {name!r} is known here", hint=RUNS_HINT)


def placed_sessions() -> Iterator[tuple[Session, ClusterPlacement]]:
    """Every session that ran on a cluster, newest first, with its placement."""
    for session in worktrees.list_sessions():
        try:
            placement = placement_of(session)
        except UsageError:
            continue                    # an unreadable placement is reported where it is used
        if placement is not None:
            yield session, placement


def find_run(name: str) -> RunRecord:
    """A run by run id (the run index) or by session id (the session's current run)."""
    runs = {record.run_id: record for record in join_runs(read_lines())}
    run_id = name
    placement: ClusterPlacement | None = None
    if name.startswith(worktrees.SESSION_PREFIX):
        _, placement = find_cluster_session(name)
        run_id = placement.run_id
    if run_id in runs:
        return runs[run_id]
    if placement is None:
        placement = next((found for _, found in placed_sessions() if found.run_id == run_id), None)
    if placement is None:
        raise UsageError(f"no cluster run {name!r} is known here", hint=RUNS_HINT)
    return RunRecord(run_id=placement.run_id, cluster=placement.cluster, namespace=placement.namespace,
                     job=placement.job, workflow="", submitted_at="")


class RunClaimed(UsageError):
    """Another process follows this run and will finish it."""


@contextmanager
def claim(session: Session, placement: ClusterPlacement) -> Iterator[None]:
    """Become the one client that finishes this run, or be refused with who has it."""
    with ExitStack() as stack:
        try:
            stack.enter_context(session_lock(paths.state_dir(session.id), session.id))
        except SessionBusy as busy:
            who = f"process {busy.holder}" if busy.holder else "another process"
            stop = f"; or stop that process with kill -INT {busy.holder}" if busy.holder else ""
            raise RunClaimed(
                f"run {placement.run_id} (session {session.id}) is already attached: {who} follows it and will "
                "collect and merge it, and only one client may finish a run",
                hint=f"watch it without finishing it: prodigy cluster logs {placement.run_id} -f{stop}") from None
        yield


def reload(session: Session, placement: ClusterPlacement) -> tuple[Session, ClusterPlacement]:
    """The session as it is now that the lock is ours (the previous holder may have finished it)."""
    session = worktrees.load_session(session.id)
    return session, placement_of(session) or placement


def report_collected(session: Session, placement: ClusterPlacement, console: Console) -> None:
    """A run whose results are already home: say where, and what is left to do."""
    console.info(f"The results of run {placement.run_id} were already collected into {session.branch}")
    status = session.metadata.status
    if status is SessionStatus.COMPLETED:
        console.outcome(f"Merge them with: prodigy worktree merge {session.id}")
    elif status in (SessionStatus.FAILED, SessionStatus.INTERRUPTED, SessionStatus.IN_PROGRESS):
        console.outcome(f"Resume with: prodigy resume {session.id}")
