"""An item's end, recorded the same way wherever its agent ran: journal, queue, events, view.

    book = MapBook(session=..., store=..., dlq=..., events=..., view=..., policy=..., items=...)
    book.started(index, attempt=1, base=sha, where="<worktree or pod>", label="title=x")
    book.merged_or_kept(index, ..., merge=lambda: ...)    success: merged one at a time, recorded
    book.failed(index, ...)                                 into the dead-letter queue (unless `skip`)
    book.interrupted(index, next_step, error)               kept for `prodigy resume`

Every transition goes to the journal before the next one starts, and the caller checks whether
an agent's branch is already in the session before merging it after a crash, so a resume merges
each item exactly once. The local executor calls this from its agent threads; the cluster
executor from the threads that collect finished pods. Merges are serialised by the lock the
caller passes: one merge into the session worktree at a time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

from prodigy.errors import GitError, Interrupted
from prodigy.events import EventLog
from prodigy.mapreduce.dlq import DeadLetterStore
from prodigy.mapreduce.journal import ItemState, ItemStatus, JobStore
from prodigy.repo import git
from prodigy.repo.worktrees import Session
from prodigy.ui.format import format_duration, plural
from prodigy.workflow.mapreduce import ErrorPolicy, ItemFailure
from prodigy.workflow.mapreduce_vars import item_id

__all__ = ["MERGE_STEP", "MapBook", "ProgressView", "agent_merge_message"]

MERGE_STEP = "merge into the session"


def agent_merge_message(the_id: str, branch: str) -> str:
    return f"Merge agent {the_id} ({branch})"


class ProgressView(Protocol):
    """What the book tells the user (`prodigy.ui.mapreduce_view` implements it)."""

    def agent_started(self, item_id: str, label: str, attempt: int) -> None: ...
    def agent_merging(self, item_id: str) -> None: ...
    def agent_finished(self, item_id: str, *, ok: bool, detail: str) -> None: ...


@dataclass
class MapBook:
    session: Session
    store: JobStore
    dlq: DeadLetterStore
    events: EventLog
    view: ProgressView
    policy: ErrorPolicy
    items: Sequence[Any]
    # `dlq retry` in a new session runs a few items of an earlier one: their numbers there.
    original_indexes: Sequence[int] | None = None

    def number(self, index: int) -> int:
        """The item's number as the user knows it (``item_<number>``)."""
        return self.original_indexes[index] if self.original_indexes is not None else index

    def item_id(self, index: int) -> str:
        return item_id(self.number(index))

    # --- transitions ----------------------------------------------------------------------------

    def started(self, index: int, *, attempt: int, base: str, where: str, label: str, next_step: int = 0) -> None:
        the_id = self.item_id(index)
        self.store.record("started", index, attempt=attempt, base=base, next_step=next_step, worktree=where)
        self.events.emit("agent_started", item_id=the_id, attempt=attempt, worktree=where)
        self.view.agent_started(the_id, label, attempt)

    def merged_or_kept(self, index: int, *, attempt: int, branch: str, commits: Sequence[str], output: str,
                       duration: float, merge: Callable[[], None], lock: threading.Lock | None = None,
                       log: Path | None = None, worktree: Path | None = None, next_step: int = 0) -> ItemState:
        """A successful agent: its branch merged into the session (``merge()``, under ``lock``), or
        nothing to merge when it made no commit. A merge that fails is the item's failure."""
        the_id = self.item_id(index)
        if not commits:
            return self.succeeded(index, attempt=attempt, commits=(), merged=False, output=output, duration=duration)
        self.view.agent_merging(the_id)
        with lock if lock is not None else _NO_LOCK:
            try:
                merge()
            except Interrupted as error:
                git.merge_abort(self.session.path)
                return self.interrupted(index, next_step, error.message)
            except GitError as error:
                git.merge_abort(self.session.path)
                return self.failed(index, attempt=attempt, error=f"could not merge into the session worktree: "
                                   f"{error.message}", step=MERGE_STEP, log=log, worktree=worktree, branch=branch,
                                   duration=duration, output=output)
            # Recorded before the lock is released: the next merge sees this one as done.
            return self.succeeded(index, attempt=attempt, commits=tuple(commits), merged=True, output=output,
                                  duration=duration)

    def succeeded(self, index: int, *, attempt: int, commits: Sequence[str], merged: bool, output: str,
                  duration: float) -> ItemState:
        the_id = self.item_id(index)
        self.store.record("succeeded", index, merged=merged, commits=list(commits), output=output,
                          duration=round(duration, 3))
        self.dlq.remove(the_id)
        self.events.emit("agent_completed", item_id=the_id, commits=len(commits), merged=merged)
        detail = (f"merged {plural(len(commits), 'commit')}" if commits else "done, no commits") + \
            f" in {format_duration(duration)}"
        self.view.agent_finished(the_id, ok=True, detail=detail)
        return ItemState(index, ItemStatus.SUCCEEDED, attempt=attempt, merged=merged, commits=tuple(commits),
                         output=output, duration=duration)

    def failed(self, index: int, *, attempt: int, error: str, step: str | None, log: Path | None,
               worktree: Path | None = None, branch: str | None = None, duration: float = 0.0,
               output: str = "") -> ItemState:
        the_id = self.item_id(index)
        to_dlq = self.policy.on_item_failure is not ItemFailure.SKIP
        if to_dlq:
            self.dlq.add_failure(item_id=the_id, index=self.number(index), item=self.items[index], attempt=attempt,
                                 error=error, step=step, log=log, worktree=worktree, branch=branch)
        self.store.record("failed", index, error=error, step=step, duration=round(duration, 3), output=output,
                          in_dlq=to_dlq)
        self.events.emit("agent_failed", item_id=the_id, attempt=attempt, step=step, error=error)
        first_line = error.strip().splitlines()[0] if error.strip() else "failed"
        where = f" at {step}" if step else ""
        self.view.agent_finished(the_id, ok=False, detail=f"failed{where}: {first_line}"
                                 + (f" (log: {log})" if log is not None else ""))
        return ItemState(index, ItemStatus.FAILED, attempt=attempt, error=error, failed_step=step, output=output,
                         duration=duration, in_dlq=to_dlq)

    def interrupted(self, index: int, next_step: int, error: str | None) -> ItemState:
        self.store.record("interrupted", index, next_step=next_step, error=error)
        self.events.emit("agent_interrupted", item_id=self.item_id(index), next_step=next_step)
        return replace(self.store.item_states(len(self.items))[index])


class _NoLock:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_NO_LOCK = _NoLock()
