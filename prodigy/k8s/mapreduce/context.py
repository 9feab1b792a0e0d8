"""What every Job of one cluster MapReduce session shares: the connection, the cluster, the
shipped workflow, the credentials, the session; and the Jobs alive right now (Ctrl+C deletes
them all). Each phase asks it for the `JobSpecInputs` of its Job.
"""

from __future__ import annotations

import getpass
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from prodigy.k8s.cancel import CANCEL_WAIT_SECONDS, Interrupts, delete_run
from prodigy.k8s.clients import Kube
from prodigy.k8s.errors import KubeError, NotFound
from prodigy.k8s.config.resolve import ResolvedCluster
from prodigy.k8s.manifests.inputs import JobSpecInputs, RunIdentity
from prodigy.k8s.shipped_workflow import ShippedWorkflow
from prodigy.k8s.submit import ObjectRef
from prodigy.mapreduce.limits import Limits
from prodigy.mapreduce.request import MapReduceRequest
from prodigy.repo import worktrees
from prodigy.repo.placement import ClusterPlacement, place, placement_of
from prodigy.repo.worktrees import Session
from prodigy.ui.console import Console

__all__ = ["SessionContext", "submitter"]


def submitter(environ: Mapping[str, str]) -> str:
    try:
        return environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@dataclass
class SessionContext:
    kube: Kube
    cluster: ResolvedCluster
    request: MapReduceRequest
    shipped: ShippedWorkflow
    credentials: Mapping[str, str]
    git_identity: Mapping[str, str]
    interrupts: Interrupts
    console: Console
    limits: Limits
    session: Session
    started: float = field(default_factory=time.monotonic)
    _jobs: dict[str, ObjectRef] = field(default_factory=dict)      # every Job this process created
    _live: set[str] = field(default_factory=set)                    # those a phase still follows
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def namespace(self) -> str:
        return self.cluster.namespace

    def inputs(self, *, phase: str, run_id: str, base_sha: str, agent_args: tuple[str, ...]) -> JobSpecInputs:
        request = self.request
        identity = RunIdentity(
            run_id=run_id, session_id=self.session.id, workflow_name=request.workflow.name,
            workflow_file=str(request.workflow_path), submitted_by=submitter(request.environ),
            submitted_at=datetime.now(UTC), base_sha=base_sha, original_branch=request.original_branch, phase=phase)
        args: list[str] = []
        if request.args:
            args += ["--args", request.args[0]]
        return JobSpecInputs(identity=identity, cluster=self.cluster, workflow_text=self.shipped.text,
                             credentials={**self.credentials, **self.shipped.secret_env},
                             git_identity=dict(self.git_identity), agent_args=(*agent_args, *args))

    # --- the Jobs of this session that exist now -------------------------------------------------

    def job_started(self, job_name: str, run_id: str, base_sha: str) -> None:
        """A phase's Job exists: Ctrl+C must delete it; the session records it (placement)."""
        with self._lock:
            self._jobs[job_name] = ObjectRef("Job", self.namespace, job_name)
            self._live.add(job_name)
            session = worktrees.load_session(self.session.id)
            previous = placement_of(session)
            self.session = place(session, ClusterPlacement(
                cluster=self.cluster.name, namespace=self.namespace, job=job_name, run_id=run_id, base_sha=base_sha,
                repo_mode=self.cluster.repo.mode, context=self.kube.context,
                collected=False, head_sha=previous.head_sha if previous else None))

    def job_ended(self, job_name: str) -> None:
        with self._lock:
            self._live.discard(job_name)

    def delete_jobs(self) -> None:
        """Ctrl+C: every Job of the session (its finished phases' too), with their pods and
        dependents; the ones still running first."""
        with self._lock:
            live = [self._jobs[name] for name in self._live if name in self._jobs]
            done = [ref for name, ref in self._jobs.items() if name not in self._live]
            self._live.clear()
        refs = [*live, *done]
        for ref in refs:
            delete_run(self.kube, ref)
        # Foreground: a Job goes once its pods are gone. Wait for that (bounded), so that the
        # command returns with nothing of the session left running on the cluster.
        deadline = time.monotonic() + CANCEL_WAIT_SECONDS
        waiting = list(refs)
        while waiting and time.monotonic() < deadline and not self.interrupts.force.is_set():
            waiting = [ref for ref in waiting if _exists(self.kube, ref)]
            if waiting:
                time.sleep(0.25)


def _exists(kube: Kube, ref: ObjectRef) -> bool:
    try:
        kube.request("GET", ref.path, action=f"reading {ref.kind} {ref.name}")
    except NotFound:
        return False
    except KubeError:
        return False          # cannot tell: do not hold the user's Ctrl+C on it
    return True
