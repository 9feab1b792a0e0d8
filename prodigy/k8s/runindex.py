"""The local run index, ``$PRODIGY_HOME/runs.jsonl``: the audit trail of cluster submissions.

One JSON object per line. A run writes a ``submitted`` record when its Job exists and a
``finished`` record (outcome, exit code) when the CLI is done with it. Several ``prodigy
cook --cluster`` processes append to the same file at once, so each record is written with
a single ``write`` on an ``O_APPEND`` descriptor: the kernel places every such write at the
end of the file whole, and records stay far below the size where that could tear. Nothing
ever rewrites the file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from prodigy import paths, redact

_MAX_RECORD = 3500  # stay under PIPE_BUF (4096) so even odd filesystems append atomically


class Outcome(str, Enum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    SUBMIT_FAILED = "submit-failed"
    DETACHED = "detached"          # the CLI stopped following (e.g. lost the cluster); the Job may run on


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def append(record: dict[str, Any], *, path: Path | None = None) -> None:
    path = path or paths.run_index_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    masked = redact.known().data(record)   # reasons quote errors, which may quote a workflow secret
    record = dict(masked) if isinstance(masked, dict) else record
    line = json.dumps(record, separators=(",", ":"), sort_keys=True, default=str)
    if len(line) > _MAX_RECORD:
        record = {k: (v[:200] + "…" if isinstance(v, str) and len(v) > 200 else v) for k, v in record.items()}
        line = json.dumps(record, separators=(",", ":"), sort_keys=True, default=str)
    data = (line + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def record_submitted(*, run_id: str, cluster: str, context: str | None, namespace: str, job: str,
                     workflow: str, image: str, session_id: str | None = None, repo: Path | None = None,
                     detached: bool = False, phase: str = "", path: Path | None = None) -> None:
    """``session_id`` and ``repo`` let `prodigy cluster runs` show a repository's runs (and their
    collection) after the session itself is merged and gone; ``detached``: nobody follows it;
    ``phase``: a MapReduce session runs one Job per phase (setup, map, each conflict's merge,
    reduce), and the index says which Job ran which phase."""
    record: dict[str, Any] = {"event": "submitted", "run_id": run_id, "cluster": cluster, "context": context,
                              "namespace": namespace, "job": job, "workflow": workflow, "image": image,
                              "submitted_at": now_iso(), "user": os.environ.get("USER", "")}
    if session_id:
        record["session_id"] = session_id
    if repo is not None:
        record["repo"] = str(repo)
    if detached:
        record["detached"] = True
    if phase:
        record["phase"] = phase
    append(record, path=path)


def record_finished(*, run_id: str, outcome: Outcome, exit_code: int, reason: str = "",
                    path: Path | None = None) -> None:
    append({"event": "finished", "run_id": run_id, "outcome": outcome.value, "exit_code": exit_code,
            "reason": reason, "finished_at": now_iso()}, path=path)


def record_collected(run_id: str, job: dict[str, Any], summary: dict[str, Any], exit_code: int, *,
                     path: Path | None = None) -> None:
    """The outcome of a run whose client ended early, once `cluster collect` or `resume` has
    brought its results home: the Job's verdict, not "unknown" any more."""
    if not run_id:
        return
    conditions = {c.get("type") for c in (job.get("status") or {}).get("conditions") or ()
                  if c.get("status") == "True"}
    if "Complete" in conditions:
        outcome, reason = Outcome.SUCCEEDED, "collected later"
    else:
        error = str(summary.get("error") or "the Job failed").splitlines()[0]
        outcome, reason = Outcome.FAILED, f"{error} (collected later)"
    record_finished(run_id=run_id, outcome=outcome, exit_code=exit_code, reason=reason, path=path)


@dataclass(frozen=True)
class RunRecord:
    """A submission joined with its outcome (``outcome`` None: not finished, or the CLI died)."""

    run_id: str
    cluster: str
    namespace: str
    job: str
    workflow: str
    submitted_at: str
    finished_at: str | None = None
    outcome: str | None = None
    exit_code: int | None = None
    reason: str = ""
    session_id: str | None = None     # absent in records written before detach existed
    repo: str | None = None
    detached: bool = False
    phase: str = ""                   # a MapReduce session's phase; "" for a whole workflow


def read_lines(path: Path | None = None) -> Iterator[dict[str, Any]]:
    path = path or paths.run_index_file()
    try:
        handle = path.open(encoding="utf-8")
    except FileNotFoundError:
        return
    with handle:
        for line in handle:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn or hand-edited line must not hide the rest of the history
            if isinstance(record, dict):
                yield record


def join_runs(records: Iterable[dict[str, Any]]) -> list[RunRecord]:
    """Pure: pair each ``submitted`` record with its ``finished`` record, oldest first."""
    runs: dict[str, dict[str, Any]] = {}
    for record in records:
        run_id = str(record.get("run_id") or "")
        if not run_id:
            continue
        if record.get("event") == "submitted":
            runs.setdefault(run_id, {}).update(record)
        elif record.get("event") == "finished":
            runs.setdefault(run_id, {}).update(
                {k: record.get(k) for k in ("outcome", "exit_code", "reason", "finished_at")})
    return [
        RunRecord(run_id=run_id, cluster=str(r.get("cluster", "")), namespace=str(r.get("namespace", "")),
                  job=str(r.get("job", "")), workflow=str(r.get("workflow", "")),
                  submitted_at=str(r.get("submitted_at", "")), finished_at=r.get("finished_at"),
                  outcome=r.get("outcome"), exit_code=r.get("exit_code"), reason=str(r.get("reason") or ""),
                  session_id=_text(r.get("session_id") or r.get("session")), repo=_text(r.get("repo")),
                  detached=r.get("detached") is True, phase=str(r.get("phase") or ""))
        for run_id, r in runs.items() if "submitted_at" in r
    ]


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
