"""The counts a MapReduce file may give as numbers or variables, resolved before anything runs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from prodigy.errors import UsageError
from prodigy.repo.worktrees import Session
from prodigy.workflow.mapreduce import MapReduceWorkflow, resolve_count

__all__ = ["MODE_KEY", "Limits", "is_mapreduce_session", "resolve_limits"]

MODE_KEY = "mode"      # recorded in the session metadata's extra fields: "mapreduce"


@dataclass(frozen=True)
class Limits:
    """The workflow's counts, resolved (they may name variables) before anything is created."""

    max_parallel: int
    agent_timeout: int | None = None
    setup_timeout: int | None = None

    def with_max_parallel(self, max_parallel: int | None) -> Limits:
        return self if max_parallel is None else Limits(max_parallel, self.agent_timeout, self.setup_timeout)


def resolve_limits(workflow: MapReduceWorkflow, environ: Mapping[str, str]) -> Limits:
    """The counts the file gives as numbers or variables (workflow env first, then the environment)."""
    lookup = {**environ, **workflow.all_env}
    try:
        return Limits(
            max_parallel=resolve_count(workflow.map.max_parallel, lookup, what="map.max_parallel"),
            agent_timeout=resolve_count(workflow.map.agent_timeout, lookup, what="map.agent_timeout_secs")
            if workflow.map.agent_timeout else None,
            setup_timeout=resolve_count(workflow.setup.timeout, lookup, what="setup.timeout")
            if workflow.setup is not None and workflow.setup.timeout else None)
    except ValueError as error:
        where = f"{workflow.source}: " if workflow.source else ""
        raise UsageError(f"{where}{error}") from None


def is_mapreduce_session(session: Session) -> bool:
    return session.metadata.extra.get(MODE_KEY) == "mapreduce"
