"""A cluster run with its repository: `prodigy.k8s.cook`'s phases plus transport, start to finish.

    plan (cook.plan)        -> attach: spool/verify the repository (cap error here), session id,
                               base sha, original branch, git identity, pod additions
    connect, preflight      (cook)
    open the local session  branch prodigy-session-<uuid> at the base + worktree + metadata naming the Job
    submit (cook.submit)    chunk ConfigMaps uploaded while the Job is still suspended
    supervise (cook)
    finish                  cook.finish (run index, diagnosis) -> collect + land the pod's result ->
                            prodigy.local.session.finish_session, unchanged (skip / prompt / -y /
                            merge: / cleanup; keep + "Resume with" on failure)

`resume_on_cluster` collects a finished Job whose client died, or ships the branch head and the
checkpoint to a new Job on the same cluster.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy import paths
from prodigy.errors import EXIT_FAILURE, EXIT_SIGINT, EXIT_SIGTERM, ProdigyError, UsageError
from prodigy.k8s.manifests.contract import AGENT_CONTAINER
from prodigy.k8s.manifests.pod import GIT_IDENTITY_VARS
from prodigy.k8s.manifests.run import build_run_objects
from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.run import RunTransport, collect_and_land, git_identity
from prodigy.local import git as gitops
from prodigy.local import worktrees
from prodigy.options import RunOptions

if TYPE_CHECKING:
    from prodigy.k8s import cook
    from prodigy.k8s.clients import Kube
    from prodigy.k8s.cook import ClusterRun
    from prodigy.k8s.supervise import SupervisionResult
    from prodigy.k8s.transport.capture import TerminationCapture
    from prodigy.k8s.transport.results import CollectedResult
    from prodigy.local.executor import ExecutionResult
    from prodigy.local.worktrees import Session
    from prodigy.ui.console import Console


@dataclass
class AttachedRun:
    run: ClusterRun
    transport: RunTransport
    original_branch: str
    options: RunOptions


def attach(run: ClusterRun, options: RunOptions, console: Console, *, session_id: str | None = None,
           base_sha: str | None = None, resume_state: Path | None = None, history_from: str | None = None,
           environ: Mapping[str, str] | None = None) -> AttachedRun:
    """Add the repository to a planned run. No side effect on the cluster or the repository."""
    from prodigy.local.session import resolve_repo

    env = os.environ if environ is None else environ
    repo = resolve_repo(options.repo_path)
    session_id = session_id or worktrees.new_session_id()
    uncommitted = gitops.uncommitted_changes(repo)
    if uncommitted and base_sha is None:
        console.warn(f"{len(uncommitted)} uncommitted change(s) in {repo} are not included in this run "
                     "(the pod starts from the last commit)")
    transport = RunTransport.prepare(repo, run.cluster, run_id=run.run_id, session_id=session_id,
                                     base_sha=base_sha, resume_state=resume_state, history_from=history_from)
    original = worktrees.original_branch_of(repo)
    identity = replace(run.inputs.identity, session_id=session_id, base_sha=transport.base_sha,
                       original_branch=original)
    # The identity a local commit in this repository would get (env first, then git config).
    author = {**git_identity(repo), **{k: env[k] for k in GIT_IDENTITY_VARS if env.get(k)}}
    inputs = replace(run.inputs, identity=identity, git_identity=author).with_additions(transport.additions)
    planned = replace(run, inputs=inputs, objects=build_run_objects(inputs))
    return AttachedRun(planned, transport, original, options)


def run_attached(attached: AttachedRun, console: Console, started: float,
                 connection: cook.Connection | None = None) -> int:
    """connect -> preflight -> local session -> submit (+ upload) -> supervise -> finish + land.
    ``connection``: connect + preflight already under way (cook.run_on_cluster starts it early)."""
    from prodigy.k8s import cook
    from prodigy.k8s.cancel import Interrupts
    from prodigy.k8s.manifests.metadata import run_labels
    from prodigy.k8s.manifests.pod import TERMINATION_GRACE_SECONDS
    from prodigy.k8s.status import make_display
    from prodigy.k8s.transport.capture import TerminationCapture

    run, transport = attached.run, attached.transport
    console.info(transport.describe())
    interrupts = Interrupts()
    try:
        with interrupts.installed():
            kube = (connection or cook.Connection.start(run)).result()   # preflight passed
            try:
                if interrupts.requested.is_set():
                    print("cancelled (nothing was submitted)", flush=True)
                    return interrupts.exit_code
                job_name = run.objects.job["metadata"]["name"]
                resuming = gitops.branch_exists(transport.repo, transport.branch)   # `prodigy resume`
                session = transport.open_session(
                    original_branch=attached.original_branch, workflow_path=attached.options.workflow_path,
                    namespace=run.cluster.namespace, job=job_name, run_args=attached.options.args,
                    max_iterations=attached.options.max_iterations)
                if not resuming:   # a resume already said "Resuming session: ..." about this worktree
                    console.info(f"Created worktree at: {session.path}")

                def upload(name: str, uid: str) -> None:
                    transport.upload(kube, namespace=run.cluster.namespace, job_name=name, job_uid=uid,
                                     labels=run_labels(run.inputs.identity))

                display = make_display()
                capture: TerminationCapture | None = None
                with tempfile.TemporaryDirectory(prefix="prodigy-capture-") as scratch:
                    try:
                        submitted = cook.submit(kube, run, display, interrupts, on_job_created=upload)
                        # From here on a deleted pod (Ctrl+C, deadline, eviction) hands its last
                        # export to this capture before it disappears.
                        capture = TerminationCapture(
                            kube, namespace=submitted.namespace, job_uid=submitted.job_uid, spool_dir=Path(scratch),
                            grace_seconds=TERMINATION_GRACE_SECONDS, give_up=interrupts.force).start()
                        result = supervise_result = cook.supervise(kube, run, submitted, display, interrupts)
                    finally:
                        display.close()
                    try:
                        return finish(kube, attached, session, submitted.job_name, supervise_result, started,
                                      lambda: cook.finish(kube, run, submitted, result, started), console,
                                      capture=capture)
                    finally:
                        capture.close()
            finally:
                kube.close()
    finally:
        transport.close()


def finish(kube: Kube, attached: AttachedRun, session: Session, job_name: str, result: SupervisionResult,
           started: float, cluster_finish: Any, console: Console, *,
           capture: TerminationCapture | None = None) -> int:
    """The cluster's verdict, then the pod's commits, then the local finish path.

    A pod deleted while it worked (Ctrl+C, activeDeadlineSeconds, eviction) exported its commits
    and checkpoint during its grace period; ``capture`` read them before the pod was gone. Such a
    run ends like an interrupted (Ctrl+C) or failed (deadline) local run: commits on the session
    branch, worktree kept, "Resume with"."""
    from prodigy.k8s.diagnose import oom_killed
    from prodigy.k8s.supervise import RunOutcome
    from prodigy.local.session import finish_session, report_kept
    from prodigy.workflow.loader import load_workflow

    captured = capture.wait() if capture is not None else None
    if result.outcome is RunOutcome.CANCELLED:
        # Land first: "cancelled" is the last word, as for a local Ctrl+C.
        _land_captured(attached, session, captured, capture, console)
        code = cluster_finish()          # run index record, "cancelled"
        session = worktrees.update(worktrees.load_session(session.id), status=worktrees.SessionStatus.INTERRUPTED,
                                   interrupted_at=worktrees.now_iso())
        report_kept(session, console, interrupted=True)
        return int(code)
    error: ProdigyError | None = None
    try:
        code = cluster_finish()          # run index record, "Job … succeeded" or the diagnosis
    except ProdigyError as exc:
        error, code = exc, exc.exit_code
    if captured is not None and result.outcome is RunOutcome.FAILED and \
            captured.summary.exit_code in (EXIT_SIGINT, EXIT_SIGTERM):
        # The cluster stopped the pod (deadline, eviction, the Job deleted): a failed run, not
        # the agent's "interrupted", since nobody here asked for it.
        _land_captured(attached, session, captured, capture, console)
        return _keep_failed(worktrees.load_session(session.id), error, "the cluster stopped the pod", console)
    if captured is not None:
        _land_captured(attached, session, captured, capture, console)
    elif result.stuck is None and agent_started(result.pods):
        # Only a workflow that started can have commits; collecting from a pod that never ran
        # would only add a confusing warning under the real diagnosis.
        try:
            attached.transport.collect_and_land(kube, session, namespace=attached.run.cluster.namespace,
                                                job_name=job_name, say=console.info)
        except (TransportError, ProdigyError) as exc:
            console.warn(f"could not bring the pod's commits back: {exc.message}")
    session = worktrees.load_session(session.id)    # landing recorded the collection in the metadata
    summary = agent_summary(result.pods)
    if summary is None:
        # The workflow never reported (image, scheduling, init container, OOM of the agent):
        # the cluster's diagnosis is the error; the session is kept for `prodigy resume`.
        # Same order as a failed local run: the error, then where the work is and how to resume.
        return _keep_failed(session, error, "the pod did not report", console)
    if error is not None and (int(summary.get("exit_code", EXIT_FAILURE)) not in (0, EXIT_FAILURE)
                              or oom_killed(result.pods)):
        # The pod did not end by an ordinary step failure (OOM kill, deadline, eviction): the
        # cluster's diagnosis explains the step error the local summary prints next, so it
        # comes first, as the cause, not as a second "Error:". On a real node the kernel's OOM
        # killer takes the step's process, not the agent: the agent exits 1, the pod says OOMKilled.
        console.error(f"Cause: {error.message}")
        if error.hint:
            console.error(f"hint: {error.hint}")
    workflow = load_workflow(attached.options.workflow_path).workflow
    return finish_session(session, workflow, execution_result(summary, time.monotonic() - started),
                          yes=attached.options.yes, console=console, verbosity=attached.options.verbosity)


def _keep_failed(session: Session, error: ProdigyError | None, fallback: str, console: Console) -> int:
    """End a cluster run whose workflow did not finish, like a failed local run: the error,
    then where the work is kept and how to resume it."""
    from prodigy.local.session import report_kept

    worktrees.update(session, status=worktrees.SessionStatus.FAILED,
                     error=error.message.splitlines()[0] if error else fallback)
    if error is not None:
        console.error(f"Error: {error.message}")
        if error.hint:
            console.error(f"hint: {error.hint}")
    report_kept(session, console)
    return error.exit_code if error is not None else EXIT_FAILURE


def _land_captured(attached: AttachedRun, session: Session, captured: CollectedResult | None,
                   capture: TerminationCapture | None, console: Console) -> None:
    if captured is None:
        if capture is not None and capture.triggered and not capture.read_nothing:
            why = capture.error or ("a second Ctrl+C stopped the wait" if capture.give_up.is_set()
                                    else "the pod ended before its results were read")
            console.warn(f"the commits made in the pod since this run started may be lost: {why}")
        return
    try:
        attached.transport.land(session, captured)
    except (TransportError, ProdigyError) as exc:
        console.warn(f"could not bring the pod's commits back: {exc.message}")


def agent_started(pods: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> bool:
    """Did the workflow container of any pod get to run?"""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or ():
            if status.get("name") == AGENT_CONTAINER and (
                    {"running", "terminated"} & set(status.get("state") or {}) or status.get("lastState")):
                return True
    return False


def agent_summary(pods: tuple[dict[str, Any], ...] | list[dict[str, Any]]) -> dict[str, Any] | None:
    """The JSON the agent wrote to its termination message, if it got that far."""
    for pod in sorted(pods, key=lambda p: p.get("metadata", {}).get("creationTimestamp", ""), reverse=True):
        for status in (pod.get("status") or {}).get("containerStatuses") or ():
            if status.get("name") != AGENT_CONTAINER:
                continue
            message = ((status.get("state") or {}).get("terminated") or {}).get("message")
            if isinstance(message, str) and message.lstrip().startswith("{"):
                try:
                    parsed = json.loads(message)
                except ValueError:
                    return None
                return parsed if isinstance(parsed, dict) and "exit_code" in parsed else None
    return None


def execution_result(summary: Mapping[str, Any], duration: float) -> ExecutionResult:
    from prodigy.local.executor import ExecutionResult, ExecutionStatus

    try:
        status = ExecutionStatus(summary.get("status", "failed"))
    except ValueError:
        status = ExecutionStatus.FAILED
    return ExecutionResult(
        status=status, exit_code=int(summary.get("exit_code", EXIT_FAILURE)),
        steps_completed=int(summary.get("steps_completed") or 0), steps_total=int(summary.get("steps_total") or 0),
        steps_skipped=0, duration=duration, base_sha=summary.get("base_sha"), head_sha=summary.get("head_sha"),
        failed_step=summary.get("failed_step"), error=summary.get("error"))


# ---------------------------------------------------------------------- resume / collect

def resume_on_cluster(session_id: str, options: RunOptions | None = None) -> int:
    """`prodigy resume SESSION` for a session that ran on a cluster."""
    from prodigy.k8s import cook
    from prodigy.ui.console import Console

    session = worktrees.load_session(session_id)
    info: dict[str, Any] = dict(session.metadata.extra.get("cluster") or {})
    if session.metadata.status in (worktrees.SessionStatus.MERGED, worktrees.SessionStatus.CLEANED_UP):
        raise UsageError(f"session {session.id} already finished ({session.metadata.status.value}); nothing to resume")
    workflow_file = (options.workflow_path if options and options.workflow_path else None) or \
        (Path(session.metadata.workflow_path) if session.metadata.workflow_path else None)
    if workflow_file is None:
        raise UsageError(f"session {session.id} does not record its workflow file",
                         hint=f"pass it: prodigy cook WORKFLOW --resume {session.id}")
    console = Console(options.verbosity if options else 0)
    run_options = RunOptions(
        workflow_path=workflow_file, repo_path=session.repo, yes=bool(options and options.yes),
        args=session.metadata.run_args, max_iterations=session.metadata.max_iterations,
        verbosity=options.verbosity if options else 0, cluster=info["cluster"], namespace=info.get("namespace"),
        image=options.image if options else None)
    started = time.monotonic()
    if not info.get("collected"):
        collected = _collect_if_finished(session, info, run_options, console, started)
        if collected is not None:
            return collected
    head = gitops.head_sha(session.path) if session.path.is_dir() else None
    branch_head = head or gitops.git("rev-parse", session.branch, cwd=session.repo).stdout.strip()
    console.info(f"Resuming session: {session.id} on cluster {info['cluster']} from {branch_head[:12]}")
    run = cook.plan(run_options, os.environ)
    state = paths.state_dir(session.id)
    attached = attach(run, run_options, console, session_id=session.id, base_sha=branch_head,
                      resume_state=state if state.is_dir() else None, history_from=session.metadata.base_sha)
    worktrees.update(session, status=worktrees.SessionStatus.IN_PROGRESS)
    return run_attached(attached, console, started)


def collect_session(name: str, options: RunOptions | None = None) -> int:
    """`prodigy cluster collect SESSION|RUN_ID`: land a finished Job's commits, then finish as usual."""
    from prodigy.ui.console import Console

    session = _find_cluster_session(name)
    info: dict[str, Any] = dict(session.metadata.extra.get("cluster") or {})
    console = Console(options.verbosity if options else 0)
    if info.get("collected"):
        console.info(f"the results of Job {info.get('job')} were already collected into {session.branch}")
        return 0
    workflow = Path(session.metadata.workflow_path) if session.metadata.workflow_path else None
    if workflow is None:
        raise UsageError(f"session {session.id} does not record its workflow file")
    run_options = RunOptions(workflow_path=workflow, repo_path=session.repo, yes=bool(options and options.yes),
                             verbosity=options.verbosity if options else 0, cluster=info["cluster"])
    code = _collect_if_finished(session, info, run_options, console, time.monotonic())
    if code is None:
        raise UsageError(f"Job {info.get('job')} of session {session.id} no longer exists, so its commits are gone",
                         hint=f"run the remaining steps again with `prodigy resume {session.id}`")
    return code


def _find_cluster_session(name: str) -> Session:
    """A session by id, or the session whose cluster run has this run id."""
    if name.startswith(worktrees.SESSION_PREFIX):
        session = worktrees.load_session(name)
        if "cluster" not in session.metadata.extra:
            raise UsageError(f"session {name} ran locally; there is nothing to collect from a cluster")
        return session
    for session in worktrees.list_sessions():
        if (session.metadata.extra.get("cluster") or {}).get("run_id") == name:
            return session
    raise UsageError(f"no cluster session or run id {name!r} is known here",
                     hint="`prodigy worktree ls` lists sessions; `prodigy cluster runs` lists run ids")


def _collect_if_finished(session: Session, info: Mapping[str, Any], options: RunOptions, console: Console,
                         started: float) -> int | None:
    """A previous client died after submitting: land the Job's result if it finished and still exists."""
    from prodigy.k8s.clients import connect
    from prodigy.k8s.config.loader import load_kubernetes_config
    from prodigy.k8s.config.resolve import ClusterOverrides, resolve_cluster
    from prodigy.k8s.errors import NotFound
    from prodigy.local.session import finish_session
    from prodigy.workflow.loader import load_workflow

    loaded = load_kubernetes_config()
    cluster = resolve_cluster(loaded.config, info["cluster"], ClusterOverrides(namespace=info.get("namespace")),
                              [info["cluster"]], config_path=loaded.path)
    kube = connect(cluster.name, kubeconfig_path=cluster.kubeconfig_path, context=cluster.context)
    try:
        namespace, job_name = info["namespace"], info["job"]
        try:
            job = kube.request("GET", f"/apis/batch/v1/namespaces/{namespace}/jobs/{job_name}")
        except NotFound:
            console.info(f"Job {job_name} is gone (TTL); running the remaining steps again")
            return None
        conditions = {c.get("type") for c in (job.get("status") or {}).get("conditions") or ()
                      if c.get("status") == "True"}
        if not conditions & {"Complete", "Failed"}:
            raise UsageError(f"Job {job_name} of session {session.id} is still running on cluster {cluster.name}",
                             hint="wait for it to finish, then run this command again to collect its commits "
                                  f"(`prodigy cluster collect {session.id}` and `prodigy resume {session.id}` both do)")
        console.info(f"Collecting the results of Job {job_name} (session {session.id})")
        collect_and_land(kube, session, namespace=namespace, job_name=job_name, expected_base=info["base_sha"],
                         remote_url=cluster.repo.remote_url if info.get("repo_mode") == "remote" else None,
                         say=console.info)
        pods = kube.request("GET", f"/api/v1/namespaces/{namespace}/pods",
                            query=[("labelSelector", f"job-name={job_name}")]).get("items", [])
        summary = agent_summary(pods) or {"status": "failed", "exit_code": EXIT_FAILURE,
                                          "error": f"Job {job_name} ended without a workflow summary"}
        workflow = load_workflow(options.workflow_path).workflow
        session = worktrees.load_session(session.id)
        return finish_session(session, workflow, execution_result(summary, time.monotonic() - started),
                              yes=options.yes, console=console, verbosity=options.verbosity)
    finally:
        kube.close()
