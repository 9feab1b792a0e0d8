"""A ``mode: mapreduce`` workflow on a cluster: the CLI drives the phases, the cluster does the work.

Implements `prodigy.execution.Executor`, like the local MapReduce executor, and keeps the same
session state (`prodigy.mapreduce`: job.json, items.json, journal.jsonl, the dead-letter queue),
so the session ends, resumes and retries exactly as a local one:

    prepare   the cluster resolved; counts resolved; the workflow made shippable (its secrets
              to the run's Secret); connect + preflight (with the Kubernetes version the map
              Job needs) start on a thread. No side effect.
    start     preflight passed -> session branch + worktree (this machine), placed on the cluster
    follow    setup   one pod (`phase_pod`): setup's steps, then the items chosen there;
                      its commits land on the session branch, the items in the session's state
              map     ONE Indexed Job (`map_job`): an item per index, merged one at a time as
                      they arrive (a conflict resolved by Claude in a pod)
              reduce  one pod on the session's head, with `${map.*}`
    collect   the `ExecutionResult` the application layer finishes every session with
    cancel    delete every Job of the session that still exists (Ctrl+C)

A resumed session continues at its phase; a `dlq retry` (``retry=``) runs only the queued items.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import EXIT_FAILURE, EXIT_OK, ProdigyError, UsageError, WorkflowFailed
from prodigy.events import EventLog
from prodigy.execution import RunCancelled, RunEnd
from prodigy.k8s import trace
from prodigy.k8s.admission import run_containers
from prodigy.k8s.cancel import Interrupts, delete_run
from prodigy.k8s.clients import Kube
from prodigy.k8s.config.resolve import ClusterOverrides, ResolvedCluster
from prodigy.k8s.connect import connect_to, resolve
from prodigy.k8s.errors import KubeError
from prodigy.k8s.manifests.metadata import session_selector
from prodigy.k8s.manifests.pod import GIT_IDENTITY_VARS
from prodigy.k8s.mapreduce import reports
from prodigy.k8s.mapreduce.context import SessionContext
from prodigy.k8s.mapreduce.manifests import MIN_SERVER_MINOR
from prodigy.k8s.mapreduce.map_job import MapJob, MapJobOutcome
from prodigy.k8s.mapreduce.phase_pod import PhaseEnd, PhasePod, run_phase_pod
from prodigy.k8s.phases import Connection
from prodigy.k8s.preflight import preflight_or_raise
from prodigy.k8s.secrets import credentials_from_env
from prodigy.k8s.shipped_workflow import ShippedWorkflow, ship_mapreduce
from prodigy.k8s.submit import ObjectRef
from prodigy.k8s.transport.run import git_identity
from prodigy.mapreduce import layout
from prodigy.mapreduce.dlq import DeadLetter, DeadLetterStore
from prodigy.mapreduce.journal import ItemState, ItemStatus, JobHeader, JobStore, Phase
from prodigy.mapreduce.ledger import MapBook
from prodigy.mapreduce.limits import MODE_KEY, Limits, resolve_limits
from prodigy.mapreduce.request import MapReduceRequest
from prodigy.mapreduce.summary import announce_selection, enter_map, reduce_variables, report_map
from prodigy.repo import git, worktrees
from prodigy.repo.agents import agent_branch
from prodigy.repo.placement import ClusterPlacement, placement_extra
from prodigy.repo.worktrees import Session, SessionStatus
from prodigy.ui import format as fmt
from prodigy.ui.console import Console
from prodigy.ui.mapreduce_view import choose_view
from prodigy.workflow.mapreduce_plan import format_mapreduce_plan
from prodigy.workflow.result import ExecutionResult, ExecutionStatus

__all__ = ["ClusterMapReduceExecutor", "RetryPlan"]

NEEDS = "MapReduce workflows (Indexed Jobs with per-index retries)"


@dataclass(frozen=True)
class RetryPlan:
    """`prodigy dlq retry` of a cluster session: these queued items, in ``session`` if it is still
    there, else in a new session made from the original branch."""

    letters: tuple[DeadLetter, ...]
    owner: str                          # the session the queue belongs to
    session: Session | None


class ClusterMapReduceExecutor:
    def __init__(self, request: MapReduceRequest, cluster_name: str, overrides: ClusterOverrides, console: Console,
                 *, resume: Session | None = None, retry: RetryPlan | None = None,
                 max_parallel: int | None = None) -> None:
        self.request = request
        self.cluster_name = cluster_name
        self.overrides = overrides
        self.console = console
        self.interrupts = Interrupts()
        self.started = time.monotonic()
        self._resume = resume
        self._retry = retry
        self._max_parallel = max_parallel
        self._cluster: ResolvedCluster | None = None
        self._limits: Limits | None = None
        self._shipped: ShippedWorkflow | None = None
        self._credentials: dict[str, str] = {}
        self._connection: Connection | None = None
        self._kube: Kube | None = None
        self._ctx: SessionContext | None = None
        self._result: ExecutionResult | None = None
        self._problem: ProdigyError | None = None

    # ------------------------------------------------------------------ before any side effect

    def interruptible(self) -> AbstractContextManager[object]:
        return self.interrupts.installed()

    def prepare(self, *, dry_run: bool = False) -> None:
        request = self.request
        cluster = self._cluster = resolve(self.cluster_name, self.overrides)
        if cluster.repo.mode != "bundle":
            raise UsageError(f"cluster {cluster.name!r} ships repositories in {cluster.repo.mode} mode; MapReduce "
                             "workflows on a cluster use bundle mode (the repository in ConfigMaps) for now",
                             hint="use a cluster entry without `repo: {mode: remote}`, or run the workflow locally")
        self._limits = resolve_limits(request.workflow, request.environ).with_max_parallel(self._max_parallel)
        self._credentials = credentials_from_env(request.environ, provided_by_cluster=set(cluster.secrets))
        self._shipped = ship_mapreduce(request.text, request.workflow, source=str(request.workflow_path),
                                       credentials=self._credentials)
        trace.mark("planned (MapReduce workflow valid, cluster resolved)")
        if not dry_run:
            needs_secret = bool(self._credentials or self._shipped.secret_env)
            streams = self._limits.max_parallel if self.console.verbosity >= 1 else 0    # -v follows every agent
            self._connection = Connection.opening(lambda: connect_to(cluster, streams=streams),
                                                  lambda kube: _preflight(kube, cluster, needs_secret=needs_secret))

    def dry_run(self) -> str:
        cluster = self._cluster
        assert cluster is not None and self._limits is not None
        return "\n".join([
            format_mapreduce_plan(self.request.workflow),
            f"On cluster {cluster.name} (namespace {cluster.namespace}, image {cluster.image}):",
            "  setup      one Job with one pod: setup's steps, then the items are chosen",
            f"  map        one Indexed Job: a pod per item, up to {self._limits.max_parallel} at once",
            "  reduce     one Job with one pod, on the session's commit after the merges",
            "Nothing was created. `prodigy cook` of a standard workflow with --dry-run prints a Job's manifests."])

    # ------------------------------------------------------------------ the run

    def start(self) -> Session:
        assert self._connection is not None and self._cluster is not None and self._limits is not None
        assert self._shipped is not None
        kube = self._kube = self._connection.result()          # preflight passed
        if self.interrupts.requested.is_set():
            print("cancelled (nothing was submitted)", flush=True)
            raise RunCancelled(self.interrupts.exit_code)
        session = self._open_session(kube)
        request = self.request
        identity = {**git_identity(request.repo),
                    **{k: request.environ[k] for k in GIT_IDENTITY_VARS if request.environ.get(k)}}
        self._ctx = SessionContext(kube=kube, cluster=self._cluster, request=request, shipped=self._shipped,
                                   credentials=self._credentials, git_identity=identity, interrupts=self.interrupts,
                                   console=self.console, limits=self._limits, session=session, started=self.started)
        return session

    def _open_session(self, kube: Kube) -> Session:
        request, cluster = self.request, self._cluster
        assert cluster is not None
        placement = ClusterPlacement(cluster=cluster.name, namespace=cluster.namespace, job="", run_id="",
                                     base_sha="", repo_mode=cluster.repo.mode, context=kube.context)
        retry = self._retry
        target = retry.session if retry is not None else self._resume
        if target is not None:
            session = worktrees.update(target, status=SessionStatus.IN_PROGRESS)
            self._remove_leftover_jobs(kube, session)
            store = JobStore(layout.state_dir(session.id))
            header = store.load_header()
            if retry is None and header is not None:
                done = sum(1 for state in store.item_states(header.total) if state.finished)
                self.console.info(f"Resuming session: {session.id} on cluster {cluster.name}")
                self.console.info(f"Continuing the {header.phase.value} phase"
                                  + (f" ({done} of {header.total} items done)" if header.total else ""))
            elif retry is not None:
                self.console.info(f"Retrying {fmt.plural(len(retry.letters), 'item')} of {session.id} on cluster "
                                  f"{cluster.name}, in its worktree {session.path}")
            return session
        if request.uncommitted:
            self.console.warn(fmt.format_uncommitted_warning(request.repo, request.uncommitted))
        extra: dict[str, Any] = {MODE_KEY: "mapreduce", **placement_extra(placement)}
        if retry is not None:
            extra["retry_of"] = retry.owner
        session = worktrees.create_session(request.repo, original_branch=request.original_branch,
                                           workflow_path=request.workflow_path, run_args=request.args, extra=extra)
        self.console.info(f"Created worktree at: {session.path}")
        EventLog.for_session(paths.events_dir(), session.id).emit(
            "worktree_created", path=str(session.path), branch=session.branch,
            original_branch=session.metadata.original_branch, mode="mapreduce", cluster=cluster.name)
        if retry is not None:
            letters = retry.letters
            self.console.info(f"{retry.owner} was merged and removed; retrying its "
                              f"{fmt.plural(len(letters), 'failed item')} in a new session on cluster {cluster.name}")
            store = JobStore(layout.state_dir(session.id))
            store.save_items([letter.item for letter in letters])
            store.save_header(JobHeader(session.id, phase=Phase.MAP, map_base_sha=git.head_sha(session.path),
                                        total=len(letters), retry_of=retry.owner,
                                        selection=(f"{len(letters)} items from the dead-letter queue of "
                                                   f"{retry.owner}",),
                                        original_indexes=tuple(letter.index for letter in letters)))
        return session

    def _remove_leftover_jobs(self, kube: Kube, session: Session) -> None:
        """Jobs an earlier client of this session left running (it was killed): their items
        run again from the journal, so the old pods must not go on working beside them."""
        assert self._cluster is not None
        namespace = self._cluster.namespace
        try:
            listing = kube.request("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs",
                                   query=[("labelSelector", session_selector(session.id))], action="listing Jobs")
        except KubeError:
            return
        for job in listing.get("items") or ():
            name = str((job.get("metadata") or {}).get("name") or "")
            if name:
                self.console.info(f"deleting Job {name}, left by an earlier run of {session.id}")
                delete_run(kube, ObjectRef("Job", namespace, name), propagation="Background")

    def follow(self) -> None:
        ctx = self._ctx
        assert ctx is not None, "start() first"
        self._result = _Phases(ctx, self._retry).run()

    def collect(self) -> RunEnd:
        assert self._result is not None, "follow() first"
        return RunEnd(self._result)

    def cancel(self) -> None:
        if self._ctx is not None:
            self._ctx.delete_jobs()

    def close(self) -> None:
        if self._kube is not None:
            self._kube.close()
        elif self._connection is not None:
            self._connection.abandon()


def _preflight(kube: Kube, cluster: ResolvedCluster, *, needs_secret: bool) -> None:
    report = preflight_or_raise(kube, cluster.namespace, needs_secret=needs_secret,
                                image_pull_secrets=cluster.image_pull_secrets,
                                env_secrets=[ref.secret for ref in cluster.secrets.values()],
                                containers=run_containers(cluster), min_version=((1, MIN_SERVER_MINOR), NEEDS))
    for warning in report.warnings:   # a quota or LimitRange that will hold or refuse the pods
        print(f"[prodigy] warning: {warning.name} {warning.detail} (hint: {warning.hint})", file=sys.stderr,
              flush=True)


# ---------------------------------------------------------------------- the phases


@dataclass
class _Counts:
    done: int = 0
    total: int = 0


class _Phases:
    def __init__(self, ctx: SessionContext, retry: RetryPlan | None) -> None:
        self.ctx = ctx
        self.retry = retry
        self.session = ctx.session
        self.store = JobStore(layout.state_dir(ctx.session.id))
        self.events = EventLog.for_session(paths.events_dir(), ctx.session.id)
        self.counts = _Counts()

    def run(self) -> ExecutionResult:
        store = self.store
        header = store.load_header() or store.save_header(JobHeader(self.session.id))
        if self.retry is not None and self.retry.session is not None:
            return self._retry_in_session(header)
        if header.phase is Phase.SETUP:
            ended = self._setup(header)
            if isinstance(ended, ExecutionResult):
                return ended
            header = ended
        if header.phase is Phase.MAP:
            items = store.load_items()
            outcome = self._map(header, items, range(len(items)))
            self._count_items(outcome.states)
            stopped = self._map_ended(outcome, header)
            if stopped is not None:
                return stopped
            header = store.save_header(replace(header, phase=Phase.DONE if header.retry_of else Phase.REDUCE))
        else:
            self._count_items(store.item_states(header.total))
        if header.phase is Phase.REDUCE:
            ended_reduce = self._reduce(header)
            if ended_reduce is not None:
                return ended_reduce
            header = store.save_header(replace(header, phase=Phase.DONE))
        return self._result(ExecutionStatus.COMPLETED, EXIT_OK)

    # --- setup: one pod, which also chooses the items ---------------------------------------

    def _setup(self, header: JobHeader) -> JobHeader | ExecutionResult:
        ctx, session = self.ctx, self.session
        head = git.head_sha(session.path)
        assert head is not None
        args: tuple[str, ...] = ("--phase", "setup")
        if ctx.limits.setup_timeout:
            args += ("--timeout", str(ctx.limits.setup_timeout))
        steps = len(ctx.request.workflow.setup.steps) if ctx.request.workflow.setup else 0
        ctx.console.info(f"Setup phase ({fmt.plural(steps, 'step')}) in a pod on cluster {ctx.cluster.name}" if steps
                         else f"Choosing the work items in a pod on cluster {ctx.cluster.name}")
        with _shipped_state(self.store.directory, ("setup",)) as state:
            ended = run_phase_pod(ctx, PhasePod("setup", base_sha=head, agent_args=args, state=state,
                                                history_from=session.metadata.base_sha))
        try:
            _file_state(ended.state / "setup", self.store.directory / "setup")
            failed = self._phase_failed(ended, "setup")
            if failed is not None:
                return failed
            try:
                report = reports.setup_report(ended.state)
            except WorkflowFailed as error:
                return self._result(ExecutionStatus.FAILED, EXIT_FAILURE, error.message, "map input")
        finally:
            shutil.rmtree(ended.state.parent, ignore_errors=True)
        announce_selection(ctx.console, report.lines, found=report.found, selected=report.selected,
                           source=report.source)
        base = git.head_sha(session.path)
        assert base is not None
        self.events.emit("items_selected", found=report.found, selected=report.selected, source=report.source)
        return enter_map(self.store, header, report.items, report.lines, base=base, captured=report.captured)

    # --- map: one Indexed Job -------------------------------------------------------------------

    def _map(self, header: JobHeader, items: list[Any], indexes: Sequence[int], *,
             base: str | None = None) -> MapJobOutcome:
        ctx, session = self.ctx, self.session
        states = self.store.item_states(len(items))
        todo = [index for index in indexes if not states[index].finished]
        owner = header.retry_of or session.id
        dlq = DeadLetterStore.open(layout.dlq_file(session.repo, owner), session_id=owner, repo=session.repo,
                                   original_branch=session.metadata.original_branch,
                                   workflow_path=ctx.request.workflow.source, cluster=ctx.cluster.name,
                                   namespace=ctx.cluster.namespace)
        view = choose_view(ctx.console)
        book = MapBook(session=session, store=self.store, dlq=dlq, events=self.events, view=view,
                       policy=ctx.request.workflow.error_policy, items=items,
                       original_indexes=header.original_indexes)
        if base is not None:
            header = replace(header, map_base_sha=base)
        todo = [index for index in todo if not _merged_before_a_crash(book, index, states[index])]
        if not todo:
            return MapJobOutcome(self.store.item_states(len(items)))
        self.events.emit("map_phase_started", total=len(items), to_run=len(todo),
                         max_parallel=ctx.limits.max_parallel, cluster=ctx.cluster.name)
        return MapJob(ctx, self.store, header, items, todo, book, view).run()

    def _map_ended(self, outcome: MapJobOutcome, header: JobHeader) -> ExecutionResult | None:
        if outcome.interrupted is not None:
            return self._result(ExecutionStatus.INTERRUPTED, outcome.interrupted, "interrupted", "map phase")
        report_map(self.ctx.console, outcome.states, header, self.session.id)
        if outcome.problem is not None:
            return self._result(ExecutionStatus.FAILED, EXIT_FAILURE, outcome.problem.message, "map phase",
                                hint=outcome.problem.hint)
        if outcome.stop_reason is not None:
            return self._result(ExecutionStatus.FAILED, EXIT_FAILURE, f"Map phase stopped: {outcome.stop_reason}",
                                "map phase")
        return None

    def _retry_in_session(self, header: JobHeader) -> ExecutionResult:
        """`dlq retry` in a kept session: the queued items afresh, from the session's commit now."""
        assert self.retry is not None
        if header.phase is Phase.SETUP:
            raise UsageError(f"session {self.session.id} has not reached its map phase",
                             hint=f"prodigy resume {self.session.id}")
        items = self.store.load_items()
        indexes = [letter.index for letter in self.retry.letters if letter.index < header.total]
        for index in indexes:
            self.store.record("reset", index)
        outcome = self._map(header, items, indexes, base=git.head_sha(self.session.path))
        if outcome.interrupted is not None:
            return self._result(ExecutionStatus.INTERRUPTED, outcome.interrupted, "interrupted",
                                "map phase (dlq retry)")
        report_map(self.ctx.console, [outcome.states[index] for index in indexes], header, self.session.id)
        if outcome.problem is not None:
            return self._result(ExecutionStatus.FAILED, EXIT_FAILURE, outcome.problem.message,
                                "map phase (dlq retry)", hint=outcome.problem.hint)
        if header.phase is Phase.DONE:
            return self._result(ExecutionStatus.COMPLETED, EXIT_OK)
        return self._result(ExecutionStatus.FAILED, EXIT_FAILURE,
                            f"{self.session.id} stopped in its {header.phase.value} phase before this retry; resume "
                            "it to finish", f"{header.phase.value} phase")

    # --- reduce: one pod on the merged head -------------------------------------------------------

    def _reduce(self, header: JobHeader) -> ExecutionResult | None:
        ctx, session = self.ctx, self.session
        workflow = ctx.request.workflow
        if not workflow.reduce:
            return None
        variables = reduce_variables(header, self.store.item_states(header.total), self.store.load_items())
        head = git.head_sha(session.path)
        assert head is not None
        ctx.console.info(f"Reduce phase ({fmt.plural(len(workflow.reduce), 'step')}) in a pod on cluster "
                         f"{ctx.cluster.name}")
        with _shipped_state(self.store.directory, ("reduce",), {layout.POD_REDUCE_VARIABLES: variables}) as state:
            ended = run_phase_pod(ctx, PhasePod("reduce", base_sha=head, agent_args=("--phase", "reduce"),
                                                state=state, history_from=session.metadata.base_sha))
        try:
            _file_state(ended.state / "reduce", self.store.directory / "reduce")
            return self._phase_failed(ended, "reduce")
        finally:
            shutil.rmtree(ended.state.parent, ignore_errors=True)

    # --- results ------------------------------------------------------------------------------

    def _phase_failed(self, ended: PhaseEnd, phase: str) -> ExecutionResult | None:
        end = ended.end
        if end.result is not None:
            self.counts.done += end.result.steps_completed
            self.counts.total += end.result.steps_total
        if end.result is None:
            if end.interrupted is not None:
                return self._result(ExecutionStatus.INTERRUPTED, end.interrupted, "interrupted", f"{phase} phase")
            problem = end.problem
            return self._result(ExecutionStatus.FAILED, problem.exit_code if problem else EXIT_FAILURE,
                                problem.message if problem else f"the {phase} pod ended without a report",
                                f"{phase} phase", hint=problem.hint if problem else None)
        result = end.result
        if result.status is ExecutionStatus.COMPLETED:
            return None
        error = result.error or f"the {phase} phase failed"
        if end.problem is not None and result.exit_code not in (EXIT_OK, EXIT_FAILURE):
            error = f"{error} ({end.problem.message.splitlines()[0]})"
        return self._result(result.status, result.exit_code, error, result.failed_step or f"{phase} phase")

    def _count_items(self, states: Sequence[Any]) -> None:
        self.counts.done += sum(1 for state in states if state.finished)
        self.counts.total += len(states)

    def _result(self, status: ExecutionStatus, exit_code: int, error: str | None = None,
                failed_step: str | None = None, *, hint: str | None = None) -> ExecutionResult:
        if status is ExecutionStatus.INTERRUPTED:
            self.ctx.delete_jobs()        # Ctrl+C leaves no Job (nor pod) of the session behind
        session = self.session
        base, head = session.metadata.base_sha, git.head_sha(session.path)
        commits = tuple(c.sha for c in git.commits_between(session.path, base, head)) if base and head else ()
        files = tuple(git.files_changed(session.path, base, head)) if base and head else ()
        if error is not None and hint:
            error = f"{error}\nhint: {hint}"
        return ExecutionResult(status=status, exit_code=exit_code, steps_completed=self.counts.done,
                               steps_total=self.counts.total, steps_skipped=0,
                               duration=time.monotonic() - self.ctx.started, base_sha=base, head_sha=head,
                               commits=commits, files_changed=files, failed_step=failed_step, error=error)


def _merged_before_a_crash(book: MapBook, index: int, state: ItemState) -> bool:
    """An item whose branch is already in the session's history was merged by a client that died
    before it could write so in the journal: record it now instead of running it again."""
    session = book.session
    branch = agent_branch(session.id, book.number(index))
    if state.status is not ItemStatus.RUNNING or not git.branch_exists(session.repo, branch):
        return False
    if not git.is_ancestor(session.path, branch, "HEAD"):
        return False
    base = state.base_sha or session.metadata.base_sha or branch
    commits = [commit.sha for commit in git.commits_between(session.repo, base, branch)]
    book.succeeded(index, attempt=state.attempt, commits=commits, merged=True, output="", duration=0.0)
    return True


class _shipped_state:
    """A scratch state directory for a phase's pod: the phase's checkpoint from an earlier attempt
    (so a resumed setup or reduce continues at its step) and any files the pod needs."""

    def __init__(self, store_dir: Path, keep: Sequence[str], files: dict[str, Any] | None = None) -> None:
        self.store_dir, self.keep, self.files = store_dir, keep, files or {}
        self.path: Path | None = None

    def __enter__(self) -> Path | None:
        present = [name for name in self.keep if (self.store_dir / name).is_dir()]
        if not present and not self.files:
            return None
        self.path = Path(tempfile.mkdtemp(prefix="prodigy-state-"))
        for name in present:
            shutil.copytree(self.store_dir / name, self.path / name)
        for name, data in self.files.items():
            (self.path / name).write_text(json.dumps(data, default=str), encoding="utf-8")
        return self.path

    def __exit__(self, *exc: object) -> None:
        if self.path is not None:
            shutil.rmtree(self.path, ignore_errors=True)


def _file_state(source: Path, target: Path) -> None:
    """A phase pod's checkpoint replaces the session's copy (`prodigy resume` ships it back)."""
    if not source.is_dir():
        return
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target, symlinks=False)
