"""One Job with one pod, from submission to the commits on the session branch.

    pod = PodRun(kube, run, transport, interrupts, started=...)
    pod.submit()            suspended Job -> the transport's chunks and the owned objects -> resumed;
                            the termination capture armed (a deleted pod hands over its export)
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
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

from prodigy.errors import EXIT_SIGINT, EXIT_SIGTERM, ProdigyError
from prodigy.execution import RunEnd
from prodigy.k8s import phases
from prodigy.k8s.agent_report import agent_started, agent_summary, explained_summary
from prodigy.k8s.cancel import Interrupts, delete_run
from prodigy.k8s.clients import Kube
from prodigy.k8s.manifests.metadata import run_labels
from prodigy.k8s.manifests.pod import TERMINATION_GRACE_SECONDS
from prodigy.k8s.phases import ClusterRun
from prodigy.k8s.status import Display, make_display
from prodigy.k8s.submit import ObjectRef, SubmittedRun
from prodigy.k8s.supervise import RunOutcome, SupervisionResult
from prodigy.k8s.transport.capture import TerminationCapture
from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.results import CollectedResult
from prodigy.k8s.transport.run import RunTransport
from prodigy.repo.worktrees import Session
from prodigy.workflow.result import ExecutionResult

__all__ = ["PodRun"]


class PodRun:
    def __init__(self, kube: Kube, run: ClusterRun, transport: RunTransport, interrupts: Interrupts, *,
                 say: Callable[[str], None], warn: Callable[[str], None], started: float | None = None,
                 display: Callable[[], Display] | None = None) -> None:
        self.kube = kube
        self.run = run
        self.transport = transport
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

    def submit(self) -> SubmittedRun:
        run, transport, kube = self.run, self.transport, self.kube

        def upload(name: str, uid: str) -> None:
            transport.upload(kube, namespace=run.cluster.namespace, job_name=name, job_uid=uid,
                             labels=run_labels(run.inputs.identity))

        display = self.display = self._make_display()
        self._resources.callback(display.close)
        scratch = Path(tempfile.mkdtemp(prefix="prodigy-capture-"))
        self._resources.callback(shutil.rmtree, scratch, True)
        submitted = self.submitted = phases.submit(kube, run, display, self.interrupts, on_job_created=upload)
        # From here on a deleted pod (Ctrl+C, deadline, eviction) hands its last export to this
        # capture before it disappears.
        self.capture = TerminationCapture(
            kube, namespace=submitted.namespace, job_uid=submitted.job_uid, spool_dir=scratch,
            grace_seconds=TERMINATION_GRACE_SECONDS, give_up=self.interrupts.force).start()
        self._resources.callback(self.capture.close)
        return submitted

    def supervise(self) -> SupervisionResult:
        assert self.submitted is not None and self.display is not None, "submit() first"
        try:
            self.supervised = phases.supervise(self.kube, self.run, self.submitted, self.display, self.interrupts)
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
        kube, run, submitted, result = self.kube, self.run, self.submitted, self.supervised
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
            self._land_captured(session, captured, state_dest)
            return RunEnd(None, problem=problem)
        if captured is not None:
            self._land_captured(session, captured, state_dest)
        elif result.stuck is None and agent_started(result.pods):
            # Only a workflow that started can have commits; collecting from a pod that never ran
            # would only add a confusing warning under the real diagnosis.
            try:
                self.transport.collect_and_land(kube, session, namespace=run.cluster.namespace,
                                                job_name=submitted.job_name, say=self.say, state_dest=state_dest)
            except (TransportError, ProdigyError) as exc:
                self.warn(f"could not bring the pod's commits back: {exc.message}")
        summary = agent_summary(result.pods)
        if summary is None:
            # The workflow never reported (image, scheduling, init container, OOM of the agent):
            # the cluster's diagnosis is the error; the session is kept for `prodigy resume`.
            return RunEnd(None, problem=problem)
        summary = explained_summary(summary, result.tails)     # a crash reads as its message + the log's end
        return RunEnd(ExecutionResult.from_summary(summary, time.monotonic() - self.started), problem=problem)

    def _land_captured(self, session: Session, captured: CollectedResult | None, state_dest: Path | None) -> None:
        capture = self.capture
        if captured is None:
            if capture is not None and capture.triggered and not capture.read_nothing:
                why = capture.error or ("a second Ctrl+C stopped the wait" if capture.give_up.is_set()
                                        else "the pod ended before its results were read")
                self.warn(f"the commits made in the pod since this run started may be lost: {why}")
            return
        try:
            self.transport.land(session, captured, state_dest=state_dest)
        except (TransportError, ProdigyError) as exc:
            self.warn(f"could not bring the pod's commits back: {exc.message}")

    def cancel(self) -> None:
        """Delete the Job; its pods, ConfigMaps and Secret go with it (owner references)."""
        delete_run(self.kube, ObjectRef("Job", self.run.cluster.namespace, self.run.job_name))

    def close(self) -> None:
        self._resources.close()
