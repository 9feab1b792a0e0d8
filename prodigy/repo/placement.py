"""Where a session runs: the typed record of a cluster session, written and read only here.

A session that ran on a cluster records its Job in the session metadata, so that `prodigy
resume`, `prodigy cluster collect` and the admin commands know where to look even after the
client that submitted it died. On disk it is the ``cluster`` object of the metadata JSON (the
same keys as before this module existed, so older sessions still read).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from prodigy.errors import UsageError
from prodigy.repo import worktrees
from prodigy.repo.worktrees import Session

_KEY = "cluster"


@dataclass(frozen=True)
class ClusterPlacement:
    """A session's cluster run: enough to find its Job again and land its result."""

    cluster: str                  # the name given to --cluster (an entry or a kubeconfig context)
    namespace: str
    job: str
    run_id: str
    base_sha: str                 # the commit the pod started from
    repo_mode: str = "bundle"     # bundle | remote (transport)
    context: str | None = None    # the kubeconfig context the run used, when known
    collected: bool = False       # the pod's commits and checkpoint are on the session branch
    head_sha: str | None = None   # the branch head the collection landed

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, session_id: str) -> ClusterPlacement:
        try:
            return cls(cluster=str(data["cluster"]), namespace=str(data["namespace"]), job=str(data["job"]),
                       run_id=str(data["run_id"]), base_sha=str(data["base_sha"]),
                       repo_mode=str(data.get("repo_mode") or "bundle"),
                       context=_optional(data.get("context")), collected=bool(data.get("collected")),
                       head_sha=_optional(data.get("head_sha")))
        except (KeyError, TypeError) as exc:
            raise UsageError(f"session {session_id} records an incomplete cluster placement (missing {exc})",
                             hint=f"forget the session with: prodigy worktree clean -f {session_id}") from None


def _optional(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def placement_of(session: Session) -> ClusterPlacement | None:
    """The cluster this session ran on; None for a local session."""
    data = session.metadata.extra.get(_KEY)
    if not data:
        return None
    if not isinstance(data, Mapping):
        raise UsageError(f"session {session.id} has an unreadable cluster placement in {session.metadata_file}",
                         hint=f"forget the session with: prodigy worktree clean -f {session.id}")
    return ClusterPlacement.from_json(data, session_id=session.id)


def place(session: Session, placement: ClusterPlacement) -> Session:
    """Record (or update) where the session runs; returns the saved session."""
    return worktrees.update(session, extra={**session.metadata.extra, _KEY: placement.to_json()})


def mark_collected(session: Session, head_sha: str) -> Session:
    placement = placement_of(session)
    if placement is None:
        return session
    return place(session, replace(placement, collected=True, head_sha=head_sha))


def placement_extra(placement: ClusterPlacement) -> dict[str, Any]:
    """The metadata ``extra`` entry for a session created already placed."""
    return {_KEY: placement.to_json()}
