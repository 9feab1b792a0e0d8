"""What a build of the run's objects takes: who submitted what, where to, and with which extras.

Frozen values only. ``JobSpecInputs`` is decided once, before any side effect (the plan phase
of ``prodigy.k8s.phases``), and every builder in this package is a function of it, so the same
inputs always give the same objects: what ``--dry-run`` prints is what a run sends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

from prodigy import __version__
from prodigy.k8s import names
from prodigy.k8s.config.resolve import ResolvedCluster
from prodigy.k8s.manifests.additions import PodAdditions


@dataclass(frozen=True)
class RunIdentity:
    """Who submitted what, and the ids that name the run's objects."""

    run_id: str
    session_id: str
    workflow_name: str
    workflow_file: str                   # as the user wrote it, for the annotation
    submitted_by: str
    submitted_at: datetime
    prodigy_version: str = __version__
    base_sha: str | None = None
    original_branch: str | None = None
    phase: str = ""                      # a MapReduce session's phase (setup, map, merge, reduce); "" otherwise


@dataclass(frozen=True)
class RunNames:
    job: str
    configmap: str
    secret: str

    @classmethod
    def for_run(cls, identity: RunIdentity) -> RunNames:
        return cls(
            job=names.job_name(identity.workflow_name, identity.run_id, phase=identity.phase),
            configmap=names.workflow_configmap_name(identity.run_id),
            secret=names.credentials_secret_name(identity.run_id),
        )


@dataclass(frozen=True)
class JobSpecInputs:
    identity: RunIdentity
    cluster: ResolvedCluster
    workflow_text: str
    credentials: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    git_identity: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    agent_args: tuple[str, ...] = ()     # extra `prodigy agent execute` arguments (e.g. --args X)
    additions: PodAdditions = PodAdditions()
    detached: bool = False               # --detach: no TTL until collected (manifests/retention.py)

    @property
    def names(self) -> RunNames:
        return RunNames.for_run(self.identity)

    def with_additions(self, more: PodAdditions) -> JobSpecInputs:
        return replace(self, additions=self.additions + more)
