"""Exactly once, across a client that died: an item whose agent branch is already in the session
(merged just before the journal could say so) is recorded as merged on resume, not run again."""

from __future__ import annotations

import io
from pathlib import Path

from prodigy.events import EventLog
from prodigy.k8s.mapreduce.executor import _merged_before_a_crash
from prodigy.mapreduce.dlq import DeadLetterStore
from prodigy.mapreduce.journal import ItemStatus, JobStore
from prodigy.mapreduce.ledger import MapBook
from prodigy.repo import git, worktrees
from prodigy.repo.agents import agent_branch
from prodigy.ui.console import Console
from prodigy.ui.mapreduce_view import PlainView
from prodigy.workflow.mapreduce import ErrorPolicy
from testing.repos import make_repo


def book_for(tmp_path: Path) -> MapBook:
    repo = make_repo(tmp_path / "repo")
    session = worktrees.create_session(repo, original_branch="main")
    store = JobStore(tmp_path / "state")
    dlq = DeadLetterStore.open(tmp_path / "dlq.json", session_id=session.id, repo=repo, original_branch="main",
                               workflow_path=None)
    return MapBook(session=session, store=store, dlq=dlq, events=EventLog.disabled(),
                   view=PlainView(Console(0, out=io.StringIO(), err=io.StringIO())), policy=ErrorPolicy(),
                   items=["a", "b"])


def land_agent_branch(book: MapBook, index: int, *, merge: bool) -> str:
    session = book.session
    branch = agent_branch(session.id, index)
    git.git("branch", branch, "HEAD", cwd=session.path)
    place = session.path.parent / f"agent-{index}"
    git.worktree_add(session.repo, place, branch=branch)
    (place / f"f{index}.txt").write_text("x\n")
    git.git("add", "-A", cwd=place)
    git.git("commit", "-qm", f"item {index}", cwd=place)
    git.worktree_remove(session.repo, place, force=True)
    if merge:
        git.merge_no_ff(session.path, branch, f"Merge agent item_{index} ({branch})")
    return branch


def test_an_item_merged_before_a_crash_is_recorded_not_run_again(tmp_path: Path) -> None:
    book = book_for(tmp_path)
    base = git.head_sha(book.session.path)
    assert base is not None
    book.store.record("started", 0, attempt=1, base=base)      # the journal never heard of the merge
    land_agent_branch(book, 0, merge=True)
    state = book.store.item_states(2)[0]
    assert _merged_before_a_crash(book, 0, state)
    after = book.store.item_states(2)[0]
    assert after.status is ItemStatus.SUCCEEDED and after.merged and len(after.commits) == 1


def test_a_landed_but_unmerged_or_unstarted_item_runs_again(tmp_path: Path) -> None:
    book = book_for(tmp_path)
    base = git.head_sha(book.session.path)
    assert base is not None
    book.store.record("started", 1, attempt=1, base=base)
    land_agent_branch(book, 1, merge=False)
    assert not _merged_before_a_crash(book, 1, book.store.item_states(2)[1])
    assert not _merged_before_a_crash(book, 0, book.store.item_states(2)[0])     # pending, no branch
