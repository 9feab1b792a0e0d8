"""What the agent container of a run's pod reported, read from pod statuses. Pure functions
over wire-shaped pod dicts (as the API returns them)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

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
