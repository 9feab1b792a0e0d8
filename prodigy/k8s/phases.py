"""The phases of one cluster run, each a function, driven by `prodigy.k8s.executor`:

    plan        resolve the cluster (flag > entry > defaults), build the Job/ConfigMap/Secret
                dicts from the workflow text read once by the application layer — every input
                error surfaces here, before any side effect; ``--dry-run`` stops after it
    connect     one API client for the cluster's kubeconfig context   ┐ `Connection`, on a thread
    preflight   reachable, credentials, namespace, permissions,       ┘ while git packs
                referenced Secrets
    submit      suspended Job -> owned ConfigMap/Secret -> resume (idempotent, retried)
    supervise   watch Job and pods, stream logs, live status, grace windows, Ctrl+C
    verdict     run index record, diagnosis on failure, the exit code (same as local runs)

    reattach    a run submitted earlier (``--detach``, or a client that died), rebuilt from its
                live Job, so the same supervise and verdict follow it to its end
"""

from __future__ import annotations

import dataclasses
import getpass
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prodigy.errors import EXIT_OK, ProdigyError, WorkflowFailed
from prodigy.execution import RunRequest
from prodigy.k8s import report, runindex, trace
from prodigy.k8s.admission import run_containers
from prodigy.k8s import submit as submitting
from prodigy.k8s.cancel import Interrupts, delete_run
from prodigy.k8s.clients import Kube
from prodigy.k8s.config.resolve import ClusterOverrides, ResolvedCluster
from prodigy.k8s.connect import connect_to, resolve
from prodigy.k8s.errors import KubeError
from prodigy.k8s.logs import LogCut
from prodigy.k8s.manifests import existing, retention
from prodigy.k8s.manifests.dry_run import render_manifests_yaml
from prodigy.k8s.manifests.inputs import JobSpecInputs, RunIdentity
from prodigy.k8s.manifests.pod import GIT_IDENTITY_VARS
from prodigy.k8s.manifests.run import RunObjects, build_run_objects
from prodigy.k8s.names import new_run_id
from prodigy.k8s.preflight import preflight_or_raise
from prodigy.k8s.retry import Waiter
from prodigy.k8s.secrets import credentials_from_env
from prodigy.k8s.shipped_workflow import ship_workflow
from prodigy.k8s.status import Display
from prodigy.k8s.submit import ObjectRef, SubmittedRun
from prodigy.k8s.supervise import RunOutcome, SupervisionResult, Supervisor, list_events
from prodigy.k8s.transport.podspec import PLUMBING_CONTAINERS


@dataclass(frozen=True)
class ClusterRun:
    """Everything decided before any side effect."""

    cluster: ResolvedCluster
    inputs: JobSpecInputs
    objects: RunObjects
    workflow_name: str
    repo: Path | None                   # the repository it runs from, for the run index (None: reattached)

    @property
    def run_id(self) -> str:
        return self.inputs.identity.run_id

    @property
    def job_name(self) -> str:
        name: str = self.objects.job["metadata"]["name"]
        return name

    @property
    def containers(self) -> int:
        pod = self.objects.job["spec"]["template"]["spec"]
        # The transport's plumbing containers do not count: one workflow container reads unprefixed.
        return len([c for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
                    if c["name"] not in PLUMBING_CONTAINERS])


# --- plan ---------------------------------------------------------------------------------------

def plan(request: RunRequest, cluster_name: str, overrides: ClusterOverrides, *, run_id: str | None = None,
         now: datetime | None = None, detached: bool = False) -> ClusterRun:
    cluster = resolve(cluster_name, overrides)
    run_id = new_run_id(run_id)
    workflow = request.source.workflow
    identity = RunIdentity(
        run_id=run_id, session_id=f"cluster-{run_id}", workflow_name=workflow.name,
        workflow_file=str(request.workflow_path), submitted_by=_submitter(request.environ),
        submitted_at=now or datetime.now(UTC))
    agent_args: list[str] = []
    for value in request.args:
        agent_args += ["--args", value]
    if request.max_iterations > 1:
        agent_args += ["-n", str(request.max_iterations)]
    environ = request.environ
    credentials = credentials_from_env(environ, provided_by_cluster=set(cluster.secrets))
    # Workflow `secrets:` values leave the shipped text and travel in the run's Secret.
    shipped = ship_workflow(request.source.text, workflow, source=str(request.workflow_path), credentials=credentials)
    inputs = JobSpecInputs(
        identity=identity, cluster=cluster, workflow_text=shipped.text,
        credentials={**credentials, **shipped.secret_env},
        git_identity={k: environ[k] for k in GIT_IDENTITY_VARS if environ.get(k)},
        agent_args=tuple(agent_args), detached=detached)
    return ClusterRun(cluster, inputs, build_run_objects(inputs), workflow.name, request.repo)


def _submitter(environ: Mapping[str, str]) -> str:
    try:
        return environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def dry_run(run: ClusterRun) -> str:
    return render_manifests_yaml(run.objects.in_creation_order())


# --- connect + preflight ------------------------------------------------------------------------

def preflight(kube: Kube, run: ClusterRun) -> None:
    report = preflight_or_raise(kube, run.cluster.namespace, needs_secret=bool(run.inputs.credentials),
                                image_pull_secrets=run.cluster.image_pull_secrets,
                                env_secrets=[ref.secret for ref in run.cluster.secrets.values()],
                                containers=run_containers(run.cluster))
    for warning in report.warnings:   # a quota or LimitRange that will hold or refuse the pod
        _stderr(f"warning: {warning.name} {warning.detail} (hint: {warning.hint})")


def _connect(run: ClusterRun) -> Kube:
    return connect_to(run.cluster)


class Connection:
    """``connect`` then ``preflight`` for a planned run, on a worker thread.

    Started as soon as ``plan`` has resolved the cluster, so the client import, loading the
    credentials (an exec plugin such as ``aws eks get-token`` takes a second or more) and the
    preflight round trips overlap the repository packing instead of following it. The gate
    is unchanged: ``result()`` is the only way to the connection, and it re-raises what
    connect or preflight raised, so nothing is submitted or created before preflight passed.

    Preflight reads only the run's cluster entry and whether it forwards credentials; the
    repository transport changes neither, so checking the plan is checking the run that will
    be submitted.
    """

    def __init__(self, run: ClusterRun | None, *, connect: Callable[[ClusterRun], Kube] | None = None,
                 check: Callable[[Kube, ClusterRun], None] | None = None,
                 opening: tuple[Callable[[], Kube], Callable[[Kube], None]] | None = None) -> None:
        self.run = run
        if opening is not None:
            self._open, self._verify = opening
        else:
            assert run is not None
            connect_run, check_run = connect or _connect, check or preflight
            self._open, self._verify = (lambda: connect_run(run)), (lambda kube: check_run(kube, run))
        self._done = threading.Event()
        self._lock = threading.Lock()
        self._abandoned = False
        self._kube: Kube | None = None
        self._error: BaseException | None = None
        # A daemon thread: a CLI that fails for a local reason exits at once even while an
        # unreachable server is still being retried here.
        self._thread = threading.Thread(target=self._work, name="prodigy-connect", daemon=True)

    @classmethod
    def start(cls, run: ClusterRun, *, connect: Callable[[ClusterRun], Kube] | None = None,
              check: Callable[[Kube, ClusterRun], None] | None = None) -> Connection:
        connection = cls(run, connect=connect, check=check)
        connection._thread.start()
        return connection

    @classmethod
    def opening(cls, connect: Callable[[], Kube], check: Callable[[Kube], None]) -> Connection:
        """The same gate for a connection that is not about one planned Job (a MapReduce
        session submits one Job per phase)."""
        connection = cls(None, opening=(connect, check))
        connection._thread.start()
        return connection

    def result(self) -> Kube:
        """The checked connection (the caller closes it); raises what connect/preflight raised."""
        self._done.wait()
        if self._error is not None:
            raise self._error
        assert self._kube is not None
        return self._kube

    def abandon(self) -> None:
        """The run failed before it needed the connection: close it whenever it is ready."""
        with self._lock:
            self._abandoned = True
            kube = self._kube if self._done.is_set() else None
        if kube is not None:
            kube.close()

    def _work(self) -> None:
        kube: Kube | None = None
        try:
            kube = self._open()
            self._verify(kube)
            trace.mark("preflight passed")
        except BaseException as exc:  # handed to result(); this thread must not print it
            self._error = exc
            if kube is not None:
                kube.close()
            kube = None
        with self._lock:
            self._kube = kube
            self._done.set()
            abandoned = self._abandoned
        if abandoned and kube is not None:
            kube.close()


# --- submit ------------------------------------------------------------------------------------

def submit(kube: Kube, run: ClusterRun, display: Display, interrupts: Interrupts,
           on_job_created: Callable[[str, str], None] | None = None) -> SubmittedRun:
    def recorded(name: str, uid: str) -> None:
        trace.mark(f"Job {name} created (suspended)")
        identity = run.inputs.identity
        runindex.record_submitted(run_id=run.run_id, cluster=run.cluster.name, context=kube.context,
                                  namespace=run.cluster.namespace, job=name, workflow=run.workflow_name,
                                  image=run.cluster.image, session_id=identity.session_id,
                                  repo=run.repo, detached=run.inputs.detached, phase=identity.phase)
        if on_job_created is not None:   # the transport uploads its chunks while the Job is suspended
            on_job_created(name, uid)

    try:
        submitted = submitting.submit(kube, run.objects, run_id=run.run_id, stop=interrupts.requested,
                                      waiter=Waiter.interruptible(interrupts.requested), on_job_created=recorded)
    except KubeError as exc:
        runindex.record_finished(run_id=run.run_id, outcome=runindex.Outcome.SUBMIT_FAILED, exit_code=exc.exit_code,
                                 reason=exc.message)
        # A submit that failed halfway leaves a suspended Job; remove it (its dependents go with it).
        delete_run(kube, ObjectRef("Job", run.cluster.namespace, run.job_name), propagation="Background")
        raise
    trace.mark("Job resumed (owned objects created)")
    display.info(f"submitted Job {run.job_name} to cluster {run.cluster.name} (namespace {run.cluster.namespace}, "
                 f"image {run.cluster.image})")
    return submitted


# --- reattach ----------------------------------------------------------------------------------

def reattach(cluster: ResolvedCluster, job: dict[str, Any]) -> tuple[ClusterRun, SubmittedRun]:
    """The planned and submitted run of a live Job, as `submit` would have returned them.

    ``ttl_seconds`` is the TTL the Job has (or, detached, gets once collected): a stuck pod's Job
    is deleted unless the run was submitted with ``--keep``, as for an attached run."""
    meta = job["metadata"]
    identity = existing.identity_of(job)
    cluster = replace(cluster, namespace=str(meta["namespace"]), ttl_seconds=retention.ttl_after_collect(job))
    inputs = JobSpecInputs(identity=identity, cluster=cluster, workflow_text="", detached=retention.is_detached(job))
    # Reattaching submits nothing, so nothing goes to the run index: the record is already there.
    run = ClusterRun(cluster, inputs, RunObjects(job=job, owned=()), identity.workflow_name, repo=None)
    owned = tuple(ObjectRef(kind, cluster.namespace, name) for kind, name in existing.owned_names(job))
    return run, SubmittedRun(identity.run_id, cluster.namespace, str(meta["name"]), str(meta["uid"]), owned)


# --- supervise ---------------------------------------------------------------------------------

def supervise(kube: Kube, run: ClusterRun, submitted: SubmittedRun, display: Display,
              interrupts: Interrupts, *, log_cut: LogCut | None = None,
              running_for: float = 0.0) -> SupervisionResult:
    """``log_cut``: show the output from there on (a client attaching to a running run);
    ``running_for``: how long the run has been going already (the status line's clock)."""
    supervisor = Supervisor(kube, submitted, display, interrupts, grace=run.cluster.grace, containers=run.containers,
                            keep_on_failure=run.cluster.ttl_seconds is None, log_cut=log_cut)
    # The status line counts from the run's start, not from this client's.
    supervisor.state = dataclasses.replace(supervisor.state, started=supervisor.state.started - running_for)
    return supervisor.supervise()


# --- verdict -----------------------------------------------------------------------------------

def verdict(kube: Kube, run: ClusterRun, submitted: SubmittedRun, result: SupervisionResult,
            started: float) -> int:
    """Record how the Job ended and say so; a failure is raised as the diagnosed error."""
    elapsed = time.monotonic() - started
    job = submitted.job_name
    if result.outcome is RunOutcome.SUCCEEDED:
        runindex.record_finished(run_id=run.run_id, outcome=runindex.Outcome.SUCCEEDED, exit_code=EXIT_OK)
        _stderr(f"Job {job} succeeded on cluster {run.cluster.name} in {elapsed:.1f}s")
        return EXIT_OK
    if result.outcome is RunOutcome.CANCELLED:
        runindex.record_finished(run_id=run.run_id, outcome=runindex.Outcome.CANCELLED,
                                 exit_code=result.signal_exit_code, reason="cancelled")
        if result.leftovers:
            _stderr(f"pods still terminating: {', '.join(result.leftovers)} (the Job is deleted; they will go)")
        _stderr("cancelled")
        return result.signal_exit_code
    error = failure_error(kube, run.cluster.name, submitted, result)
    runindex.record_finished(run_id=run.run_id, outcome=runindex.Outcome.FAILED, exit_code=error.exit_code,
                             reason=error.message.splitlines()[0])
    raise error


def failure_error(kube: Kube, cluster_name: str, submitted: SubmittedRun, result: SupervisionResult) -> ProdigyError:
    """Gather what the diagnosis needs (events are read now, while they exist) and turn the
    diagnosis into the error the CLI prints."""
    events: list[dict[str, Any]] = []
    if result.job is not None:
        events += list_events(kube, submitted.namespace, submitted.job_uid)
    for pod in result.pods:
        events += list_events(kube, submitted.namespace, pod["metadata"]["uid"])
    text, hint = report.explain_failure(result, events, job_name=submitted.job_name,
                                        namespace=submitted.namespace, cluster=cluster_name,
                                        context=kube.context)
    return WorkflowFailed(text, hint=hint)


def _stderr(text: str) -> None:
    sys.stderr.write(f"[prodigy] {text}\n")
    sys.stderr.flush()
