"""Setup, reduce and each merge conflict of a cluster MapReduce session: one pod each, run as a
standard cluster run is (`prodigy.k8s.podrun.PodRun`): the session's branch shipped at the
commit the phase starts from, the workflow streamed to the terminal, the pod's commits landed on
the session branch (the session worktree fast-forwards), its state in a scratch directory for
the caller to check and file.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from prodigy.execution import RunEnd
from prodigy.k8s.manifests.run import build_run_objects
from prodigy.k8s.mapreduce.context import SessionContext
from prodigy.k8s.names import new_run_id
from prodigy.k8s.phases import ClusterRun
from prodigy.k8s.podrun import PodRun
from prodigy.k8s.status import Display
from prodigy.k8s.transport.run import RunTransport

__all__ = ["PhasePod", "run_phase_pod"]


@dataclass(frozen=True)
class PhasePod:
    phase: str                               # setup | reduce | merge
    base_sha: str                            # the pod checks the session branch out here
    agent_args: tuple[str, ...]
    history_from: str | None = None          # also ship the commits history_from..base_sha
    extra_tips: tuple[str, ...] = ()         # and these (an agent's branch, for its merge)
    state: Path | None = None                # a directory the pod gets as its state dir


@dataclass(frozen=True)
class PhaseEnd:
    end: RunEnd
    state: Path                              # what the pod left in its state dir (delete when done)


def run_phase_pod(ctx: SessionContext, spec: PhasePod, *,
                  display: Callable[[], Display] | None = None) -> PhaseEnd:
    run_id = new_run_id()
    session = ctx.session
    history = spec.history_from if spec.history_from and spec.history_from != spec.base_sha else None
    transport = RunTransport.prepare(ctx.request.repo, ctx.cluster, run_id=run_id, session_id=session.id,
                                     base_sha=spec.base_sha, resume_state=spec.state, history_from=history,
                                     extra_tips=spec.extra_tips)
    scratch = Path(tempfile.mkdtemp(prefix=f"prodigy-{spec.phase}-"))
    pod: PodRun | None = None
    try:
        inputs = ctx.inputs(phase=spec.phase, run_id=run_id, base_sha=transport.base_sha,
                            agent_args=spec.agent_args).with_additions(transport.additions)
        run = ClusterRun(ctx.cluster, inputs, build_run_objects(inputs), ctx.request.workflow.name, ctx.request.repo)
        pod = PodRun(ctx.kube, run, transport, ctx.interrupts, say=ctx.console.info, warn=ctx.console.warn,
                     display=display)
        ctx.job_started(run.job_name, run_id, transport.base_sha)
        try:
            pod.submit()
            pod.supervise()
            end = pod.collect(ctx.session, state_dest=scratch / "state")
        finally:
            ctx.job_ended(run.job_name)
        return PhaseEnd(end, scratch / "state")
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    finally:
        if pod is not None:
            pod.close()
        transport.close()
