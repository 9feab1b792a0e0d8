"""The map phase on a cluster: ONE Indexed Job, every item merged into the session as it arrives.

    MapJob(ctx, store, header, items, indexes, book, view).run() -> MapJobOutcome

1. The items to run go into ConfigMaps (`items.plan_items`); the repository at the session's
   commit after setup ships once (the transport's chunks) and every index mounts both.
2. The Job is created suspended, its dependents owned by it, then resumed (`phases.submit`).
3. Three watches (the Job, its pods, the Job's events) feed one inbox; the pure core
   (`tracking.decide`) says what changed. There is no polling of pods: a pod's log is read
   once, after it ended (and followed while it runs only with ``-v``).
4. When an index ends, a collector thread reads its pod's two logs (the agent's, saved as the
   item's log; the results container's, the commits), lands the commits on the item's branch
   ``prodigy-agent-<session>-item_<N>`` and hands it to the shared ledger
   (`prodigy.mapreduce.ledger.MapBook`): merged into the session worktree one at a time,
   exactly as a local agent is; a failed index goes to the dead-letter queue with its error
   and its partial commits on its branch. A merge conflict is resolved by Claude in a pod of
   the cluster (`phase_pod`, phase ``merge``), so the user needs no Claude of their own.
5. Ctrl+C deletes the Job (and a merge pod in flight) with their pods, waits for them to go,
   keeps every item already merged, and the items that were running stay pending: `prodigy
   resume` runs a new Job with only the items not yet finished. The error policy's stop does
   the same without the interrupt.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prodigy.errors import GitError, Interrupted, ProdigyError, WorkflowFailed
from prodigy.execution import RunEnd
from prodigy.k8s import phases, runindex
from prodigy.k8s.cancel import CANCEL_WAIT_SECONDS, delete_run
from prodigy.k8s.diagnose import Diagnosis
from prodigy.k8s.errors import KubeError
from prodigy.k8s.logs import LogFollower, LogSource
from prodigy.k8s.manifests.contract import AGENT_CONTAINER
from prodigy.k8s.manifests.metadata import run_labels
from prodigy.k8s.mapreduce.context import SessionContext
from prodigy.k8s.mapreduce.items import ItemsError, plan_items
from prodigy.k8s.mapreduce.manifests import IndexPolicy, items_additions, map_job_objects
from prodigy.k8s.mapreduce import reports
from prodigy.k8s.mapreduce.phase_pod import PhasePod, run_phase_pod
from prodigy.k8s.mapreduce.tracking import Collect, Lost, MapState, Running, absorb, decide
from prodigy.k8s.names import new_run_id
from prodigy.k8s.phases import ClusterRun
from prodigy.k8s.render import format_diagnosis
from prodigy.k8s.streams import give_back
from prodigy.k8s.submit import ObjectRef, SubmittedRun
from prodigy.k8s.transport.cluster_io import collect_result
from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.results import import_results
from prodigy.k8s.transport.run import RunTransport
from prodigy.k8s.watch import WatchEvent, Watcher, event_collection, job_collection, pod_collection
from prodigy.mapreduce import layout
from prodigy.mapreduce.journal import ItemState, ItemStatus, JobHeader, JobStore
from prodigy.mapreduce.ledger import MapBook
from prodigy.mapreduce.merging import merge_agent
from prodigy.mapreduce.summary import arg_variables
from prodigy.repo import git
from prodigy.repo.agents import agent_branch, delete_branches
from prodigy.ui.console import Console
from prodigy.ui.format import plural
from prodigy.ui.mapreduce_view import MapView
from prodigy.workflow.mapreduce import ItemFailure
from prodigy.workflow.mapreduce_vars import item_label
from prodigy.workflow.result import ExecutionStatus

__all__ = ["MapJob", "MapJobOutcome"]

Obj = dict[str, Any]

TICK_SECONDS = 1.0                 # the live view's clock; also how soon a signal is noticed
COLLECTORS = 4                     # results read and landed at once (merges stay one at a time)
LOG_READ_TIMEOUT = 60.0


@dataclass(frozen=True)
class MapJobOutcome:
    states: list[ItemState]
    interrupted: int | None = None         # the exit code of a Ctrl+C / SIGTERM
    stop_reason: str | None = None         # the error policy stopped the phase
    problem: ProdigyError | None = None    # the cluster could not run the items (stuck, Job gone...)


@dataclass
class _Attempts:
    """Per item: the attempt the journal knew before this Job, the pod followed with -v."""

    before: dict[int, int] = field(default_factory=dict)
    followers: dict[int, LogFollower] = field(default_factory=dict)


class MapJob:
    def __init__(self, ctx: SessionContext, store: JobStore, header: JobHeader, items: Sequence[Any],
                 indexes: Sequence[int], book: MapBook, view: MapView) -> None:
        self.ctx = ctx
        self.store = store
        self.header = header
        self.items = items
        self.indexes = list(indexes)        # completion index i runs session item indexes[i]
        self.book = book
        self.view = view
        self.session = ctx.session
        assert header.map_base_sha is not None
        self.base = header.map_base_sha
        self.inbox: queue.SimpleQueue[WatchEvent | None] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.merge_lock = threading.Lock()
        self.done_branches: list[str] = []
        self.attempts = _Attempts()
        self.finished = 0
        self.failed = 0
        self._counts = threading.Lock()
        self.stop_reason: str | None = None
        self.verbose = ctx.console.verbosity >= 1

    # --- the phase ---------------------------------------------------------------------------------

    def run(self) -> MapJobOutcome:
        states = self.store.item_states(len(self.items))
        self.attempts.before = {index: states[index].attempt for index in self.indexes}
        finished = sum(1 for state in states if state.finished)
        failed = sum(1 for state in states if state.status is ItemStatus.FAILED)
        self.view.start(len(self.items), finished, failed, self.ctx.limits.max_parallel)
        try:
            outcome = self._run()
        finally:
            self.view.stop()
            delete_branches(self.session.repo, self.done_branches)
        return outcome

    def _run(self) -> MapJobOutcome:
        self._forget_old_branches()
        try:
            run, transport = self._plan()
        except ItemsError as error:
            return self._outcome(problem=WorkflowFailed(f"map phase: {error}",
                                                        hint="keep work items small: put large data in the "
                                                             "repository and name it in the item"))
        pool = ThreadPoolExecutor(max_workers=COLLECTORS, thread_name_prefix="prodigy-collect")
        watchers: list[Watcher] = []
        futures: list[Future[None]] = []
        try:
            submitted = self._submit(run, transport)
            if submitted is None:
                return self._outcome(interrupted=self.ctx.interrupts.exit_code)
            for collection in (job_collection(submitted.namespace, submitted.job_name),
                               pod_collection(submitted.namespace, submitted.job_uid),
                               event_collection(submitted.namespace, submitted.job_uid)):
                watcher = Watcher(self.ctx.kube, collection, self.inbox.put, stop=self.stop)
                watchers.append(watcher)
                watcher.start()
            return self._follow(run, submitted, pool, futures)
        finally:
            self.stop.set()
            for watcher in watchers:
                watcher.shutdown()
            for follower in self.attempts.followers.values():
                follower.shutdown()
            pool.shutdown(wait=True)
            for watcher in watchers:
                watcher.join(1.0)
            transport.close()
            self.ctx.job_ended(run.job_name)

    def _outcome(self, *, interrupted: int | None = None, problem: ProdigyError | None = None) -> MapJobOutcome:
        return MapJobOutcome(self.store.item_states(len(self.items)), interrupted, self.stop_reason, problem)

    def _forget_old_branches(self) -> None:
        """An item runs afresh: a branch its earlier failed attempt left (kept for inspection,
        named in the dead-letter queue) is replaced by the new one. So every branch this Job
        lands is new, made of commits no earlier merge can contain: merging it needs no check
        that it is merged already (a branch merged before a crash is found before the Job)."""
        stale = [branch for index in self.indexes
                 if git.branch_exists(self.session.repo, branch := agent_branch(self.session.id,
                                                                                self.book.number(index)))]
        if stale:
            with git.locked(self.session.repo, "removing agent branches of a retried map phase"):
                delete_branches(self.session.repo, stale)

    def _plan(self) -> tuple[ClusterRun, RunTransport]:
        ctx, header = self.ctx, self.header
        numbers = [self.book.number(index) for index in self.indexes]
        plan = plan_items([self.items[index] for index in self.indexes], numbers, total=len(self.items),
                          variables={**arg_variables(ctx.request.args), **header.setup_variables})
        run_id = new_run_id()
        first = self.session.metadata.base_sha
        transport = RunTransport.prepare(ctx.request.repo, ctx.cluster, run_id=run_id, session_id=self.session.id,
                                         base_sha=self.base,
                                         history_from=first if first and first != self.base else None)
        try:
            args: tuple[str, ...] = ("--phase", "map")
            if ctx.limits.agent_timeout:
                args += ("--timeout", str(ctx.limits.agent_timeout))
            inputs = ctx.inputs(phase="map", run_id=run_id, base_sha=self.base, agent_args=args).with_additions(
                transport.additions + items_additions(run_id, plan))
            policy = ctx.request.workflow.error_policy
            objects = map_job_objects(inputs, completions=len(self.indexes), parallelism=ctx.limits.max_parallel,
                                      policy=IndexPolicy(policy.on_item_failure is not ItemFailure.RETRY,
                                                         policy.attempts_per_item()))
        except BaseException:
            transport.close()
            raise
        ctx.console.detail(f"map Job: {plural(len(self.indexes), 'item')}, items {plan.total_bytes} bytes in "
                           f"{len(plan.chunks) + 1} ConfigMap(s), {transport.describe()}")
        return ClusterRun(ctx.cluster, inputs, objects, ctx.request.workflow.name, ctx.request.repo), transport

    def _submit(self, run: ClusterRun, transport: RunTransport) -> SubmittedRun | None:
        ctx = self.ctx

        def upload(name: str, uid: str) -> None:
            ctx.job_started(name, run.run_id, self.base)
            transport.upload(ctx.kube, namespace=run.cluster.namespace, job_name=name, job_uid=uid,
                             labels=run_labels(run.inputs.identity))

        if ctx.interrupts.requested.is_set():
            return None
        return phases.submit(ctx.kube, run, _ViewDisplay(self.view), ctx.interrupts, on_job_created=upload)

    # --- following the Job ------------------------------------------------------------------------

    def _follow(self, run: ClusterRun, submitted: SubmittedRun, pool: ThreadPoolExecutor,
                futures: list[Future[None]]) -> MapJobOutcome:
        ctx = self.ctx
        state = MapState(completions=len(self.indexes))
        checked_job = False
        while True:
            if ctx.interrupts.requested.is_set():
                return self._cancel(submitted, run, state, futures, interrupted=ctx.interrupts.exit_code)
            try:
                message = self.inbox.get(timeout=TICK_SECONDS)
            except queue.Empty:
                message = None
            if message is not None:
                if message.type == "ERROR" and message.kind in ("job", "pods") and message.error is not None:
                    self._delete(submitted, run)
                    return self._finish(futures, problem=message.error, run=run)
                state = absorb(state, message)
                if not checked_job and state.job is not None:
                    checked_job = True
                    problem = _dropped_fields(state.job)
                    if problem is not None:
                        self._delete(submitted, run)
                        return self._finish(futures, problem=problem, run=run)
            pods = state.pods                  # decide() forgets the pods of the indexes it collects
            state, actions, progress = decide(state, datetime.now(UTC), ctx.cluster.grace)
            for action in actions:
                if isinstance(action, Running):
                    self._running(action, submitted)
                elif isinstance(action, Lost):
                    self._lost(action)
                else:
                    futures.append(pool.submit(self._collect, action, pods, submitted))
            self.view.waiting(progress.pending, progress.waiting)
            if progress.stuck is not None:
                self._delete(submitted, run)
                return self._finish(futures, problem=_stuck_error(progress.stuck, ctx), run=run)
            if self.stop_reason is not None:
                left = len(self.indexes) - len(state.collected)
                self.view.note(f"Stopping the map phase: {self.stop_reason}; "
                               f"{plural(left, 'item')} not finished stay pending")
                return self._cancel(submitted, run, state, futures, interrupted=None)
            if state.over:
                return self._finish(futures, run=run, state=state)

    def _running(self, action: Running, submitted: SubmittedRun) -> None:
        index = self.indexes[action.job_index]
        the_id = self.book.item_id(index)
        attempt = self.attempts.before.get(index, 0) + action.attempt
        self.book.started(index, attempt=attempt, base=self.base, where=f"pod {action.pod}",
                          label=item_label(self.items[index]))
        self.view.agent_status(the_id, f"pod {action.pod}" + (f" on {action.node}" if action.node else ""))
        if self.verbose:
            self._follow_log(index, action.pod, attempt, submitted)

    def _follow_log(self, index: int, pod: str, attempt: int, submitted: SubmittedRun) -> None:
        """-v: every agent's output as it comes, prefixed by its item, also into its log."""
        the_id = self.book.item_id(index)
        log = self._log_path(index)
        _append(log, _header(the_id, attempt, pod))
        console = self.ctx.console

        def emit(line: str) -> None:
            console.info(f"[{the_id}] {line}")
            _append(log, line + "\n")

        follower = LogFollower(self.ctx.kube, LogSource(submitted.namespace, pod, AGENT_CONTAINER), emit,
                               stop=self.stop)
        self.attempts.followers[index] = follower
        follower.start()

    def _lost(self, action: Lost) -> None:
        index = self.indexes[action.job_index]
        the_id = self.book.item_id(index)
        text = f"pod {action.pod} ended ({action.reason}); the Job runs the item again"
        self.view.agent_status(the_id, text)
        self.view.note(f"[{the_id}] {text}")
        _append(self._log_path(index), f"--- {text}\n")

    def _log_path(self, index: int) -> Path:
        return layout.agent_log(self.session.id, self.book.number(index))

    # --- one finished index (a collector thread) ----------------------------------------------------

    def _collect(self, action: Collect, pods: Any, submitted: SubmittedRun) -> None:
        index = self.indexes[action.job_index]
        attempt = self.attempts.before.get(index, 0) + action.attempt
        try:
            state = self._collect_item(action, index, attempt, pods, submitted)
        except Exception as error:  # noqa: BLE001 - one item's trouble must not stop the phase
            message = error.message if isinstance(error, ProdigyError) else f"{type(error).__name__}: {error}"
            state = self.book.failed(index, attempt=attempt, error=f"could not collect the item's result: {message}",
                                     step=None, log=self._log_path(index))
        with self._counts:
            self.finished += 1
            self.failed += state.status is ItemStatus.FAILED
            if self.stop_reason is None:
                self.stop_reason = self.ctx.request.workflow.error_policy.stop_reason(failed=self.failed,
                                                                                      finished=self.finished)
        self.inbox.put(None)                       # wake the loop: the policy may stop the phase

    def _collect_item(self, action: Collect, index: int, attempt: int, pods: Any,
                      submitted: SubmittedRun) -> ItemState:
        ctx, the_id = self.ctx, self.book.item_id(index)
        branch = agent_branch(self.session.id, self.book.number(index))
        log = self._log_path(index)
        pod = next((p for p in pods.values() if p.get("metadata", {}).get("name") == action.pod), None)
        watch = _Stopwatch()
        follower = self.attempts.followers.get(index)
        if follower is not None:
            follower.join(LOG_READ_TIMEOUT)
        elif action.pod is not None:
            _append(log, _header(the_id, attempt, action.pod))
            _append(log, _read_log(ctx, submitted.namespace, action.pod))
        watch.lap("log")
        report: dict[str, Any] = {}
        landed = False
        with tempfile.TemporaryDirectory(prefix="prodigy-item-") as scratch:
            collected = None
            if action.pod is not None:
                try:
                    collected = collect_result(ctx.kube, submitted.namespace, action.pod, Path(scratch) / "in")
                except (TransportError, KubeError) as unreadable:
                    if action.succeeded:
                        raise
                    _append(log, f"--- its commits could not be read: {unreadable.message}\n")
            watch.lap("results")
            if collected is not None:
                import_results(self.session.repo, collected.path, expected_base=self.base, branch=branch,
                               state_dest=Path(scratch) / "state")
                landed = True
                report = reports.agent_report(Path(scratch) / "state")
            watch.lap("land")
        if action.succeeded:
            if not landed:
                raise TransportError("the pod succeeded but returned no result")
            commits = [commit.sha for commit in git.commits_between(self.session.repo, self.base, branch)]
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a", encoding="utf-8") as handle:
                console = Console(ctx.console.verbosity, out=handle, err=handle)
                state = self.book.merged_or_kept(
                    index, attempt=attempt, branch=branch, commits=commits, output=report.get("output", ""),
                    duration=report.get("duration", 0.0), lock=self.merge_lock, log=log,
                    merge=lambda: merge_agent(self.session, branch, the_id, console,
                                              lambda place, source, target: self._merge_in_pod(index, place,
                                                                                               source, target),
                                              check_merged=False))
            watch.lap("merge")
            # Where an item's time went on this side (bench/mapreduce_cluster.py reads it).
            self.book.events.emit("agent_collected", item_id=the_id, pod=action.pod, **watch.laps)
            if state.status is ItemStatus.SUCCEEDED:
                with self._counts:
                    self.done_branches.append(branch)
            return state
        why, step = reports.failure_of(report, pod)
        return self.book.failed(index, attempt=attempt, error=why, step=step, log=log,
                                branch=branch if landed else None, duration=report.get("duration", 0.0),
                                output=report.get("output", ""))

    def _merge_in_pod(self, index: int, place: Path, branch: str, target: str) -> None:
        """A conflict: Claude resolves it in a pod, on the session's commit and the agent's branch."""
        ctx, the_id = self.ctx, self.book.item_id(index)
        if ctx.interrupts.requested.is_set():
            raise Interrupted("interrupted before the merge", signal_exit_code=ctx.interrupts.exit_code)
        head = git.head_sha(place)
        agent_head = git.git("rev-parse", "--verify", "--end-of-options", f"refs/heads/{branch}",
                             cwd=place).stdout.strip()
        assert head is not None
        self.view.agent_status(the_id, "merge conflict: Claude resolves it in a pod")
        self.view.note(f"[{the_id}] git merge hit conflicts; resolving them in the cluster "
                       f"(/prodigy-merge-worktree {branch} {target})")
        log = self._log_path(index)
        spec = PhasePod("merge", base_sha=head, history_from=self.base, extra_tips=(agent_head,),
                        agent_args=("--phase", "merge", "--merge-branch", branch, "--merge-head", agent_head,
                                    "--merge-item", the_id))
        try:
            ended = run_phase_pod(ctx, spec, display=lambda: _FileDisplay(log))
        finally:
            ctx.interrupts.set_notify(lambda _signum: self.inbox.put(None))
        shutil.rmtree(ended.state.parent, ignore_errors=True)
        _raise_unless_merged(ended.end, ctx, the_id)

    # --- endings ------------------------------------------------------------------------------------

    def _delete(self, submitted: SubmittedRun, run: ClusterRun) -> None:
        delete_run(self.ctx.kube, ObjectRef("Job", submitted.namespace, submitted.job_name), propagation="Foreground")

    def _cancel(self, submitted: SubmittedRun, run: ClusterRun, state: MapState, futures: list[Future[None]], *,
                interrupted: int | None) -> MapJobOutcome:
        """Ctrl+C (or the error policy): delete the Job and every pod of it, wait (bounded) for them
        to go; what was already collected stays merged, items still running stay pending."""
        if interrupted is not None:
            self.view.note("cancelling: deleting the map Job, its pods and ConfigMaps…")
            self.ctx.delete_jobs()
        self._delete(submitted, run)
        deadline = time.monotonic() + CANCEL_WAIT_SECONDS
        while state.pods and time.monotonic() < deadline and not self.ctx.interrupts.force.is_set():
            try:
                message = self.inbox.get(timeout=0.2)
            except queue.Empty:
                continue
            if message is not None and message.kind in ("job", "pods") and message.type != "ERROR":
                state = absorb(state, message)
        self._wait(futures)
        self._interrupt_running("stopped with the map Job")
        code = interrupted
        runindex.record_finished(run_id=run.run_id, outcome=runindex.Outcome.CANCELLED if code else
                                 runindex.Outcome.FAILED, exit_code=code or 1,
                                 reason="cancelled" if code else f"stopped: {self.stop_reason}")
        return self._outcome(interrupted=code)

    def _finish(self, futures: list[Future[None]], *, run: ClusterRun, state: MapState | None = None,
                problem: ProdigyError | None = None) -> MapJobOutcome:
        self._wait(futures)
        if problem is None and state is not None and state.end is not None and state.end.reason not in (
                "", "FailedIndexes") and state.end.verdict.value == "failed":
            problem = WorkflowFailed(f"the map Job failed: {state.end.reason}: {state.end.message}".rstrip(": "))
        if problem is None and state is not None and state.job_gone and state.end is None:
            problem = WorkflowFailed(f"the map Job {run.job_name} was deleted outside prodigy while its items ran",
                                     hint=f"prodigy resume {self.session.id} runs the items that did not finish")
        if problem is not None:
            self._interrupt_running(problem.message.splitlines()[0])
        runindex.record_finished(run_id=run.run_id, outcome=runindex.Outcome.FAILED if problem else
                                 runindex.Outcome.SUCCEEDED, exit_code=1 if problem else 0,
                                 reason=problem.message.splitlines()[0] if problem else "")
        return self._outcome(problem=problem)

    def _interrupt_running(self, why: str) -> None:
        """Items whose pods were stopped stay pending: `prodigy resume` runs them again."""
        states = self.store.item_states(len(self.items))
        for index in self.indexes:
            if states[index].status is ItemStatus.RUNNING:
                self.book.interrupted(index, 0, why)

    def _wait(self, futures: list[Future[None]]) -> None:
        for future in list(futures):
            future.result()


# --- small helpers ------------------------------------------------------------------------------------


def _dropped_fields(job: Any) -> ProdigyError | None:
    """An API server that does not know a field drops it silently: an old one (before 1.29) or
    one with the JobBackoffLimitPerIndex feature gate off would run the Job with retries for the
    whole Job instead of per index, and fail every item on the first agent failure."""
    spec = job.get("spec") or {}
    if spec.get("completionMode") != "Indexed" or "backoffLimitPerIndex" not in spec:
        return WorkflowFailed("the cluster's API server dropped completionMode/backoffLimitPerIndex from the map "
                              "Job: it does not support Indexed Jobs with per-index retries (Kubernetes 1.29+, "
                              "feature gate JobBackoffLimitPerIndex)",
                              hint="upgrade the cluster, or run this workflow locally (without --cluster)")
    return None


def _stuck_error(diagnosis: Diagnosis, ctx: SessionContext) -> WorkflowFailed:
    lines = format_diagnosis(diagnosis, context=ctx.kube.context)
    return WorkflowFailed("the map Job's pods cannot run: " + "\n".join(lines),
                          hint=f"fix the cause, then: prodigy resume {ctx.session.id}")


def _raise_unless_merged(end: RunEnd, ctx: SessionContext, the_id: str) -> None:
    result = end.result
    if result is not None and result.status is ExecutionStatus.COMPLETED:
        return
    if end.interrupted is not None or ctx.interrupts.requested.is_set():
        raise Interrupted(f"interrupted while {the_id}'s conflicts were resolved",
                          signal_exit_code=end.interrupted or ctx.interrupts.exit_code)
    why = (result.error if result is not None else None) or (end.problem.message if end.problem else "no report")
    raise GitError(f"the merge pod could not resolve {the_id}'s conflicts: {why}")


def _header(the_id: str, attempt: int, pod: str) -> str:
    return f"=== {the_id} attempt {attempt} — pod {pod} — {datetime.now(UTC).isoformat(timespec='seconds')} ===\n"


def _append(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(text)


def _read_log(ctx: SessionContext, namespace: str, pod: str) -> str:
    """The whole log of a finished pod's agent container (one request)."""
    try:
        response = ctx.kube.open_stream(f"/api/v1/namespaces/{namespace}/pods/{pod}/log",
                                        query=[("container", AGENT_CONTAINER)], read_timeout=LOG_READ_TIMEOUT,
                                        action=f"reading the log of {pod}")
    except KubeError as error:
        return f"--- the log of pod {pod} could not be read: {error.message}\n"
    try:
        text = str(response.read().decode("utf-8", errors="replace"))
    finally:
        give_back(response)
    return text if not text or text.endswith("\n") else text + "\n"


class _Stopwatch:
    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.laps[f"{name}_seconds"] = round(now - self._last, 4)
        self._last = now


class _ViewDisplay:
    """`phases.submit`'s one line ("submitted Job ...") as a note of the live view."""

    def __init__(self, view: MapView) -> None:
        self.view = view

    def log(self, line: str) -> None:
        self.view.note(line)

    def status(self, text: str) -> None:
        pass

    def info(self, text: str) -> None:
        self.view.note(text)

    def close(self) -> None:
        pass


class _FileDisplay:
    """A merge pod's output and status, into its item's log (the live view shows the status)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._last = ""

    def log(self, line: str) -> None:
        _append(self.path, line + "\n")

    def status(self, text: str) -> None:
        pass

    def info(self, text: str) -> None:
        _append(self.path, f"--- {text}\n")

    def close(self) -> None:
        pass

