"""Where a MapReduce session keeps its things (all under PRODIGY_HOME, like every session)::

    state/<session-id>/mapreduce/job.json         phase, base commit of the agents, the selection
    state/<session-id>/mapreduce/items.json       the selected work items (fixed once chosen)
    state/<session-id>/mapreduce/journal.jsonl    one line per agent event (started, step, merged ...)
    state/<session-id>/mapreduce/{setup,reduce}/  the phases' step checkpoints
    worktrees/<repo>/agents/<session-id>/item_<N>  an agent's worktree, branch prodigy-agent-<session-id>-item_<N>
    logs/mapreduce/<session-id>/item_<N>.log      everything an agent printed, every attempt
    dlq/<repo>/<session-id>.json                  the dead-letter queue: items that failed

Agent worktrees are a session's own (`prodigy.repo.agents`, which names them); the rest is here.

On a cluster each phase runs in a pod; besides its commits, a pod hands back (in its state
directory, which travels home with them) ``setup-report.json`` (the items and how they were
chosen) or ``agent-report.json`` (how an item's agent ended), and reduce's pod gets the
``${map.*}`` variables as ``reduce-variables.json``.
"""

from __future__ import annotations

from pathlib import Path

from prodigy import paths
from prodigy.workflow.mapreduce_vars import item_id


POD_SETUP_REPORT = "setup-report.json"
POD_AGENT_REPORT = "agent-report.json"
POD_REDUCE_VARIABLES = "reduce-variables.json"


def state_dir(session_id: str, home: Path | None = None) -> Path:
    return paths.state_dir(session_id, home) / "mapreduce"


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
