"""Turn a failed supervision into the error the user reads: diagnosis first, then the fix.

The container's last log lines are not repeated: a cluster run streams them live, so they
are already on the user's screen right above the report.

Gathering (events, log tails) happened in the supervisor; the classification is
``diagnose.diagnose`` and the wording ``render.format_diagnosis``. This module only picks
the right inputs for the ending at hand and splits the report into message and hint.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from prodigy.k8s.diagnose import Category, Diagnosis, diagnose
from prodigy.k8s.render import format_diagnosis
from prodigy.k8s.supervise import SupervisionResult


def explain_failure(result: SupervisionResult, events: Sequence[dict[str, Any]], *, job_name: str, namespace: str,
                    cluster: str, context: str | None = None, now: datetime | None = None) -> tuple[str, str | None]:
    """(message, hint) for the CLI's ``Error:``/``hint:`` lines."""
    found: Diagnosis | None = result.stuck
    if found is None and result.job_deleted:
        # Not a failure of the workflow: the pods' SIGTERM exit says nothing more than this.
        found = Diagnosis(Category.JOB_DELETED, result.reason, terminal=True,
                          hint="someone deleted the Job (kubectl delete job, a cleanup script); the commits the pod "
                               "exported before it stopped are kept: resume the session to run the remaining steps")
    if found is None and result.job is not None:
        found = diagnose(result.job, list(result.pods), list(events), result.tails, now or datetime.now(UTC))
    if found is None:
        reason = result.reason or (result.end.reason if result.end else "") or "failed"
        found = Diagnosis(Category.JOB_FAILED, f"the Job failed: {reason}", terminal=True,
                          detail=result.end.message if result.end else "",
                          hint=f"kubectl -n {namespace} describe job {job_name}")
    # The supervisor streamed every log line it keeps a tail of: the user has just read them,
    # so the report does not print them a second time.
    lines = format_diagnosis(replace(found, log_tail=()), context=context)
    hint = found.hint or None
    body = [line for line in lines if not line.startswith("hint: ")]
    head = f"workflow failed on cluster {cluster!r} (job {job_name}): {body[0]}"
    return "\n".join([head, *body[1:]]), hint
