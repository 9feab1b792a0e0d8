"""One Job with one pod, from submission to the commits on the session branch.

    pod = PodRun(kube, run, transport, interrupts, started=...)
    pod.submit()            suspended Job -> the transport's chunks and the owned objects -> resumed;
                            the termination capture armed (a deleted pod hands over its export)
    pod.adopt(submitted)    or: follow a Job submitted earlier (`cluster attach`, `cluster cancel`)
    pod.supervise()         watch, stream the logs, status line, grace windows, Ctrl+C
    end = pod.collect(session)   the verdict (run index, diagnosis) and the pod's commits landed
    pod.close()

`prodigy.k8s.executor.ClusterExecutor` runs a whole workflow this way; a MapReduce session on
a cluster runs its setup, its reduce and each merge conflict this way (`prodigy.k8s.mapreduce`).
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import EXIT_FAILURE, EXIT_OK, EXIT_SIGINT, EXIT_SIGTERM, ProdigyError
from prodigy.execution import RunEnd
from prodigy.k8s import phases, runlog
from prodigy.k8s.agent_report import agent_started, agent_summary, explained_summary
from prodigy.k8s.cancel import Interrupts, delete_run
from prodigy.k8s.clients import Kube
from prodigy.k8s.diagnose import oom_killed
from prodigy.k8s.errors import KubeError, NotFound
from prodigy.k8s.logs import LogCut
from prodigy.k8s.manifests.metadata import run_labels
from prodigy.k8s.manifests.pod import TERMINATION_GRACE_SECONDS
from prodigy.k8s.manifests.retention import collected_patch
from prodigy.k8s.phases import ClusterRun
from prodigy.k8s.runindex import now_iso
from prodigy.k8s.status import Display, make_display
from prodigy.k8s.submit import ObjectRef, SubmittedRun
from prodigy.k8s.supervise import RunOutcome, SupervisionResult
from prodigy.k8s.transport.capture import TerminationCapture
from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.results import CollectedResult
from prodigy.k8s.transport.run import RunTransport, collect_and_land, land_result
from prodigy.repo.worktrees import Session
from prodigy.workflow.result import ExecutionResult

__all__ = ["Landing", "PodRun", "after_collection"]


@dataclass(frozen=True)
class Landing:
    """What landing a pod's result needs: the commit it started from, and the remote it pushed to."""

    base_sha: str
    remote_url: str | None = None


class PodRun:
    def __init__(self, kube: Kube, run: ClusterRun, transport: RunTransport | None, interrupts: Interrupts, *,
                 say: Callable[[str], None], warn: Callable[[str], None], started: float | None = None,
                 display: Callable[[], Display] | None = None, landing: Landing | None = None) -> None:
        self.kube = kube
        self.run = run
        self.transport = transport        # None for a Job submitted earlier (nothing to upload)
        if landing is None:
            assert transport is not None, "a PodRun without a transport needs its landing"
            landing = Landing(transport.base_sha, transport.remote_url)
        self.landing = landing
        self.interrupts = interrupts
        self.say = say
        self.warn = warn
        self.started = time.monotonic() if started is None else started
        self._resources = ExitStack()
        self._make_display = display or make_display
        self.display: Display | None = None
        self.submitted: SubmittedRun | None = None
        self.capture: TerminationCapture | None = None
        self.supervised: SupervisionResult | None = None

    def submit(self, *, capture: bool = True) -> SubmittedRun:
        """Create the run. ``capture=False`` (a detached run nobody follows) arms no termination
        capture, unless Ctrl+C/SIGTERM came during the submission (then the run is followed to
        its cancel, as an attached run would be)."""
        run, transport, kube = self.run, self.transport, self.kube
        assert transport is not None, "only a run with its transport can be submitted"

        def upload(name: str, uid: str) -> None:
            transport.upload(kube, namespace=run.cluster.namespace, job_name=name, job_uid=uid,
                             labels=run_labels(run.inputs.identity))

        display = self._open_display()
        submitted = self.submitted = phases.submit(kube, run, display, self.interrupts, on_job_created=upload)
        if capture or self.interrupts.requested.is_set():
            self.arm_capture()
        return submitted

    def adopt(self, submitted: SubmittedRun) -> None:
        """Follow a Job submitted earlier, from now on."""
        self.submitted = submitted
        self._open_display()
        self.arm_capture()

    def _open_display(self) -> Display:
        display = self.display = self._make_display()
        self._resources.callback(display.close)
        return display

    def arm_capture(self) -> None:
        """From here on a deleted pod (Ctrl+C, deadline, eviction) hands its last export to this
        capture before it disappears."""
        submitted = self.submitted
        assert submitted is not None
        scratch = Path(tempfile.mkdtemp(prefix="prodigy-capture-"))
        self._resources.callback(shutil.rmtree, scratch, True)
        self.capture = TerminationCapture(
            self.kube, namespace=submitted.namespace, job_uid=submitted.job_uid, spool_dir=scratch,
            grace_seconds=TERMINATION_GRACE_SECONDS, give_up=self.interrupts.force).start()
        self._resources.callback(self.capture.close)

    def supervise(self, *, log_cut: LogCut | None = None) -> SupervisionResult:
        """``log_cut``: show the output from there on (a client attaching to a running run)."""
        assert self.submitted is not None and self.display is not None, "submit() or adopt() first"
        try:
            self.supervised = phases.supervise(self.kube, self.run, self.submitted, self.display, self.interrupts,
                                               log_cut=log_cut, running_for=time.monotonic() - self.started)
        finally:
            self.display.close()
        return self.supervised

    def collect(self, session: Session, *, state_dest: Path | None = None) -> RunEnd:
        """The cluster's verdict, then the pod's commits on the session branch.

        A pod deleted while it worked (Ctrl+C, activeDeadlineSeconds, eviction) exported its
        commits and checkpoint during its grace period; the capture read them before the pod was
        gone. Such a run ends like an interrupted (Ctrl+C) or failed (deadline) local run:
        commits on the session branch, worktree kept, "Resume with". ``state_dest``: where the
        pod's state goes (default: the session's state dir)."""
        kube, run, submitted, result, landing = self.kube, self.run, self.submitted, self.supervised, self.landing
        assert submitted is not None and result is not None, "supervise() first"
        # A run that got stuck (pending, or its node lost) has no export to wait for: its pod never
        # ran the workflow, or its node can no longer serve the results log.
        captured = self.capture.wait() if self.capture is not None and result.stuck is None else None
        if result.outcome is RunOutcome.CANCELLED:
            # Land first: "cancelled" is the last word, as for a local Ctrl+C.
            self._land_captured(session, captured, state_dest)
            return RunEnd(None, interrupted=phases.verdict(kube, run, submitted, result, self.started))
        problem: ProdigyError | None = None
        try:
            phases.verdict(kube, run, submitted, result, self.started)   # run index, "Job … succeeded"
        except ProdigyError as exc:
            problem = exc
        if captured is not None and result.outcome is RunOutcome.FAILED and \
                captured.summary.exit_code in (EXIT_SIGINT, EXIT_SIGTERM):
            # The cluster stopped the pod (deadline, eviction, the Job deleted): a failed run, not
            # the agent's "interrupted", since nobody here asked for it.
            if self._land_captured(session, captured, state_dest):
                after_collection(kube, run.run_id, result.job, (), say=self.warn)
            return RunEnd(None, problem=problem)
        landed = True
        if captured is not None:
            landed = self._land_captured(session, captured, state_dest)
        elif result.stuck is None and agent_started(result.pods):
            # Only a workflow that started can have commits; collecting from a pod that never ran
            # would only add a confusing warning under the real diagnosis.
            try:
                collect_and_land(kube, session, namespace=run.cluster.namespace, job_name=submitted.job_name,
                                 expected_base=landing.base_sha, remote_url=landing.remote_url, say=self.say,
                                 state_dest=state_dest)
            except (TransportError, ProdigyError) as exc:
                landed = False
                self.warn(f"could not bring the pod's commits back: {exc.message}")
        if landed:
            # Once the results are home the Job may go: keep its output here, and let a
            # detached run's Job age like any other (retention).
            after_collection(kube, run.run_id, result.job, result.pods, say=self.warn)
        summary = agent_summary(result.pods)
        if summary is None:
            # The workflow never reported (image, scheduling, init container, OOM of the agent):
            # the cluster's diagnosis is the error; the session is kept for `prodigy resume`.
            return RunEnd(None, problem=problem)
        summary = explained_summary(summary, result.tails)     # a crash reads as its message + the log's end
        reported = ExecutionResult.from_summary(summary, time.monotonic() - self.started)
        # The cluster's diagnosis explains the workflow's report only when the pod did not end by an
        # ordinary step failure: an OOM kill (on a real node the kernel kills the step, the agent
        # exits 1 and the pod says OOMKilled), a deadline, an eviction. Otherwise the step's own
        # error, which the summary prints, is the whole story.
        explains = reported.exit_code not in (EXIT_OK, EXIT_FAILURE) or oom_killed(result.pods)
        return RunEnd(reported, problem=problem if explains else None)

    def _land_captured(self, session: Session, captured: CollectedResult | None, state_dest: Path | None) -> bool:
        """Land a result captured from a pod being deleted; False when there was one and it was lost."""
        capture = self.capture
        if captured is None:
            if capture is not None and capture.triggered and not capture.read_nothing:
                why = capture.error or ("a second Ctrl+C stopped the wait" if capture.give_up.is_set()
                                        else "the pod ended before its results were read")
                self.warn(f"the commits made in the pod since this run started may be lost: {why}")
                return False
            return True
        try:
            land_result(session, captured, expected_base=self.landing.base_sha, remote_url=self.landing.remote_url,
                        state_dest=state_dest)
        except (TransportError, ProdigyError) as exc:
            self.warn(f"could not bring the pod's commits back: {exc.message}")
            return False
        return True

    def cancel(self) -> None:
        """Delete the Job; its pods, ConfigMaps and Secret go with it (owner references)."""
        delete_run(self.kube, ObjectRef("Job", self.run.cluster.namespace, self.run.job_name))

    def close(self) -> None:
        self._resources.close()


def after_collection(kube: Kube, run_id: str, job: dict[str, Any] | None, pods: Sequence[dict[str, Any]], *,
                     say: Callable[[str], None]) -> None:
    """A run's results are home: copy its output here (`cluster logs` reads it once the pod is
    gone), then let a detached run's Job age like any other (`manifests.retention`)."""
    newest = sorted(pods, key=lambda p: p.get("metadata", {}).get("creationTimestamp", ""))[-1:]
    if newest:
        meta = newest[0]["metadata"]
        runlog.save_copy(kube, str(meta.get("namespace")), str(meta["name"]), run_id)
    patch = collected_patch(job, now_iso()) if job is not None else None
    if patch is None or job is None:
        return
    meta = job["metadata"]
    try:
        kube.request("PATCH", f"/apis/batch/v1/namespaces/{meta['namespace']}/jobs/{meta['name']}", body=patch,
                     content_type="application/merge-patch+json", action=f"releasing Job {meta['name']}")
    except NotFound:
        pass
    except KubeError as exc:
        say(f"could not mark Job {meta['name']} as collected ({exc.message}); `prodigy cluster gc` removes it later")
