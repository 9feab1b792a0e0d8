"""The map phase: up to `max_parallel` agents at once, successful ones merged one at a time.

    run_map(MapRun(...), indexes) -> MapOutcome

For each work item (in a worker thread): create the agent worktree from the session's commit
after setup (or reuse the one kept by an interrupted run), run the agent's steps, then

- success with commits -> `git merge --no-ff` into the session worktree (Claude's
  ``/prodigy-merge-worktree`` only on a conflict), one merge at a time; worktree and branch removed;
- success without commits -> worktree and branch removed;
- failure -> retried (``on_item_failure: retry``), else into the dead-letter queue (unless
  ``skip``); its worktree is kept for inspection until the session ends;
- interrupted -> worktree kept with its commits; `prodigy resume` continues at the same step.

Every transition goes to the journal before the next one starts, and an agent whose branch is
already in the session's history is never merged again, so a resume after a crash at any point
merges each item exactly once. The error policy (`stop`, `max_failures`, `failure_threshold`,
`continue_on_failure: false`) stops new items from starting; running agents finish.

Ctrl+C arrives in the main thread (`Interrupted`): every running agent's `ProcessScope` is
stopped (SIGTERM to each step's process group, SIGKILL after a grace period), agents record where
they were, and the interrupt is returned to the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from prodigy.errors import EXIT_SIGINT, GitError, Interrupted
from prodigy.events import EventLog
from prodigy.local.mapreduce.agent import (
    AgentEnd,
    AgentOutcome,
    AgentRequest,
    agent_deadline,
    agent_env,
    agent_variables,
    run_agent,
)
from prodigy.local.merge import claude_resolver
from prodigy.local.process_scope import ProcessScope, stop_all
from prodigy.mapreduce import layout
from prodigy.mapreduce.dlq import DeadLetterStore
from prodigy.mapreduce.journal import ItemState, ItemStatus, JobStore
from prodigy.mapreduce.ledger import MERGE_STEP, MapBook
from prodigy.mapreduce.merging import merge_agent
from prodigy.repo import agents as agent_worktrees
from prodigy.repo import git
from prodigy.repo.agents import AgentWorktree
from prodigy.repo.worktrees import Session
from prodigy.ui.console import Console
from prodigy.ui.format import plural
from prodigy.ui.mapreduce_view import MapView
from prodigy.workflow.mapreduce import ErrorPolicy
from prodigy.workflow.mapreduce_vars import item_label
from prodigy.workflow.model import Step

__all__ = ["MapOutcome", "MapRun", "run_map"]

# How often the main thread wakes up while agents run (signals are handled between waits).
POLL_SECONDS = 0.25


@dataclass(frozen=True)
class MapRun:
    """Everything the map phase needs; shared read-only by all agent threads."""

    session: Session
    store: JobStore
    dlq: DeadLetterStore
    items: Sequence[Any]
    steps: Sequence[Step]
    base_sha: str
    max_parallel: int
    environ: Mapping[str, str]
    workflow_env: Mapping[str, str]
    base_variables: Mapping[str, object]
    policy: ErrorPolicy
    console: Console
    view: MapView
    events: EventLog
    agent_timeout: int | None = None
    verbosity: int = 0
    test_mode: bool = False
    secrets: tuple[str, ...] = ()
    home: Path | None = None
    # `dlq retry` in a new session runs a few items of an earlier one: their numbers there.
    original_indexes: Sequence[int] | None = None

    @cached_property
    def book(self) -> MapBook:
        """Where each item's end is recorded (journal, dead-letter queue, events, view)."""
        return MapBook(session=self.session, store=self.store, dlq=self.dlq, events=self.events, view=self.view,
                       policy=self.policy, items=self.items, original_indexes=self.original_indexes)

    def number(self, index: int) -> int:
        return self.book.number(index)

    def item_id(self, index: int) -> str:
        return self.book.item_id(index)


@dataclass(frozen=True)
class MapOutcome:
    states: list[ItemState]
    interrupted: Interrupted | None = None
    stop_reason: str | None = None

    @property
    def failed(self) -> list[ItemState]:
        return [state for state in self.states if state.status is ItemStatus.FAILED]


@dataclass
class _Shared:
    """State the coordinator and the agent threads share, guarded by `lock`."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    # Git commands on the shared repository (worktree add/remove, merges into the session, branch
    # deletion) run one at a time: each reads or locks repository-wide files the others write.
    git_lock: threading.Lock = field(default_factory=threading.Lock)
    scopes: dict[int, ProcessScope] = field(default_factory=dict)
    # Branches of merged agents, deleted together at the end (one git command instead of one each).
    done_branches: list[str] = field(default_factory=list)


def run_map(run: MapRun, indexes: Sequence[int]) -> MapOutcome:
    """Run the agents for ``indexes`` (skipping finished ones); returns every item's final state."""
    total = len(run.items)
    states = run.store.item_states(total)
    todo = [index for index in indexes if not states[index].finished]
    finished = sum(1 for state in states if state.finished)
    failed = sum(1 for state in states if state.status is ItemStatus.FAILED)
    run.view.start(total, finished, failed, run.max_parallel)
    run.events.emit("map_phase_started", total=total, to_run=len(todo), max_parallel=run.max_parallel)
    # The error policy's limits count this run's items: a resume (after the user fixed something)
    # gets a fresh budget; earlier failures wait in the dead-letter queue for `dlq retry`.
    finished = failed = 0
    shared = _Shared()
    running: dict[Future[ItemState], int] = {}
    stop_reason: str | None = None
    interrupted: Interrupted | None = None
    pool = ThreadPoolExecutor(max_workers=max(1, run.max_parallel), thread_name_prefix="prodigy-agent")
    try:
        while todo or running:
            while todo and len(running) < run.max_parallel and stop_reason is None:
                index = todo.pop(0)
                running[pool.submit(_run_item, run, shared, index, states[index])] = index
            done, _ = wait(running, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
            for future in done:
                index = running.pop(future)
                states[index] = future.result()
                finished += 1
                failed += states[index].status is ItemStatus.FAILED
            if stop_reason is None:
                stop_reason = run.policy.stop_reason(failed=failed, finished=finished)
                if stop_reason is not None and todo:
                    run.view.note(f"Stopping the map phase: {stop_reason}; {plural(len(todo), 'item')} not started")
                    todo.clear()
    except Interrupted as error:
        interrupted = error
    except KeyboardInterrupt:
        interrupted = Interrupted("interrupted (SIGINT)", signal_exit_code=EXIT_SIGINT)
    finally:
        if interrupted is not None:
            with shared.lock:
                scopes = list(shared.scopes.values())
            stop_all(scopes, interrupted)
        pool.shutdown(wait=True)
        run.view.stop()
        agent_worktrees.delete_branches(run.session.repo, shared.done_branches)
    final = run.store.item_states(total)
    run.events.emit("map_phase_completed", succeeded=sum(s.status is ItemStatus.SUCCEEDED for s in final),
                    failed=sum(s.status is ItemStatus.FAILED for s in final), interrupted=interrupted is not None)
    return MapOutcome(final, interrupted, stop_reason)


# -- one item, in a worker thread --------------------------------------------------------------------

def _run_item(run: MapRun, shared: _Shared, index: int, state: ItemState) -> ItemState:
    resume = state.status in (ItemStatus.RUNNING, ItemStatus.INTERRUPTED)
    attempt = state.attempt if resume and state.attempt else state.attempt + 1
    last_attempt = attempt + run.policy.attempts_per_item() - 1
    log_path = layout.agent_log(run.session.id, run.number(index), run.home)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("a", encoding="utf-8") as log:
        while True:
            scope = ProcessScope(run.item_id(index))
            with shared.lock:
                shared.scopes[index] = scope
            try:
                with scope.active():
                    state = _attempt(run, shared, index, state, attempt, resume, scope, log, log_path)
            finally:
                with shared.lock:
                    shared.scopes.pop(index, None)
            # A failed merge is not the agent's doing: running it again would not help.
            if state.status is not ItemStatus.FAILED or attempt >= last_attempt or state.failed_step == MERGE_STEP:
                return state
            run.console.detail(f"{run.item_id(index)} failed; retrying (attempt {attempt + 1}/{last_attempt})")
            failed_agent = agent_worktrees.describe(run.session.repo, run.session.id, run.number(index))
            _remove_agent(run, shared, failed_agent, log)
            attempt, resume = attempt + 1, False


def _remove_agent(run: MapRun, shared: _Shared, agent: AgentWorktree, log: TextIO) -> None:
    """Remove an agent's worktree and branch; a failure is only noted (the session's end retries)."""
    with shared.git_lock:
        try:
            agent_worktrees.remove(run.session.repo, agent)
        except GitError as error:
            log.write(f"warning: could not remove {agent.path}: {error.message}\n")


def _attempt(run: MapRun, shared: _Shared, index: int, state: ItemState, attempt: int, resume: bool,
             scope: ProcessScope, log: TextIO, log_path: Path) -> ItemState:
    session, store, the_id = run.session, run.store, run.item_id(index)
    item = run.items[index]
    console = Console(max(run.verbosity, 0), out=log, err=log)
    console.info(f"=== {the_id} attempt {attempt} — {datetime.now(timezone.utc).isoformat(timespec='seconds')} ===")
    base = state.base_sha if resume and state.base_sha else run.base_sha
    try:
        with shared.git_lock:   # `git worktree add` reads every other worktree's files: never two at once
            agent, reused = agent_worktrees.create(session.repo, session.id, run.number(index), base,
                                                   fresh=not resume)
        if not reused:
            agent_worktrees.checkout(agent)     # writing the files needs no lock
    except GitError as error:
        return _fail(run, index, attempt, f"could not create the agent worktree: {error.message}", None,
                     log_path, None, 0.0)
    start_step = state.next_step if resume and reused else 0
    variables = agent_variables(run.base_variables, workdir=agent.path, workflow_env=run.workflow_env, item=item,
                                number=run.number(index), total=len(run.items),
                                resumed=state.variables if resume and reused else None)
    run.book.started(index, attempt=attempt, base=base, where=str(agent.path), label=item_label(item),
                     next_step=start_step)
    timer = agent_deadline(scope, run.agent_timeout, the_id)
    try:
        outcome = run_agent(
            AgentRequest(steps=run.steps, workdir=agent.path, env=_agent_env(run, agent, the_id, variables),
                         variables=variables, console=console, start_step=start_step, verbosity=run.verbosity,
                         test_mode=run.test_mode, secrets=run.secrets, home=run.home),
            on_step=lambda number, total, step: _on_step(run, the_id, number, total, step),
            on_step_done=lambda next_step, values: store.record("step", index, next_step=next_step,
                                                                variables=values))
    finally:
        if timer is not None:
            timer.cancel()
    if outcome.end is AgentEnd.FAILED:
        console.error(f"FAILED{f' at {outcome.failed_step}' if outcome.failed_step else ''}: {outcome.error}")
    elif outcome.end is AgentEnd.INTERRUPTED:
        console.error(f"INTERRUPTED ({outcome.error}); it continues at step {outcome.next_step + 1} on resume")
    if outcome.end is AgentEnd.SUCCEEDED:
        return _succeeded(run, shared, index, attempt, agent, base, outcome, console, log_path, reused)
    if outcome.end is AgentEnd.INTERRUPTED:
        return _interrupted(run, index, outcome.next_step, outcome.error)
    return _fail(run, index, attempt, outcome.error or "failed", outcome.failed_step, log_path, agent,
                 outcome.duration, output=outcome.output)


def _agent_env(run: MapRun, agent: AgentWorktree, the_id: str, variables: Mapping[str, object]) -> dict[str, str]:
    return agent_env(run.environ, session_id=run.session.id, workflow_env=run.workflow_env, variables=variables,
                     the_id=the_id, branch=agent.branch)


def _on_step(run: MapRun, the_id: str, number: int, total: int, step: Step) -> None:
    run.view.agent_step(the_id, number + 1, total, step.display)


def _succeeded(run: MapRun, shared: _Shared, index: int, attempt: int, agent: AgentWorktree, base: str,
               outcome: AgentOutcome, console: Console, log_path: Path, reused: bool) -> ItemState:
    session, the_id = run.session, run.item_id(index)
    if reused:   # steps of an earlier run may have committed too: ask git
        head = git.head_sha(agent.path) or base
        commits = [commit.sha for commit in git.commits_between(agent.path, base, head)] if head != base else []
    else:        # every step ran in this run, and each one counted its commits
        commits = list(outcome.commits)
    resolve = claude_resolver(console, run.environ, run.verbosity)
    # Only an agent kept from an interrupted run can have been merged already (before a crash).
    state = run.book.merged_or_kept(
        index, attempt=attempt, branch=agent.branch, commits=commits, output=outcome.output,
        duration=outcome.duration, lock=shared.git_lock, log=log_path, worktree=agent.path,
        next_step=outcome.next_step,
        merge=lambda: merge_agent(session, agent.branch, the_id, console, resolve, check_merged=reused))
    if state.status is ItemStatus.SUCCEEDED:
        # The files go first, outside the lock; the registration and the branch need it.
        admin = agent_worktrees.remove_files(agent)
        with shared.git_lock:
            agent_worktrees.unregister(session.repo, admin)
            shared.done_branches.append(agent.branch)
    return state


def _interrupted(run: MapRun, index: int, next_step: int, error: str | None) -> ItemState:
    return run.book.interrupted(index, next_step, error)


def _fail(run: MapRun, index: int, attempt: int, error: str, step: str | None, log_path: Path,
          agent: AgentWorktree | None, duration: float, *, output: str = "") -> ItemState:
    return run.book.failed(index, attempt=attempt, error=error, step=step, log=log_path,
                           worktree=agent.path if agent else None, branch=agent.branch if agent else None,
                           duration=duration, output=output)
