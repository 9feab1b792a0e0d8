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
    cancel    delete the Job with its pods and dependents (the Ctrl+C path)

A resumed session (``resume=``) ships its branch head and checkpoint to a new Job on the same
cluster. `collect_finished` lands the result of a Job whose client died.
"""

from __future__ import annotations

import time
from contextlib import AbstractContextManager, ExitStack
from dataclasses import replace

from prodigy import paths
from prodigy.errors import UsageError
from prodigy.execution import RunCancelled, RunEnd, RunRequest
from prodigy.k8s import phases, trace
from prodigy.k8s.agent_report import agent_summary, explained_summary
from prodigy.k8s.cancel import Interrupts, delete_run
from prodigy.k8s.clients import Kube
from prodigy.k8s.config.resolve import ClusterOverrides
from prodigy.k8s.connect import open_cluster
from prodigy.k8s.errors import NotFound
from prodigy.k8s.manifests.pod import GIT_IDENTITY_VARS
from prodigy.k8s.manifests.run import build_run_objects
from prodigy.k8s.phases import ClusterRun, Connection
from prodigy.k8s.podrun import PodRun
from prodigy.k8s.progress import job_duration
from prodigy.k8s.runindex import record_collected
from prodigy.k8s.submit import ObjectRef
from prodigy.k8s.transport.run import RunTransport, collect_and_land, git_identity
from prodigy.repo import git as gitops
from prodigy.repo import worktrees
from prodigy.repo.placement import ClusterPlacement
from prodigy.repo.worktrees import Session
from prodigy.ui.console import Console
from prodigy.workflow.result import ExecutionResult


class ClusterExecutor:
    """One run (new, or a kept cluster session resumed) as a Job on ``cluster_name``."""

    def __init__(self, request: RunRequest, cluster_name: str, overrides: ClusterOverrides, console: Console, *,
                 resume: Session | None = None, started: float | None = None) -> None:
        self.request = request
        self.cluster_name = cluster_name
        self.overrides = overrides
        self.console = console
        self.interrupts = Interrupts()
        self.started = time.monotonic() if started is None else started
        self._resume = resume
        self._resources = ExitStack()
        self._run: ClusterRun | None = None
        self._transport: RunTransport | None = None
        self._connection: Connection | None = None
        self._kube: Kube | None = None
        self._session: Session | None = None
        self._pod: PodRun | None = None

    # ------------------------------------------------------------------ before any side effect

    def interruptible(self) -> AbstractContextManager[object]:
        return self.interrupts.installed()

    def prepare(self, *, dry_run: bool = False) -> None:
        run = phases.plan(self.request, self.cluster_name, self.overrides)
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

    # ------------------------------------------------------------------ the run

    def start(self) -> Session:
        run = self._planned
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
                                 warn=self.console.warn, started=self.started)
        self._resources.callback(pod.close)
        pod.submit()
        return session

    def follow(self) -> None:
        assert self._pod is not None, "start() first"
        self._pod.supervise()

    def collect(self) -> RunEnd:
        """The cluster's verdict, then the pod's commits on the session branch (`PodRun.collect`)."""
        assert self._pod is not None and self._session is not None, "start() first"
        return self._pod.collect(self._session)

    def cancel(self) -> None:
        """Delete the Job; its pods, ConfigMaps and Secret go with it (owner references)."""
        if self._kube is not None:
            delete_run(self._kube, ObjectRef("Job", self._planned.cluster.namespace, self._planned.job_name))

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
                             hint="wait for it to finish, then run this command again to collect its commits "
                                  f"(`prodigy cluster collect {session.id}` and `prodigy resume {session.id}` both do)")
        console.info(f"Collecting the results of Job {job_name} (session {session.id})")
        collect_and_land(kube, session, namespace=namespace, job_name=job_name, expected_base=placement.base_sha,
                         remote_url=cluster.repo.remote_url if placement.repo_mode == "remote" else None,
                         say=console.info)
        pods = kube.request("GET", f"/api/v1/namespaces/{namespace}/pods",
                            query=[("labelSelector", f"job-name={job_name}")]).get("items", [])
    summary = explained_summary(agent_summary(pods) or {"status": "failed", "exit_code": 1,
                                                        "error": f"Job {job_name} ended without a workflow summary"},
                                {})
    # The run's own duration (from the Job), not this command's.
    result = ExecutionResult.from_summary(summary, job_duration(job) or 0.0)
    record_collected(placement.run_id, job, summary, result.exit_code)
    return RunEnd(result)

