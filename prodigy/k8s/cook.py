"""``prodigy cook WORKFLOW --cluster NAME``: one workflow run as a Kubernetes Job.

The run goes through explicit phases, each a function, so later features (the repository
transport) plug in between them without reshaping the whole:

    plan        resolve the cluster (flag > entry > defaults), validate the workflow, build the
                Job/ConfigMap/Secret dicts — every input error surfaces here, before any side
                effect; ``--dry-run`` prints the result and stops (no cluster contacted)
    connect     one API client for the cluster's kubeconfig context
    preflight   reachable, credentials, namespace, permissions, referenced Secrets
    submit      suspended Job -> owned ConfigMap/Secret -> resume (idempotent, retried)
    supervise   watch Job and pods, stream logs, live status, grace windows, Ctrl+C
    finish      run index record, diagnosis on failure, the exit code (same as local runs)

``run_on_cluster`` plans, then hands the run to the repository transport
(``prodigy.k8s.transport.flow``), which calls these phase functions in order around its own
steps (ship the repository while the Job is suspended; land the pod's commits at the end).
"""

from __future__ import annotations

import getpass
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from prodigy.errors import EXIT_OK, ProdigyError, UsageError, WorkflowFailed
from prodigy.k8s import runindex, trace
from prodigy.k8s.cancel import Interrupts
from prodigy.k8s.config.loader import load_kubernetes_config
from prodigy.k8s.config.resolve import ClusterOverrides, ResolvedCluster, resolve_cluster
from prodigy.k8s.manifests.dry_run import render_manifests_yaml
from prodigy.k8s.manifests.inputs import JobSpecInputs, RunIdentity
from prodigy.k8s.manifests.pod import GIT_IDENTITY_VARS
from prodigy.k8s.manifests.run import RunObjects, build_run_objects
from prodigy.k8s.names import new_run_id
from prodigy.k8s.secrets import credentials_from_env
from prodigy.local.session import expand_inputs
from prodigy.options import RunOptions

if TYPE_CHECKING:
    from prodigy.k8s.clients import Kube
    from prodigy.k8s.status import Display
    from prodigy.k8s.submit import SubmittedRun
    from prodigy.k8s.supervise import SupervisionResult


@dataclass(frozen=True)
class ClusterRun:
    """Everything decided before any side effect."""

    cluster: ResolvedCluster
    inputs: JobSpecInputs
    objects: RunObjects
    workflow_name: str

    @property
    def run_id(self) -> str:
        return self.inputs.identity.run_id

    @property
    def containers(self) -> int:
        pod = self.objects.job["spec"]["template"]["spec"]
        # The transport's plumbing containers do not count: one workflow container reads unprefixed.
        from prodigy.k8s.transport.podspec import PLUMBING_CONTAINERS

        return len([c for c in [*(pod.get("initContainers") or []), *(pod.get("containers") or [])]
                    if c["name"] not in PLUMBING_CONTAINERS])


# --- plan ---------------------------------------------------------------------------------------

def plan(options: RunOptions, environ: Mapping[str, str], *, run_id: str | None = None,
         now: datetime | None = None) -> ClusterRun:
    from prodigy.k8s.clients import kube_contexts
    from prodigy.workflow.loader import load_workflow

    assert options.cluster is not None
    if options.resume_session:
        raise UsageError("--resume cannot be combined with --cluster",
                         hint="use `prodigy resume SESSION` for a session that ran on a cluster")
    loaded = load_workflow(options.workflow_path)          # WorkflowFileError (exit 2) names file and line
    config = load_kubernetes_config()
    flags = ClusterOverrides(namespace=options.namespace, image=options.image,
                             image_pull_policy=options.image_pull_policy, keep=options.keep)
    contexts = [] if options.cluster in config.config.clusters else kube_contexts()
    cluster = resolve_cluster(config.config, options.cluster, flags, contexts, config_path=config.path)
    run_id = new_run_id(run_id)
    identity = RunIdentity(
        run_id=run_id, session_id=f"cluster-{run_id}", workflow_name=loaded.workflow.name,
        workflow_file=str(options.workflow_path), submitted_by=_submitter(environ),
        submitted_at=now or datetime.now(UTC))
    agent_args: list[str] = []
    for value in options.args:
        agent_args += ["--args", value]
    if options.max_iterations > 1:
        agent_args += ["-n", str(options.max_iterations)]
    inputs = JobSpecInputs(
        identity=identity, cluster=cluster, workflow_text=options.workflow_path.read_text(encoding="utf-8"),
        credentials=credentials_from_env(environ, provided_by_cluster=set(cluster.secrets)),
        git_identity={k: environ[k] for k in GIT_IDENTITY_VARS if environ.get(k)},
        agent_args=tuple(agent_args))
    return ClusterRun(cluster, inputs, build_run_objects(inputs), loaded.workflow.name)


def _submitter(environ: Mapping[str, str]) -> str:
    try:
        return environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def dry_run(run: ClusterRun) -> str:
    return render_manifests_yaml(run.objects.in_creation_order())


# --- the run -----------------------------------------------------------------------------------

def run_on_cluster(options: RunOptions) -> int:
    """Entry point from the CLI (``prodigy.local.session.cook`` dispatches here)."""
    started = time.monotonic()
    # `--map` globs the user's checkout, as a local run does; the pod gets the resulting ARGs.
    options = replace(options, args=expand_inputs(options, options.repo_path), map_globs=())
    run = plan(options, os.environ)
    trace.mark("planned (workflow valid, cluster resolved)")
    # Repository transport (prodigy.k8s.transport.flow): ships the repository at HEAD and brings
    # the pod's commits back onto a local session branch, then finishes like a local run.
    from prodigy.k8s.transport.flow import attach, run_attached
    from prodigy.ui.console import Console

    console = Console(options.verbosity)
    if options.dry_run:
        attached = attach(run, options, console)
        attached.transport.close()
        print(dry_run(attached.run), end="")
        return EXIT_OK
    # Read-only cluster checks overlap the repository packing; nothing is created before
    # both are done (run_attached waits for the connection before its first side effect).
    connection = Connection.start(run)
    try:
        attached = attach(run, options, console)
        trace.mark("repository packed")
    except BaseException:
        connection.abandon()
        raise
    return run_attached(attached, console, started, connection=connection)


def preflight(kube: Kube, run: ClusterRun) -> None:
    from prodigy.k8s.admission import run_containers
    from prodigy.k8s.preflight import preflight_or_raise

    report = preflight_or_raise(kube, run.cluster.namespace, needs_secret=bool(run.inputs.credentials),
                                image_pull_secrets=run.cluster.image_pull_secrets,
                                env_secrets=[ref.secret for ref in run.cluster.secrets.values()],
                                containers=run_containers(run.cluster))
    for warning in report.warnings:   # a quota or LimitRange that will hold or refuse the pod
        _stderr(f"warning: {warning.name} {warning.detail} (hint: {warning.hint})")


class Connection:
    """``connect`` then ``preflight`` for a planned run, on a worker thread.

    Started as soon as ``plan`` has resolved the cluster, so the client import, loading the
    credentials (an exec plugin such as ``aws eks get-token`` takes a second or more) and the
    preflight round trips overlap the repository packing instead of following it. The gate
    is unchanged: ``result()`` is the only way to the connection, and it re-raises what
    connect or preflight raised, so nothing is submitted or created before preflight passed.

    Preflight reads only the run's cluster entry and whether it forwards credentials; the
    repository transport (``attach``) changes neither, so checking the plan is checking the
    run that will be submitted.
    """

    def __init__(self, run: ClusterRun, *, connect: Callable[[ClusterRun], Kube] | None = None,
                 check: Callable[[Kube, ClusterRun], None] | None = None) -> None:
        self.run = run
        self._connect = connect or _connect
        self._check = check or preflight
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
            kube = self._connect(self.run)
            self._check(kube, self.run)
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


def _connect(run: ClusterRun) -> Kube:
    from prodigy.k8s.clients import connect

    return connect(run.cluster.name, kubeconfig_path=run.cluster.kubeconfig_path, context=run.cluster.context)


def submit(kube: Kube, run: ClusterRun, display: Display, interrupts: Interrupts,
           on_job_created: Callable[[str, str], None] | None = None) -> SubmittedRun:
    from prodigy.k8s import submit as submitting
    from prodigy.k8s.errors import KubeError
    from prodigy.k8s.retry import Waiter

    job_name = run.objects.job["metadata"]["name"]

    def recorded(name: str, _uid: str) -> None:
        trace.mark(f"Job {name} created (suspended)")
        runindex.record_submitted(run_id=run.run_id, cluster=run.cluster.name, context=kube.context,
                                  namespace=run.cluster.namespace, job=name, workflow=run.workflow_name,
                                  image=run.cluster.image)
        if on_job_created is not None:   # the transport uploads its chunks while the Job is suspended
            on_job_created(name, _uid)

    try:
        submitted = submitting.submit(kube, run.objects, run_id=run.run_id, stop=interrupts.requested,
                                      waiter=Waiter.interruptible(interrupts.requested), on_job_created=recorded)
    except KubeError as exc:
        runindex.record_finished(run_id=run.run_id, outcome=runindex.Outcome.SUBMIT_FAILED, exit_code=exc.exit_code,
                                 reason=exc.message)
        _delete_partial(kube, run)
        raise
    trace.mark("Job resumed (owned objects created)")
    display.info(f"submitted Job {job_name} to cluster {run.cluster.name} (namespace {run.cluster.namespace}, "
                 f"image {run.cluster.image})")
    return submitted


def _delete_partial(kube: Kube, run: ClusterRun) -> None:
    """A submit that failed halfway leaves a suspended Job; remove it (its dependents go with it)."""
    from prodigy.k8s.cancel import delete_run
    from prodigy.k8s.submit import ObjectRef

    delete_run(kube, ObjectRef("Job", run.cluster.namespace, run.objects.job["metadata"]["name"]),
               propagation="Background")


def supervise(kube: Kube, run: ClusterRun, submitted: SubmittedRun, display: Display,
              interrupts: Interrupts) -> SupervisionResult:
    from prodigy.k8s.supervise import Supervisor

    supervisor = Supervisor(kube, submitted, display, interrupts, grace=run.cluster.grace, containers=run.containers,
                            keep_on_failure=run.cluster.ttl_seconds is None)
    return supervisor.supervise()


# --- finish ----------------------------------------------------------------------------------

def finish(kube: Kube, run: ClusterRun, submitted: SubmittedRun, result: SupervisionResult,
           started: float) -> int:
    from prodigy.k8s.supervise import RunOutcome

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
    error = failure_error(kube, run, submitted, result)
    runindex.record_finished(run_id=run.run_id, outcome=runindex.Outcome.FAILED, exit_code=error.exit_code,
                             reason=error.message.splitlines()[0])
    raise error


def failure_error(kube: Kube, run: ClusterRun, submitted: SubmittedRun, result: SupervisionResult) -> ProdigyError:
    """Gather what the diagnosis needs (events are read now, while they exist) and turn the
    diagnosis into the error the CLI prints."""
    from prodigy.k8s import report
    from prodigy.k8s.supervise import list_events

    events: list[dict[str, Any]] = []
    if result.job is not None:
        events += list_events(kube, submitted.namespace, submitted.job_uid)
    for pod in result.pods:
        events += list_events(kube, submitted.namespace, pod["metadata"]["uid"])
    text, hint = report.explain_failure(result, events, job_name=submitted.job_name,
                                        namespace=submitted.namespace, cluster=run.cluster.name,
                                        context=kube.context)
    return WorkflowFailed(text, hint=hint)


def _stderr(text: str) -> None:
    import sys

    sys.stderr.write(f"[prodigy] {text}\n")
    sys.stderr.flush()


def resume_on_cluster(session_id: str, options: RunOptions | None = None) -> int:
    from prodigy.k8s.transport.flow import resume_on_cluster as resume_with_transport

    return resume_with_transport(session_id, options)
