"""One MapReduce run, as the application layer decided it, for whichever executor runs it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prodigy.workflow.mapreduce import MapReduceWorkflow

__all__ = ["MapReduceRequest"]


@dataclass(frozen=True)
class MapReduceRequest:
    """Read once, checked: the workflow and the exact text it came from (a cluster run ships it)."""

    workflow: MapReduceWorkflow
    workflow_path: Path
    repo: Path
    original_branch: str
    args: tuple[str, ...]
    verbosity: int
    environ: Mapping[str, str]
    uncommitted: tuple[str, ...] = ()
    text: str = ""
