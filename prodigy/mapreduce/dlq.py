"""The dead-letter queue: the work items whose agent failed, with every failure, for `prodigy dlq`.

One JSON file per session (`layout.dlq_file`), kept in memory by `DeadLetterStore` and rewritten
atomically on every change (a reader never sees half a file). An item leaves the queue when a
later attempt succeeds (`prodigy dlq retry`); an item that keeps failing stays, with its newest
error last. The file also records where the session came from (repository, branch, workflow), so
`dlq retry` still works after the session itself was merged and removed.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["DeadLetter", "DeadLetterQueue", "DeadLetterStore", "Failure"]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


@dataclass(frozen=True)
class Failure:
    attempt: int
    at: str
    error: str
    step: str | None = None
    log: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    item_id: str
    index: int
    item: Any
    failures: tuple[Failure, ...] = ()
    worktree: str | None = None
    branch: str | None = None

    @property
    def last(self) -> Failure:
        return self.failures[-1]

    def to_json(self) -> dict[str, Any]:
        return {"item_id": self.item_id, "index": self.index, "item": self.item, "failure_count": len(self.failures),
                "first_attempt": self.failures[0].at if self.failures else None,
                "last_attempt": self.failures[-1].at if self.failures else None,
                "failures": [vars(failure) for failure in self.failures], "worktree": self.worktree,
                "branch": self.branch}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeadLetter:
        return cls(item_id=data["item_id"], index=int(data["index"]), item=data.get("item"),
                   failures=tuple(Failure(**failure) for failure in data.get("failures") or ()),
                   worktree=data.get("worktree"), branch=data.get("branch"))


@dataclass(frozen=True)
class DeadLetterQueue:
    session_id: str
    repo: str
    original_branch: str
    workflow_path: str | None
    items: Mapping[str, DeadLetter] = field(default_factory=dict)
    # A cluster session's: `dlq retry` of it runs there again, even after the session is gone.
    cluster: str | None = None
    namespace: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "session_id": self.session_id, "repo": self.repo, "original_branch": self.original_branch,
            "workflow_path": self.workflow_path,
            "items": [letter.to_json() for letter in sorted(self.items.values(), key=lambda item: item.index)]}
        if self.cluster is not None:
            data.update(cluster=self.cluster, namespace=self.namespace)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DeadLetterQueue:
        letters = [DeadLetter.from_json(item) for item in data.get("items") or ()]
        return cls(session_id=data["session_id"], repo=data["repo"], original_branch=data["original_branch"],
                   workflow_path=data.get("workflow_path"), items={letter.item_id: letter for letter in letters},
                   cluster=data.get("cluster"), namespace=data.get("namespace"))


class DeadLetterStore:
    """A session's queue in memory, saved on every change; safe to use from several threads."""

    def __init__(self, path: Path, queue: DeadLetterQueue) -> None:
        self.path = path
        self._queue = queue
        self._lock = threading.Lock()

    @classmethod
    def read(cls, path: Path) -> DeadLetterQueue | None:
        try:
            return DeadLetterQueue.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            return None

    @classmethod
    def open(cls, path: Path, *, session_id: str, repo: Path, original_branch: str,
             workflow_path: Path | None, cluster: str | None = None, namespace: str | None = None) -> DeadLetterStore:
        existing = cls.read(path)
        queue = existing or DeadLetterQueue(session_id, str(repo), original_branch,
                                            str(workflow_path) if workflow_path else None, cluster=cluster,
                                            namespace=namespace)
        return cls(path, queue)

    @property
    def queue(self) -> DeadLetterQueue:
        return self._queue

    def add_failure(self, *, item_id: str, index: int, item: Any, attempt: int, error: str, step: str | None,
                    log: Path | None, worktree: Path | None, branch: str | None) -> DeadLetter:
        failure = Failure(attempt, _now(), error, step, str(log) if log else None)
        with self._lock:
            previous = self._queue.items.get(item_id)
            letter = DeadLetter(item_id, index, item, (*(previous.failures if previous else ()), failure),
                                str(worktree) if worktree else None, branch)
            self._save(replace(self._queue, items={**self._queue.items, item_id: letter}))
            return letter

    def remove(self, item_id: str) -> None:
        with self._lock:
            if item_id in self._queue.items:
                items = {key: value for key, value in self._queue.items.items() if key != item_id}
                self._save(replace(self._queue, items=items))

    def _save(self, queue: DeadLetterQueue) -> None:
        self._queue = queue
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=self.path.parent)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(queue.to_json(), handle, indent=2, default=str)
        os.replace(tmp, self.path)
