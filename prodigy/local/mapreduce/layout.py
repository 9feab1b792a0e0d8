"""Where a MapReduce session keeps its things (all under PRODIGY_HOME, like every session)::

    state/<session-id>/mapreduce/job.json         phase, base commit of the agents, the selection
    state/<session-id>/mapreduce/items.json       the selected work items (fixed once chosen)
    state/<session-id>/mapreduce/journal.jsonl    one line per agent event (started, step, merged ...)
    state/<session-id>/mapreduce/{setup,reduce}/  the phases' step checkpoints
    worktrees/<repo>/agents/<session-id>/item_<N>  an agent's worktree, branch prodigy-agent-<session-id>-item_<N>
    logs/mapreduce/<session-id>/item_<N>.log      everything an agent printed, every attempt
    dlq/<repo>/<session-id>.json                  the dead-letter queue: items that failed

Agent worktrees live beside, not inside, the session directories, so `session-*` globs and
`prodigy worktree ls` keep seeing only sessions; their branch names never start with
``prodigy-session-``.
"""

from __future__ import annotations

from pathlib import Path

from prodigy import paths
from prodigy.workflow.mapreduce_vars import item_id

AGENT_BRANCH_PREFIX = "prodigy-agent-"


def state_dir(session_id: str, home: Path | None = None) -> Path:
    return paths.state_dir(session_id, home) / "mapreduce"


def agents_dir(repo: Path, session_id: str, home: Path | None = None) -> Path:
    return paths.worktrees_dir(repo.name, home) / "agents" / session_id


def agent_path(repo: Path, session_id: str, index: int, home: Path | None = None) -> Path:
    return agents_dir(repo, session_id, home) / item_id(index)


def agent_branch(session_id: str, index: int) -> str:
    return f"{AGENT_BRANCH_PREFIX}{session_id}-{item_id(index)}"


def logs_dir(session_id: str, home: Path | None = None) -> Path:
    return (home or paths.prodigy_home()) / "logs" / "mapreduce" / session_id


def agent_log(session_id: str, index: int, home: Path | None = None) -> Path:
    return logs_dir(session_id, home) / f"{item_id(index)}.log"


def dlq_file(repo: Path, session_id: str, home: Path | None = None) -> Path:
    return (home or paths.prodigy_home()) / "dlq" / repo.name / f"{session_id}.json"


def find_dlq_file(session_id: str, home: Path | None = None) -> Path | None:
    """The dead-letter queue of ``session_id`` in any repository, if there is one."""
    found = sorted(((home or paths.prodigy_home()) / "dlq").glob(f"*/{session_id}.json"))
    return found[0] if found else None
