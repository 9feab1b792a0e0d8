"""Text for diagnoses and status lines: pure ``format_*`` functions, no terminal, no rich.

The supervisor prints what these return (``prodigy.k8s.status`` decides plain vs rich), so
the wording of every failure report is unit-tested here once.
"""

from __future__ import annotations

from datetime import datetime

from prodigy.k8s.diagnose import Diagnosis


def with_context(command: str, context: str | None) -> str:
    """``kubectl -n ns ...`` with ``--context X`` inserted, so the command reaches the right cluster."""
    if not context or not command.startswith("kubectl "):
        return command
    return f"kubectl --context {context} {command.removeprefix('kubectl ')}"


def format_pending(d: Diagnosis, now: datetime | None = None) -> str:
    """The status-line detail for a pending reason: ``image x cannot be pulled (ImagePullBackOff), gives up
    in 95s``. The category is left out: the summary says it in words, the final report names it."""
    text = d.summary
    if d.deadline is not None and now is not None and not d.terminal:
        remaining = int((d.deadline - now).total_seconds())
        if remaining > 0:
            text += f", gives up in {remaining}s"
    return text


def format_diagnosis(d: Diagnosis, *, context: str | None = None) -> list[str]:
    """The failure report, one line per element, in the order a reader needs it:
    what happened, the Kubernetes detail, the events, the last log lines, the fix, where to look."""
    lines = [f"{d.summary} [{d.category.value}]"]
    if d.detail:
        lines += [f"  {line}" for line in d.detail.splitlines() if line.strip()]
    if d.events:
        lines.append("Warning events:")
        lines += [f"  {event}" for event in d.events]
    if d.log_tail:
        source = f"{d.pod}/{d.container}" if d.pod and d.container else (d.container or "the container")
        lines.append(f"Last {len(d.log_tail)} log lines of {source}:")
        lines += [f"  | {line}" for line in d.log_tail]
    if d.hint:
        lines.append(f"hint: {d.hint}")
    if d.inspect:
        lines.append("inspect:")
        lines += [f"  {with_context(command, context)}" for command in d.inspect]
    return lines
