"""What a phase's pod says besides its commits, read on the CLI side. Everything a pod writes is
hostile: the reports are parsed with their types checked and their texts bounded.

    setup_report(state_dir)     the items setup chose, how, and what setup captured
    agent_report(state_dir)     how an item's agent ended: error, failed step, output, duration
    failure_of(report, pod)     an item's failure in words, from its report or else its pod
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from prodigy.errors import WorkflowFailed
from prodigy.k8s.agent_report import agent_summary
from prodigy.k8s.diagnose import pod_phase_summary
from prodigy.mapreduce import layout

__all__ = ["SetupReport", "agent_report", "failure_of", "setup_report"]

OUTPUT_LIMIT: Final = 64 * 1024          # as `${map.results[N].output}` locally (the log keeps it all)
TEXT_LIMIT: Final = 16 * 1024


def _text(value: object, limit: int = TEXT_LIMIT) -> str | None:
    if not isinstance(value, str):
        return None
    return value if len(value) <= limit else value[:limit] + "\n… (truncated)\n"


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


@dataclass(frozen=True)
class SetupReport:
    items: list[Any]
    lines: tuple[str, ...]
    found: int
    selected: int
    source: str
    captured: Mapping[str, Any]


def setup_report(state_dir: Path) -> SetupReport:
    data = _read(state_dir / layout.POD_SETUP_REPORT)
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise WorkflowFailed("the setup pod reported no work items (its report is missing or malformed)")
    lines = tuple(line for line in data.get("lines") or () if isinstance(line, str))
    captured = data.get("captured") if isinstance(data.get("captured"), dict) else {}
    found, selected = data.get("found"), data.get("selected")
    return SetupReport(items=list(data["items"]), lines=lines,
                       found=found if isinstance(found, int) else len(data["items"]),
                       selected=selected if isinstance(selected, int) else len(data["items"]),
                       source=_text(data.get("source"), 500) or "the map input", captured=captured or {})


def agent_report(state_dir: Path) -> dict[str, Any]:
    """``end``, ``error``, ``failed_step``, ``output``, ``duration``; {} when there is none."""
    data = _read(state_dir / layout.POD_AGENT_REPORT)
    if not isinstance(data, dict):
        return {}
    duration = data.get("duration")
    return {"end": _text(data.get("end"), 32) or "", "error": _text(data.get("error")),
            "failed_step": _text(data.get("failed_step"), 2000), "output": _text(data.get("output"), OUTPUT_LIMIT) or "",
            "duration": float(duration) if isinstance(duration, int | float) and duration >= 0 else 0.0}


def failure_of(report: Mapping[str, Any], pod: Mapping[str, Any] | None) -> tuple[str, str | None]:
    """The error and the failed step of a failed item."""
    if report.get("error"):
        return str(report["error"]), report.get("failed_step")
    summary = agent_summary([dict(pod)]) if pod is not None else None
    if summary and isinstance(summary.get("error"), str) and summary["error"]:
        step = summary.get("failed_step")
        return summary["error"], step if isinstance(step, str) else None
    if pod is None:
        return "the item's pod failed and is gone (its failures used up the retries)", None
    return f"the item's pod failed: {pod_phase_summary(pod)}", None
