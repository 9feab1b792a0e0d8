"""The Kubernetes executor: one workflow run as a Job on a cluster (spec 97).

Implements `prodigy.execution.Executor` for `prodigy.app`, around `phases` and the repository
transport:

    prepare   plan (cluster, manifests) -> connect + preflight start on a thread -> the
              repository is packed (cap error here) and added to the pod; no side effect yet
    start     wait for preflight -> branch prodigy-session-<uuid> + worktree + metadata naming
              the Job -> submit (chunks uploaded while the Job is suspended) -> termination
              capture armed
    follow    supervise: watch, stream logs, status line, grace windows, Ctrl+C/SIGTERM
    collect   the Job's verdict (run index, diagnosis) -> the pod's commits and checkpoint on the
              session branch -> `RunEnd` for the application layer's finish path
    cancel    the Ctrl+C path: follow deletes the Job with its pods and dependents, the pod's
              last export is captured and collect lands it

A resumed session (``resume=``) ships its branch head and checkpoint to a new Job on the same
cluster. ``detach=True`` (``cook --detach``) stops after ``start``: the Job runs on without a
client and keeps its results until collected (`manifests.retention`); `detached()` says how to
find it again. `ClusterExecutor.existing` attaches to such a run later (``cluster attach`` and
``cluster cancel``): ``prepare`` rebuilds the submitted run from its live Job and the session's
placement, ``start`` arms the termination capture, and follow/collect/cancel are the ones an
attached run uses. `collect_finished` lands the result of a Job whose client died.
"""

from __future__ import annotations

import contextlib
import signal
import time
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from prodigy import paths
from prodigy.errors import UsageError
from prodigy.execution import RunCancelled, RunEnd, RunRequest
from prodigy.k8s import names, phases, runlog, trace
from prodigy.k8s.agent_report import agent_summary, explained_summary
from prodigy.k8s.cancel import Interrupts
from prodigy.k8s.clients import Kube
from prodigy.k8s.config.resolve import ClusterOverrides
from prodigy.k8s.connect import connect_to, open_cluster, resolve
from prodigy.k8s.errors import KubeError, NotFound
from prodigy.k8s.logs import LogCut
from prodigy.k8s.manifests import existing
from prodigy.k8s.manifests.data import WORKFLOW_KEY
from prodigy.k8s.manifests.pod import GIT_IDENTITY_VARS
from prodigy.k8s.manifests.run import build_run_objects
from prodigy.k8s.phases import ClusterRun, Connection
from prodigy.k8s.podrun import Landing, PodRun, after_collection
from prodigy.k8s.progress import JobEnd, job_duration, job_end
from prodigy.k8s.runindex import record_collected
from prodigy.k8s.submit import SubmittedRun
from prodigy.k8s.transport.cluster_io import find_run_pod
from prodigy.k8s.transport.run import RunTransport, collect_and_land, git_identity
from prodigy.repo import git as gitops
from prodigy.repo import worktrees
from prodigy.repo.placement import ClusterPlacement
from prodigy.repo.worktrees import Session
from prodigy.ui.console import Console
from prodigy.ui.steps import StepHeader, current_step
from prodigy.workflow.result import ExecutionResult


class RunGone(UsageError):
    """The Job of a session's run no longer exists (TTL, gc, a hand-made delete)."""

    def __init__(self, session: Session, placement: ClusterPlacement) -> None:
        super().__init__(f"Job {placement.job} of run {placement.run_id} (session {session.id}) no longer exists on "
                         f"cluster {placement.cluster} (it was deleted, or its TTL expired)",
                         hint=f"run the steps it did not finish again with `prodigy resume {session.id}`")


@dataclass(frozen=True)
class DetachedRun:
    """A submitted run nobody follows (``cook --detach``): how to find it again."""

    run_id: str
    session_id: str
    job: str
    cluster: str
    namespace: str


@dataclass(frozen=True)
class _Existing:
    session: Session
    placement: ClusterPlacement
    history: bool               # show the run's whole output, not only what comes next


class ClusterExecutor:
    """One run (new, or a kept cluster session resumed, or one submitted earlier and attached
    to with `existing`) as a Job on ``cluster_name``."""

    def __init__(self, request: RunRequest | None, cluster_name: str, overrides: ClusterOverrides,
                 console: Console, *, resume: Session | None = None, started: float | None = None,
                 detach: bool = False) -> None:
        self.request = request
        self.cluster_name = cluster_name
        self.overrides = overrides
        self.console = console
        self.interrupts = Interrupts()
        self.started = time.monotonic() if started is None else started
        self._resume = resume
        self._detach = detach
        self._existing: _Existing | None = None
        self._landing: Landing | None = None
        self._log_cut: LogCut | None = None
        self._step: StepHeader | None = None
        self._job: dict[str, Any] | None = None
        self._resources = ExitStack()
        self._run: ClusterRun | None = None
        self._transport: RunTransport | None = None
        self._connection: Connection | None = None
        self._kube: Kube | None = None
        self._session: Session | None = None
        self._submitted: SubmittedRun | None = None   # an existing run's, rebuilt from its Job
        self._pod: PodRun | None = None

    # ------------------------------------------------------------------ before any side effect

    @classmethod
    def existing(cls, session: Session, placement: ClusterPlacement, console: Console, *,
                 history: bool = False) -> ClusterExecutor:
        """Attach to the run ``placement`` names, submitted earlier by another client."""
        executor = cls(None, placement.cluster, ClusterOverrides(namespace=placement.namespace), console)
        executor._existing = _Existing(session, placement, history)
        return executor

    def interruptible(self) -> AbstractContextManager[object]:
        return self.interrupts.installed()

    def prepare(self, *, dry_run: bool = False) -> None:
        if self._existing is not None:
            self._prepare_existing(self._existing)
            return
        assert self.request is not None
        run = phases.plan(self.request, self.cluster_name, self.overrides, detached=self._detach)
        trace.mark("planned (workflow valid, cluster resolved)")
        if not dry_run:
            # Read-only cluster checks overlap the repository packing; nothing is created
            # before both are done (start() waits for the connection before its first side effect).
            self._connection = Connection.start(run)
            self._resources.callback(self._connection.abandon)
        self._run = self._attach(run, contact_remote=not dry_run)   # --dry-run contacts nothing, not even git
        trace.mark("repository packed")

    def _attach(self, run: ClusterRun, *, contact_remote: bool = True) -> ClusterRun:
        """Add the repository to the planned run: spool and verify it, name the session."""
        request, resume = self.request, self._resume
        assert request is not None
        if resume is None:
            session_id, base_sha, resume_state, history_from = worktrees.new_session_id(), None, None, None
            if request.uncommitted:
                self.console.warn(f"{len(request.uncommitted)} uncommitted change(s) in {request.repo} are not "
                                  "included in this run (the pod starts from the last commit)")
        else:
            session_id, history_from = resume.id, resume.metadata.base_sha
            head = gitops.head_sha(resume.path) if resume.path.is_dir() else None
            base_sha = head or gitops.git("rev-parse", "--verify", "--end-of-options", resume.branch,
                                          cwd=resume.repo).stdout.strip()
            state = paths.state_dir(resume.id)
            resume_state = state if state.is_dir() else None
        transport = RunTransport.prepare(request.repo, run.cluster, run_id=run.run_id, session_id=session_id,
                                         base_sha=base_sha, resume_state=resume_state, history_from=history_from,
                                         contact_remote=contact_remote)
        self._transport = transport
        self._landing = Landing(transport.base_sha, transport.remote_url)
        self._resources.callback(transport.close)
        identity = replace(run.inputs.identity, session_id=session_id, base_sha=transport.base_sha,
                           original_branch=request.original_branch)
        # The identity a local commit in this repository would get (env first, then git config).
        env = request.environ
        author = {**git_identity(request.repo), **{k: env[k] for k in GIT_IDENTITY_VARS if env.get(k)}}
        inputs = replace(run.inputs, identity=identity, git_identity=author).with_additions(transport.additions)
        return replace(run, inputs=inputs, objects=build_run_objects(inputs))

    def dry_run(self) -> str:
        return phases.dry_run(self._planned)

    @property
    def _planned(self) -> ClusterRun:
        assert self._run is not None, "prepare() first"
        return self._run

    def _prepare_existing(self, found: _Existing) -> None:
        """Connect and rebuild the submitted run from its live Job; nothing is changed yet."""
        session, placement = found.session, found.placement
        cluster = resolve(placement.cluster, self.overrides)
        kube = self._kube = connect_to(cluster)
        self._resources.callback(kube.close)
        try:
            job = kube.request("GET", f"/apis/batch/v1/namespaces/{placement.namespace}/jobs/{placement.job}",
                               action=f"reading Job {placement.job}")
        except NotFound:
            raise RunGone(session, placement) from None
        if existing.run_id_of(job) != placement.run_id:
            raise UsageError(f"Job {placement.job} in {placement.namespace} belongs to another run "
                             f"({existing.run_id_of(job) or 'not prodigy'}), not to run {placement.run_id}",
                             hint=f"the run's own Job is gone; resume the session with `prodigy resume {session.id}`")
        if (job.get("spec") or {}).get("suspend") and job_end(job) is None:
            raise UsageError(f"Job {placement.job} is still suspended: its submission was cut short",
                             hint=f"remove it with `prodigy cluster cancel {placement.run_id}`, then "
                                  f"`prodigy resume {session.id}`")
        self._job = job
        self._run, self._submitted = phases.reattach(cluster, job)
        self._session = session
        self._landing = Landing(placement.base_sha,
                                cluster.repo.remote_url if placement.repo_mode == "remote" else None)
        began = existing.started_at(job)
        if began is not None:
            self.started = time.monotonic() - max(0.0, (datetime.now(UTC) - began).total_seconds())
        pod = find_run_pod(kube, placement.namespace, placement.job)
        if pod is not None:
            with contextlib.suppress(KubeError):     # a pod that has not started has no log yet
                tail = runlog.read_tail(kube, placement.namespace, pod["metadata"]["name"])
                self._step = current_step(tail.lines)
                if not found.history:
                    self._log_cut = tail.cut

    @property
    def ended(self) -> JobEnd | None:
        """How an existing run's Job had ended when this client looked (None: still going)."""
        end = job_end(self._job)
        return end if end is not None and end.final else None

    @property
    def current_step(self) -> StepHeader | None:
        """The step an existing run was in when this client attached (from its own output)."""
        return self._step

    def workflow_text(self) -> str | None:
        """The workflow text an existing run was submitted with (its ConfigMap), which is the
        text its ``merge:`` block must come from even if the file was edited since."""
        assert self._kube is not None and self._submitted is not None, "prepare() first"
        name = names.workflow_configmap_name(self._submitted.run_id)
        try:
            data = self._kube.request("GET", f"/api/v1/namespaces/{self._submitted.namespace}/configmaps/{name}",
                                      action=f"reading ConfigMap {name}").get("data") or {}
        except KubeError:
            return None
        text = data.get(WORKFLOW_KEY)
        return text if isinstance(text, str) else None

    # ------------------------------------------------------------------ the run

    def start(self) -> Session:
        if self._existing is not None:
            return self._start_existing()
        run = self._planned
        assert self.request is not None
        assert self._transport is not None and self._connection is not None
        transport = self._transport
        if self._resume is not None:
            self.console.info(f"Resuming session: {self._resume.id} on cluster {run.cluster.name} "
                              f"from {transport.base_sha[:12]}")
        self.console.info(transport.describe())
        kube = self._kube = self._connection.result()       # preflight passed
        self._resources.callback(kube.close)
        if self.interrupts.requested.is_set():
            print("cancelled (nothing was submitted)", flush=True)
            raise RunCancelled(self.interrupts.exit_code)
        session = transport.open_session(
            original_branch=self.request.original_branch, workflow_path=self.request.workflow_path,
            namespace=run.cluster.namespace, job=run.job_name, context=kube.context, run_args=self.request.args,
            max_iterations=self.request.max_iterations)
        if self._resume is None:
            self.console.info(f"Created worktree at: {session.path}")
        else:
            session = worktrees.update(session, status=worktrees.SessionStatus.IN_PROGRESS)
        self._session = session

        pod = self._pod = PodRun(kube, run, transport, self.interrupts, say=self.console.info,
                                 warn=self.console.warn, started=self.started, landing=self._landing)
        self._resources.callback(pod.close)
        pod.submit(capture=not self._detach)
        return session

    def _start_existing(self) -> Session:
        assert self._kube is not None and self._submitted is not None and self._session is not None
        pod = self._pod = PodRun(self._kube, self._planned, None, self.interrupts, say=self.console.info,
                                 warn=self.console.warn, started=self.started, landing=self._landing)
        self._resources.callback(pod.close)
        pod.adopt(self._submitted)
        return self._session

    def detached(self) -> DetachedRun | None:
        """After ``start`` of a ``detach`` run: where it runs. None when Ctrl+C/SIGTERM came during
        the submission; the caller then follows the run to its cancel, as an attached run would."""
        submitted = self._pod.submitted if self._pod is not None else None
        assert self._detach and submitted is not None and self._session is not None
        if self.interrupts.requested.is_set():
            return None
        return DetachedRun(run_id=submitted.run_id, session_id=self._session.id, job=submitted.job_name,
                           cluster=self._planned.cluster.name, namespace=submitted.namespace)

    def follow(self) -> None:
        assert self._pod is not None, "start() first"
        self._pod.supervise(log_cut=self._log_cut)

    def collect(self) -> RunEnd:
        """The cluster's verdict, then the pod's commits on the session branch (`PodRun.collect`)."""
        assert self._pod is not None and self._session is not None, "start() first"
        return self._pod.collect(self._session)

    def cancel(self) -> None:
        """Stop the run the Ctrl+C way: ``follow`` (in progress or next) deletes the Job with its
        pods, ConfigMaps and Secret; the termination capture reads what the pod exports in its
        grace period, and ``collect`` lands it on the session branch (`prodigy cluster cancel`)."""
        self.interrupts.trigger(int(signal.SIGINT))

    def close(self) -> None:
        self._resources.close()


# ---------------------------------------------------------------------- a Job whose client died

def collect_finished(session: Session, placement: ClusterPlacement, console: Console) -> RunEnd | None:
    """Land the result of the session's finished Job; None when the Job no longer exists.

    Raises UsageError while the Job is still running (collect it once it finished)."""
    with open_cluster(placement.cluster, ClusterOverrides(namespace=placement.namespace)) as opened:
        kube, cluster = opened.kube, opened.cluster
        namespace, job_name = placement.namespace, placement.job
        try:
            job = kube.request("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs/{job_name}")
        except NotFound:
            return None
        conditions = {c.get("type") for c in (job.get("status") or {}).get("conditions") or ()
                      if c.get("status") == "True"}
        if not conditions & {"Complete", "Failed"}:
            raise UsageError(f"Job {job_name} of session {session.id} is still running on cluster {cluster.name}",
                             hint=f"follow it to its end and collect it with `prodigy cluster attach "
                                  f"{placement.run_id}`, or stop it with `prodigy cluster cancel {placement.run_id}`")
        console.info(f"Collecting the results of Job {job_name} (session {session.id})")
        collect_and_land(kube, session, namespace=namespace, job_name=job_name, expected_base=placement.base_sha,
                         remote_url=cluster.repo.remote_url if placement.repo_mode == "remote" else None,
                         say=console.info)
        pods = kube.request("GET", f"/api/v1/namespaces/{namespace}/pods",
                            query=[("labelSelector", f"job-name={job_name}")]).get("items", [])
        after_collection(kube, placement.run_id, job, pods, say=console.warn)
    summary = explained_summary(agent_summary(pods) or {"status": "failed", "exit_code": 1,
                                                        "error": f"Job {job_name} ended without a workflow summary"},
                                {})
    # The run's own duration (from the Job), not this command's.
    result = ExecutionResult.from_summary(summary, job_duration(job) or 0.0)
    record_collected(placement.run_id, job, summary, result.exit_code)
    return RunEnd(result)
