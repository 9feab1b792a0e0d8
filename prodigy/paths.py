"""Where prodigy keeps its state. ``PRODIGY_HOME`` relocates all of it, worktrees included."""

from __future__ import annotations

import os
from pathlib import Path


def prodigy_home(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    override = env.get("PRODIGY_HOME")
    if override:
        return Path(override).expanduser()
    return Path.home() / ".prodigy"


def worktrees_dir(repo_name: str, home: Path | None = None) -> Path:
    return (home or prodigy_home()) / "worktrees" / repo_name


def state_dir(session_id: str, home: Path | None = None) -> Path:
    return (home or prodigy_home()) / "state" / session_id


def events_dir(home: Path | None = None) -> Path:
    return (home or prodigy_home()) / "events"


def claude_logs_dir(home: Path | None = None) -> Path:
    return (home or prodigy_home()) / "logs" / "claude-streaming"


def kubernetes_config_file(home: Path | None = None) -> Path:
    return (home or prodigy_home()) / "kubernetes.yaml"


def run_index_file(home: Path | None = None) -> Path:
    return (home or prodigy_home()) / "runs.jsonl"


def require_writable_home(home: Path | None = None) -> Path:
    """PRODIGY_HOME, created if needed; a `UsageError` (exit 2) naming it when it cannot be written."""
    from prodigy.errors import UsageError

    home = home or prodigy_home()
    try:
        home.mkdir(parents=True, exist_ok=True)
        writable = os.access(home, os.W_OK | os.X_OK)
        reason = "permission denied"
    except OSError as exc:
        writable, reason = False, exc.strerror or str(exc)
    if not writable or not home.is_dir():
        raise UsageError(f"prodigy keeps its state in {home}, which cannot be written ({reason})",
                         hint="set PRODIGY_HOME to a writable directory, or fix the permissions of this one")
    return home
