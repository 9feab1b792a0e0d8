"""Session worktrees: one git worktree + branch per run, described by a metadata JSON file.

Layout (``PRODIGY_HOME`` relocates all of it, default ``~/.prodigy``)::

    worktrees/<repo-dir>/session-<uuid>/            the git worktree, branch prodigy-session-<uuid>
    worktrees/<repo-dir>/.metadata/session-<uuid>.json

The metadata is written atomically (temp file + rename). Fields prodigy does not know about
(for example the ``cluster`` dict the Kubernetes path records) are read into
`SessionMetadata.extra` and written back untouched.

Entry points:
    create_session(repo, ...)             a new branch + worktree from the repo's HEAD (local runs)
    adopt_branch(repo, session_id, ...)   attach a worktree to an existing prodigy-session-<uuid> branch
                                          (the cluster path, after fetching the pod's commits)
    load_session(session_id) / list_sessions(repo)
    save(session) / remove_session(session)
"""

from __future__ import annotations

import json
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import Any

from prodigy import paths
from prodigy.errors import GitError, UsageError
from prodigy.repo import git

SESSION_PREFIX = "session-"
BRANCH_PREFIX = "prodigy-"


class SessionStatus(str, Enum):
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    MERGED = "merged"
    FAILED = "failed"
    INTERRUPTED = "interrupted"
    CLEANED_UP = "cleaned_up"


def new_session_id() -> str:
    return f"{SESSION_PREFIX}{uuid.uuid4()}"


def branch_for(session_id: str) -> str:
    return f"{BRANCH_PREFIX}{session_id}"


def session_for_branch(branch: str) -> str | None:
    name = branch.removeprefix(BRANCH_PREFIX)
    return name if branch.startswith(BRANCH_PREFIX + SESSION_PREFIX) else None


def now_iso() -> str:
    # Microseconds: sessions are ordered by creation time (resume without an id takes the
    # newest), and two runs can start within one second. Displays round to seconds.
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class SessionMetadata:
    """What prodigy remembers about a session (upstream's WorktreeState, trimmed to what we use)."""

    session_id: str
    branch: str
    original_branch: str
    repo_path: str
    worktree_path: str
    base_sha: str | None = None
    workflow_path: str | None = None
    status: SessionStatus = SessionStatus.IN_PROGRESS
    created_at: str = field(default_factory=now_iso)
    updated_at: str = field(default_factory=now_iso)
    # The run's inputs, so `prodigy resume` can rebuild the same iteration plan.
    run_args: tuple[str, ...] = ()
    max_iterations: int = 1
    merged: bool = False
    merged_at: str | None = None
    error: str | None = None
    interrupted_at: str | None = None
    interruption_type: str | None = None
    merge_prompt_response: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def worktree_name(self) -> str:
        return self.session_id

    def to_json(self) -> dict[str, Any]:
        data = dict(self.extra)
        for f in fields(self):
            if f.name == "extra":
                continue
            value = getattr(self, f.name)
            data[f.name] = value.value if isinstance(value, Enum) else (list(value) if isinstance(value, tuple) else value)
        data["worktree_name"] = self.worktree_name
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SessionMetadata:
        """Build from the saved JSON; ValueError names the first field that is missing or of the wrong type."""
        _check_metadata(data)
        known = {f.name for f in fields(cls)} - {"extra"}
        kwargs: dict[str, Any] = {k: v for k, v in data.items() if k in known}
        kwargs["status"] = SessionStatus(kwargs.get("status", "in_progress"))
        kwargs["run_args"] = tuple(kwargs.get("run_args") or ())
        extra = {k: v for k, v in data.items() if k not in known and k != "worktree_name"}
        return cls(**kwargs, extra=extra)


_REQUIRED_TEXT = ("session_id", "branch", "original_branch", "repo_path", "worktree_path")
_TEXT_IF_PRESENT = ("created_at", "updated_at")     # sessions are ordered by these: never null
_OPTIONAL_TEXT = ("base_sha", "workflow_path", "merged_at", "error", "interrupted_at", "interruption_type",
                  "merge_prompt_response")


def _check_metadata(data: Any) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"expected a JSON object, found {type(data).__name__}")
    for key in _REQUIRED_TEXT:
        if not isinstance(data.get(key), str) or not data[key]:
            raise ValueError(f"`{key}` is missing or not a string")
    for key in _TEXT_IF_PRESENT:
        if key in data and not isinstance(data[key], str):
            raise ValueError(f"`{key}` is not a string")
    for key in _OPTIONAL_TEXT:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValueError(f"`{key}` is not a string")
    if data.get("status", "in_progress") not in tuple(status.value for status in SessionStatus):
        raise ValueError(f"`status` {data.get('status')!r} is not a session status")
    args = data.get("run_args") or []
    if not isinstance(args, list) or not all(isinstance(arg, str) for arg in args):
        raise ValueError("`run_args` is not a list of strings")
    iterations = data.get("max_iterations", 1)
    if not isinstance(iterations, int) or isinstance(iterations, bool) or iterations < 1:
        raise ValueError("`max_iterations` is not a whole number >= 1")
    if not isinstance(data.get("merged", False), bool):
        raise ValueError("`merged` is not true or false")


class MetadataError(UsageError):
    """A session's metadata file cannot be read; only that session is affected (exit 2)."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"session metadata {path} is unreadable: {reason}",
                         hint=f"remove the session with: prodigy worktree clean -f {path.stem} "
                              "(or fix the JSON by hand)")
        self.path = path
        self.reason = reason


@dataclass(frozen=True)
class UnreadableSession:
    """A metadata file that `list_sessions` skipped, with why (for `worktree ls` and `resume`)."""

    path: Path
    reason: str

    @property
    def session_id(self) -> str:
        return self.path.stem

    @property
    def message(self) -> str:
        return (f"session {self.session_id} is skipped: its metadata {self.path} is unreadable ({self.reason}); "
                f"remove it with: prodigy worktree clean -f {self.session_id}")


@dataclass(frozen=True)
class Session:
    metadata: SessionMetadata
    metadata_file: Path

    @property
    def id(self) -> str:
        return self.metadata.session_id

    @property
    def path(self) -> Path:
        return Path(self.metadata.worktree_path)

    @property
    def repo(self) -> Path:
        return Path(self.metadata.repo_path)

    @property
    def branch(self) -> str:
        return self.metadata.branch

    def with_changes(self, **changes: Any) -> Session:
        return replace(self, metadata=replace(self.metadata, updated_at=now_iso(), **changes))


def sessions_root(repo: Path, home: Path | None = None) -> Path:
    return paths.worktrees_dir(repo.name, home)


def metadata_dir(repo: Path, home: Path | None = None) -> Path:
    return sessions_root(repo, home) / ".metadata"


def save(session: Session) -> Session:
    """Write the metadata atomically: a reader never sees a half-written file."""
    session.metadata_file.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=session.metadata_file.parent)
    with os.fdopen(fd, "w") as fh:
        json.dump(session.metadata.to_json(), fh, indent=2)
        fh.write("\n")
    os.replace(tmp, session.metadata_file)
    return session


def update(session: Session, **changes: Any) -> Session:
    return save(session.with_changes(**changes))


def original_branch_of(repo: Path) -> str:
    """The branch to merge back into: the checked-out one; main/master when HEAD is detached."""
    return git.current_branch(repo) or git.default_branch(repo)


def create_session(repo: Path, *, original_branch: str, workflow_path: Path | None = None,
                   run_args: tuple[str, ...] = (), max_iterations: int = 1,
                   extra: Mapping[str, Any] | None = None, home: Path | None = None,
                   session_id: str | None = None) -> Session:
    """Branch `prodigy-session-<uuid>` from the repo's HEAD, check it out in its own worktree."""
    session_id = session_id or new_session_id()
    root = sessions_root(repo, home)
    root.mkdir(parents=True, exist_ok=True)
    path = root / session_id
    base = git.head_sha(repo)
    if base is None:
        raise UsageError(f"{repo} has no commits yet, so there is nothing to branch a worktree from",
                         hint="make a first commit (git commit --allow-empty -m init) and run again")
    git.worktree_add(repo, path, new_branch=branch_for(session_id), start=base)
    return save(Session(
        SessionMetadata(session_id=session_id, branch=branch_for(session_id), original_branch=original_branch,
                        repo_path=str(repo), worktree_path=str(path), base_sha=base,
                        workflow_path=str(workflow_path) if workflow_path else None,
                        run_args=tuple(run_args), max_iterations=max_iterations, extra=dict(extra or {})),
        metadata_dir(repo, home) / f"{session_id}.json",
    ))


def adopt_branch(repo: Path, session_id: str, *, original_branch: str, base_sha: str | None = None,
                 workflow_path: Path | None = None, status: SessionStatus = SessionStatus.IN_PROGRESS,
                 extra: Mapping[str, Any] | None = None, home: Path | None = None) -> Session:
    """Check out an existing `prodigy-session-<uuid>` branch as this session's worktree.

    Used when the commits were made elsewhere (a Kubernetes pod) and fetched into `repo`.
    Existing metadata for the session is kept and updated; `extra` keys are merged in.
    """
    branch = branch_for(session_id)
    if not git.branch_exists(repo, branch):
        raise GitError(f"branch {branch} does not exist in {repo}")
    path = sessions_root(repo, home) / session_id
    metadata_file = metadata_dir(repo, home) / f"{session_id}.json"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with git.locked(repo, f"adding worktree {session_id}"):
            git.worktree_prune(repo)      # a worktree of this session removed by hand
            git.worktree_add(repo, path, branch=branch)
    previous = _read_metadata(metadata_file)
    merged_extra = {**(previous.extra if previous else {}), **(extra or {})}
    metadata = SessionMetadata(
        session_id=session_id, branch=branch, original_branch=original_branch, repo_path=str(repo),
        worktree_path=str(path), base_sha=base_sha or (previous.base_sha if previous else None),
        workflow_path=str(workflow_path) if workflow_path else (previous.workflow_path if previous else None),
        status=status, created_at=previous.created_at if previous else now_iso(), extra=merged_extra,
        run_args=previous.run_args if previous else (), max_iterations=previous.max_iterations if previous else 1,
    )
    return save(Session(metadata, metadata_file))


def _read_metadata(path: Path) -> SessionMetadata | None:
    try:
        return SessionMetadata.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise MetadataError(path, reason) from None


def _all_metadata_files(home: Path | None = None) -> Iterator[Path]:
    base = (home or paths.prodigy_home()) / "worktrees"
    yield from sorted(base.glob("*/.metadata/session-*.json"))


def list_sessions(repo: Path | None = None, home: Path | None = None) -> list[Session]:
    """Sessions known under PRODIGY_HOME, newest first; only `repo`'s when given.

    An unreadable metadata file is skipped (it must not hide every other session);
    `unreadable_sessions` names them.
    """
    return scan_sessions(repo, home)[0]


def unreadable_sessions(repo: Path | None = None, home: Path | None = None) -> list[UnreadableSession]:
    """The metadata files `list_sessions` skipped, with the reason each could not be read."""
    return scan_sessions(repo, home)[1]


def scan_sessions(repo: Path | None = None,
                  home: Path | None = None) -> tuple[list[Session], list[UnreadableSession]]:
    sessions: list[Session] = []
    unreadable: list[UnreadableSession] = []
    files = sorted(metadata_dir(repo, home).glob("session-*.json")) if repo else _all_metadata_files(home)
    for path in files:
        try:
            metadata = _read_metadata(path)
        except MetadataError as exc:
            unreadable.append(UnreadableSession(path, exc.reason))
            continue
        if metadata and (repo is None or Path(metadata.repo_path) == repo):
            sessions.append(Session(metadata, path))
    return sorted(sessions, key=lambda s: s.metadata.created_at, reverse=True), unreadable


def load_session(session_id: str, home: Path | None = None) -> Session:
    wanted = session_id if session_id.startswith(SESSION_PREFIX) else SESSION_PREFIX + session_id
    wanted = wanted.removeprefix(BRANCH_PREFIX)
    for path in _all_metadata_files(home):
        if path.stem == wanted:
            metadata = _read_metadata(path)
            if metadata:
                return Session(metadata, path)
    removed = _removal_record(wanted, home)
    if removed:
        # The usual way to get here: `prodigy resume S` after S was merged (its worktree goes then).
        at = removed.get("at", "an unknown time")
        if removed.get("status") == SessionStatus.MERGED.value:
            raise UsageError(f"session {wanted} is finished: it was merged and its worktree removed at {at}",
                             hint=f"its commits are in your branch: git log --merges --grep {wanted}")
        raise UsageError(f"session {wanted} no longer exists: its worktree and branch were removed at {at} "
                         f"(it was {removed.get('status', 'unknown')})",
                         hint="list the sessions that remain with: prodigy worktree ls")
    raise UsageError(f"no session named {session_id!r}", hint="list sessions with: prodigy worktree ls")


def _removal_record(session_id: str, home: Path | None = None) -> dict[str, Any] | None:
    """The last cleanup.log entry for `session_id` (written by `remove_session`), if any."""
    return removal_records(home).get(session_id)


def removal_records(home: Path | None = None) -> dict[str, dict[str, Any]]:
    """Every removed session's last cleanup.log entry (``at``, ``status``: merged, failed...), by id."""
    base = (home or paths.prodigy_home()) / "worktrees"
    found: dict[str, dict[str, Any]] = {}
    for log in sorted(base.glob("*/.metadata/cleanup.log")):
        for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and isinstance(entry.get("session_id"), str):
                found[entry["session_id"]] = entry
    return found


def remove_session(session: Session, *, delete_branch: bool = True, force: bool = False) -> None:
    """Remove the worktree, delete its branch (upstream leaked it) and the metadata file."""
    repo = session.repo
    with git.locked(repo, f"removing session {session.id}"):
        if session.path.exists():
            git.worktree_remove(repo, session.path, force=force)
        else:
            git.worktree_prune(repo)
        if delete_branch and git.branch_exists(repo, session.branch):
            git.delete_branch(repo, session.branch, force=True)
        from prodigy.repo import agents   # here: agents.py builds on this module

        agents.remove_all(repo, session.id)    # a MapReduce session's agent worktrees and branches
    session.metadata_file.unlink(missing_ok=True)
    with (session.metadata_file.parent / "cleanup.log").open("a") as log:
        log.write(json.dumps({"session_id": session.id, "at": now_iso(), "status": session.metadata.status.value}) + "\n")


__all__ = ["SessionStatus", "SessionMetadata", "Session", "create_session", "adopt_branch", "list_sessions",
           "load_session", "remove_session", "save", "update", "new_session_id", "branch_for", "MetadataError",
           "UnreadableSession", "scan_sessions", "unreadable_sessions"]
