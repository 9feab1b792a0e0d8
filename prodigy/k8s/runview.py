"""`prodigy cluster runs`: the local run index joined with what the cluster says now. Pure.

Three sources meet here, each for what only it knows:

- the run index (`runindex.RunRecord`): every submission from this machine, its session and
  repository, and the outcome its client saw (none yet for a detached run);
- the sessions (the application layer passes ``collected``): whether the run's commits are home;
- the cluster (`LiveGroup`, one list of Jobs and one of pods per cluster and namespace, however
  many runs): phase, and the current step, read from the tail of the workflow's own output.

    RunRow              one line of the table
    live_phase(...)     Job + pods -> "Running", "Pending: ImagePullBackOff", "Succeeded"...
    needs_live(...)     whether a run's state can still change (only those are looked up)
    build_rows(...)     the join
    format_table(rows)  kubectl-style columns, hostile text made printable
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from prodigy.k8s.diagnose import pod_phase_summary
from prodigy.k8s.manifests.existing import parse_time
from prodigy.k8s.progress import JobVerdict, job_end
from prodigy.k8s.runindex import RunRecord
from prodigy.ui.steps import StepHeader, printable, shorten

Obj = Mapping[str, Any]

STEP_WIDTH = 36
PHASE_WIDTH = 40
REASON_WIDTH = 70

# What the index says a run ended as, once its client finished it.
FINAL_OUTCOMES = ("succeeded", "failed", "cancelled", "submit-failed")


@dataclass(frozen=True)
class LiveRun:
    """One run as the cluster shows it now."""

    job: Obj | None = None
    pods: tuple[Obj, ...] = ()
    step: StepHeader | None = None


@dataclass(frozen=True)
class LiveGroup:
    """One cluster + namespace: the prodigy Jobs and pods in it, by run id; or why it could not be read."""

    runs: Mapping[str, LiveRun] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class RunRow:
    run_id: str
    session: str
    workflow: str
    where: str
    phase: str
    step: str
    age: str
    outcome: str
    collected: str
    reason: str
    active: bool          # the run can still change (for --watch: stop when none is)


def group_key(record: RunRecord) -> tuple[str, str]:
    return record.cluster, record.namespace


def needs_live(record: RunRecord, collected: str | None) -> bool:
    """Ask the cluster only about runs whose state may still change or whose results wait there."""
    if record.outcome is None:
        return True
    return record.outcome in ("succeeded", "failed") and collected == "no"


def live_phase(job: Obj | None, pods: Sequence[Obj]) -> str:
    if job is None:
        return "Gone"
    end = job_end(job)
    if end is not None and end.final:
        if end.verdict is JobVerdict.SUCCEEDED:
            return "Succeeded"
        return f"Failed: {end.reason}" if end.reason else "Failed"
    if (job.get("spec") or {}).get("suspend"):
        return "Submitted"
    if pods:
        newest = sorted(pods, key=lambda p: (p.get("metadata") or {}).get("creationTimestamp") or "")[-1]
        if (newest.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            return "Completing"       # the pod is done; the Job's verdict follows in a moment
        return pod_phase_summary(newest)
    return "Waiting for the pod"


def _going(job: Obj | None) -> bool:
    """The Job exists and has not reached its final condition."""
    if job is None:
        return False
    end = job_end(job)
    return end is None or not end.final


def age(submitted_at: str, now: datetime) -> str:
    moment = parse_time(submitted_at)
    if moment is None:
        return "?"
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def short_session(session_id: str | None) -> str:
    """``session-1b2c3d4e-…`` -> ``1b2c3d4e`` (the table's width; commands take the run id)."""
    if not session_id:
        return "-"
    return session_id.removeprefix("session-")[:8]


def _outcome(record: RunRecord, live: LiveRun | None) -> str:
    if record.outcome:
        return record.outcome
    if live is None:
        return "-"
    end = job_end(live.job)
    if end is not None and end.final:
        return end.verdict.value
    return "running" if live.job is not None else "unknown"


def build_rows(records: Sequence[RunRecord], collected: Mapping[str, str],
               live: Mapping[tuple[str, str], LiveGroup], now: datetime) -> list[RunRow]:
    """Join, oldest first. ``collected``: run id -> yes | no | merged | removed (what the
    sessions say); ``live``: the groups that were looked up (runs in other groups are history)."""
    rows = []
    for record in records:
        group = live.get(group_key(record))
        run: LiveRun | None = None
        if group is None or not needs_live(record, collected.get(record.run_id)):
            phase, step = "-", ""
        elif group.error is not None:
            phase, step = "?", ""
        else:
            run = group.runs.get(record.run_id, LiveRun())
            phase = live_phase(run.job, run.pods)
            step = run.step.describe() if run.step is not None and _going(run.job) else ""
        active = run is not None and _going(run.job)
        outcome = _outcome(record, run)
        state = collected.get(record.run_id, "")
        if active or outcome in ("running", "-", "cancelled", "submit-failed"):
            state = state if state in ("yes", "merged") else "-"
        rows.append(RunRow(
            run_id=record.run_id, session=short_session(record.session_id),
            workflow=f"{record.workflow} ({record.phase})" if record.phase else record.workflow,
            where=f"{record.cluster}/{record.namespace}", phase=phase, step=step, age=age(record.submitted_at, now),
            outcome=outcome, collected=state or "-", reason=record.reason, active=active))
    return rows


HEADER = ("RUN", "SESSION", "WORKFLOW", "CLUSTER", "PHASE", "STEP", "AGE", "OUTCOME", "COLLECTED", "REASON")


def format_table(rows: Sequence[RunRow], *, notes: Sequence[str] = ()) -> list[str]:
    """kubectl-style columns; every value from outside (workflow names, step text, reasons)
    is made printable and cut to its column's width."""
    if not rows:
        return ["no cluster runs recorded yet", *notes]
    table = [HEADER] + [
        (row.run_id, row.session, shorten(printable(row.workflow), 24), printable(row.where),
         shorten(printable(row.phase), PHASE_WIDTH), shorten(printable(row.step), STEP_WIDTH) or "-", row.age,
         printable(row.outcome), row.collected, shorten(printable(row.reason), REASON_WIDTH))
        for row in rows
    ]
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER) - 1)]
    lines = ["  ".join([*(cell.ljust(width) for cell, width in zip(line, widths)), line[-1]]).rstrip()
             for line in table]
    return [*lines, *notes]
