"""What the agent container of a run's pod reported, read from pod statuses. Pure functions
over wire-shaped pod dicts (as the API returns them)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from prodigy.errors import EXIT_INTERNAL
from prodigy.k8s.manifests.contract import AGENT_CONTAINER


def agent_started(pods: Sequence[dict[str, Any]]) -> bool:
    """Did the workflow container of any pod get to run?"""
    for pod in pods:
        for status in (pod.get("status") or {}).get("containerStatuses") or ():
            if status.get("name") == AGENT_CONTAINER and (
                    {"running", "terminated"} & set(status.get("state") or {}) or status.get("lastState")):
                return True
    return False


def agent_summary(pods: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The JSON the agent wrote to its termination message, if it got that far (newest pod first)."""
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


CRASH_TAIL_LINES = 6


def explained_summary(summary: Mapping[str, Any], tails: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The summary with an error a user can act on whenever the workflow did not succeed.

    The agent reports its own error; when it crashed (a bug, exit 3) the last lines of its log
    (the traceback's end) are added, and a failed summary with no error at all (an agent that
    died while reporting) gets the exit code and those lines — never an empty ``Error: None``.
    ``tails`` maps ``"pod/container"`` to the last log lines the supervisor kept.
    """
    out = dict(summary)
    failed = out.get("status") != "completed" or out.get("exit_code") not in (0, None)
    error = out.get("error") if isinstance(out.get("error"), str) and out.get("error") else None
    crashed = bool(out.get("crashed")) or out.get("exit_code") == EXIT_INTERNAL
    if not failed or (error is not None and not crashed):
        return out
    lines = _agent_tail(tails)
    if error is None:
        error = f"the workflow container ({AGENT_CONTAINER}) exited with code {out.get('exit_code')} without an error"
    if lines:
        error += "\nlast lines of its log:\n" + "\n".join(f"  {line}" for line in lines[-CRASH_TAIL_LINES:])
    out["error"] = error
    return out


def _agent_tail(tails: Mapping[str, Sequence[str]]) -> list[str]:
    for key, lines in tails.items():
        if key == AGENT_CONTAINER or key.endswith(f"/{AGENT_CONTAINER}"):
            return [line for line in lines if line.strip()]
    return []
