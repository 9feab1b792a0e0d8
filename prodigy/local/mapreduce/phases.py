"""A MapReduce session's phases, in its worktree: setup -> select items -> map -> reduce.

    run_phases(PhaseRun(...)) -> ExecutionResult

Setup and reduce are step lists run by the standard engine (`prodigy.local.executor.execute`)
in the session worktree, each with its own checkpoints, so an interrupted setup or reduce resumes
at its step like any session. Between them the items are selected once and frozen in the job
state; the map phase then runs the agents (`map_phase.run_map`). The job state records the phase,
so `prodigy resume` continues where the session stopped: a finished phase is never run again,
a finished item is never run again, a merged agent is never merged again.

The result is the `ExecutionResult` the standard end of a session consumes (summary, merge or
keep + ``Resume with``).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

from prodigy.errors import EXIT_FAILURE, EXIT_OK, WorkflowFailed
from prodigy.local import checkpoints
from prodigy.local.env_resolve import EnvValueError, resolve_computed_env
from prodigy.events import EventLog
from prodigy.local.executor import ExecutionRequest, execute
from prodigy.local.mapreduce.inputs import LoadedItems, load_items
from prodigy.local.mapreduce.map_phase import MapRun, run_map
from prodigy.mapreduce import layout
from prodigy.mapreduce.dlq import DeadLetterStore
from prodigy.mapreduce.journal import ItemState, JobHeader, JobStore, Phase
from prodigy.mapreduce.limits import Limits
from prodigy.mapreduce.summary import announce_selection, arg_variables, enter_map, reduce_variables, report_map
from prodigy.local.process_scope import ProcessScope
from prodigy.local.steps import StepFailed
from prodigy.repo import git
from prodigy.repo.worktrees import Session
from prodigy.ui.console import Console
from prodigy.ui.format import plural
from prodigy.ui.mapreduce_view import choose_view
from prodigy.workflow.mapreduce import MapReduceWorkflow
from prodigy.workflow.model import Step
from prodigy.workflow.result import ExecutionResult, ExecutionStatus

__all__ = ["PhaseRun", "PhaseSteps", "build_map_run", "completed_result", "phase_result", "quiet_git",
           "run_phase_steps", "run_phases", "select_items_here", "setup_variables_of"]

# Variables every phase sets for itself; what setup leaves behind for map and reduce is the rest.
_PER_PHASE = frozenset({"PROJECT_ROOT", "WORKTREE", "ITERATION", "SESSION_ID"})


@dataclass(frozen=True)
class PhaseRun:
    session: Session
    workflow: MapReduceWorkflow
    limits: Limits
    console: Console
    environ: Mapping[str, str]
    events: EventLog
    verbosity: int = 0
    args: tuple[str, ...] = ()
    home: Path | None = None

    @property
    def test_mode(self) -> bool:
        return self.environ.get("PRODIGY_TEST_MODE", "").lower() == "true"


def run_phases(run: PhaseRun) -> ExecutionResult:
    started = time.monotonic()
    session = run.session
    store = JobStore(layout.state_dir(session.id, run.home))
    header = store.load_header() or store.save_header(JobHeader(session.id))
    workflow = run.workflow
    counts = _Counts()
    if header.phase is Phase.SETUP:
        if workflow.setup is not None:
            result = _run_steps(run, "setup", workflow.setup.steps, store.directory / "setup", {},
                                timeout=run.limits.setup_timeout)
            counts.add(result)
            if result.status is not ExecutionStatus.COMPLETED:
                return _result(run, started, counts, result.status, result.exit_code, result.error, result.failed_step)
        try:
            header = _select_items(run, store, header)
        except WorkflowFailed as error:
            return _result(run, started, counts, ExecutionStatus.FAILED, EXIT_FAILURE, error.message, "map input")
    if header.phase is Phase.MAP:
        items = store.load_items()
        with quiet_git() as git_settings:
            try:
                map_run = build_map_run(run, store, header, items, git_settings)
            except EnvValueError as error:
                return _result(run, started, counts, ExecutionStatus.FAILED, EXIT_FAILURE, error.message,
                               "workflow env")
            outcome = run_map(map_run, range(len(items)))
        counts.items(outcome.states)
        if outcome.interrupted is not None:
            return _result(run, started, counts, ExecutionStatus.INTERRUPTED, outcome.interrupted.exit_code,
                           outcome.interrupted.message, "map phase")
        report_map(run.console, outcome.states, header, session.id)
        if outcome.stop_reason is not None:
            return _result(run, started, counts, ExecutionStatus.FAILED, EXIT_FAILURE,
                           f"Map phase stopped: {outcome.stop_reason}", "map phase")
        # A `dlq retry` session only re-runs failed items: the reduce phase already ran in the original.
        header = store.save_header(replace(header, phase=Phase.DONE if header.retry_of else Phase.REDUCE))
    else:
        counts.items(store.item_states(header.total))
    if header.phase is Phase.REDUCE:
        if workflow.reduce:
            variables = reduce_variables(header, store.item_states(header.total), store.load_items())
            result = _run_steps(run, "reduce", workflow.reduce, store.directory / "reduce", variables)
            counts.add(result)
            if result.status is not ExecutionStatus.COMPLETED:
                return _result(run, started, counts, result.status, result.exit_code, result.error, result.failed_step)
        header = store.save_header(replace(header, phase=Phase.DONE))
    return _result(run, started, counts, ExecutionStatus.COMPLETED, EXIT_OK, None, None)


@dataclass
class _Counts:
    done: int = 0
    total: int = 0

    def add(self, result: ExecutionResult) -> None:
        self.done += result.steps_completed
        self.total += result.steps_total

    def items(self, states: list[ItemState]) -> None:
        self.done += sum(1 for state in states if state.finished)
        self.total += len(states)


def _run_steps(run: PhaseRun, phase: str, steps: tuple[Step, ...], state_dir: Path,
               variables: Mapping[str, object], *, timeout: int | None = None) -> ExecutionResult:
    return run_phase_steps(PhaseSteps(run.workflow, phase, steps, workdir=run.session.path, session_id=run.session.id,
                                      state_dir=state_dir, variables=variables, args=run.args, environ=run.environ,
                                      verbosity=run.verbosity, home=run.home, timeout=timeout),
                           run.console, run.events)


@dataclass(frozen=True)
class PhaseSteps:
    """Setup's or reduce's steps, to run in ``workdir`` (the session worktree, or a pod's checkout)."""

    workflow: MapReduceWorkflow
    phase: str
    steps: tuple[Step, ...]
    workdir: Path
    session_id: str
    state_dir: Path
    variables: Mapping[str, object]
    args: tuple[str, ...] = ()
    environ: Mapping[str, str] | None = None
    verbosity: int = 0
    home: Path | None = None
    timeout: int | None = None


def run_phase_steps(spec: PhaseSteps, console: Console, events: EventLog) -> ExecutionResult:
    """The steps of one phase through the standard engine, checkpointed in ``spec.state_dir``: a
    phase that stopped continues at its step, one that ran to the end is not run again."""
    phase, steps = spec.phase, spec.steps
    previous = checkpoints.load_latest(spec.state_dir)
    if previous is not None and previous.finished and previous.status is checkpoints.CheckpointStatus.COMPLETED:
        # Resumed after the phase had run to the end (the session stopped later): nothing to redo.
        console.info(f"{phase.capitalize()} phase: already done")
        head = git.head_sha(spec.workdir)
        return ExecutionResult(ExecutionStatus.COMPLETED, EXIT_OK, len(previous.completed_steps), len(steps), 0, 0.0,
                               previous.base_sha, head)
    resume = previous is not None
    console.info(f"{phase.capitalize()} phase ({plural(len(steps), 'step')}) in {spec.workdir}"
                 + (" — continuing" if resume else ""))
    events.emit(f"{phase}_phase_started", steps=len(steps), resume=resume)
    request = ExecutionRequest(
        workflow=spec.workflow.phase_workflow(phase, steps), workdir=spec.workdir, state_dir=spec.state_dir,
        session_id=spec.session_id, args=spec.args, resume=resume, environ=spec.environ, verbosity=spec.verbosity,
        home=spec.home, events=events, extra_variables=dict(spec.variables))
    with _phase_deadline(spec.timeout, phase):
        return execute(request, console)


@contextmanager
def _phase_deadline(timeout: int | None, phase: str) -> Iterator[None]:
    """Stop the phase's processes once it has run ``timeout`` seconds (setup's `timeout:`)."""
    if not timeout:
        yield
        return
    scope = ProcessScope(phase)
    error = StepFailed(f"{phase.capitalize()} phase timed out after {timeout} seconds", step=f"{phase} phase")
    timer = threading.Timer(timeout, scope.stop, args=(error,))
    timer.daemon = True
    with scope.active():
        timer.start()
        try:
            yield
        finally:
            timer.cancel()


def setup_variables_of(state_dir: Path) -> dict[str, object]:
    """What setup captured, for map and reduce (the phase's own standard variables left out)."""
    checkpoint = checkpoints.load_latest(state_dir)
    if checkpoint is None:
        return {}
    return {key: value for key, value in checkpoint.variables.items()
            if key not in _PER_PHASE and not key.startswith("ARG")}


def _select_items(run: PhaseRun, store: JobStore, header: JobHeader) -> JobHeader:
    session = run.session
    captured = setup_variables_of(store.directory / "setup")
    loaded = select_items_here(run.workflow, workdir=session.path, environ=run.environ, captured=captured)
    lines = loaded.describe(run.workflow.map)
    selection = loaded.selection
    announce_selection(run.console, lines, found=selection.found, selected=selection.selected, source=loaded.source)
    base = git.head_sha(session.path)
    assert base is not None
    run.events.emit("items_selected", found=selection.found, selected=selection.selected, source=loaded.source)
    return enter_map(store, header, loaded.items, lines, base=base, captured=captured)


def select_items_here(workflow: MapReduceWorkflow, *, workdir: Path, environ: Mapping[str, str],
                      captured: Mapping[str, object]) -> LoadedItems:
    """Read `map.input` in ``workdir`` (after setup) and select the items; raises WorkflowFailed."""
    variables: dict[str, object] = {**environ, **workflow.all_env, **captured}
    env = {**environ, "PRODIGY_AUTOMATION": "true", **workflow.all_env}
    return load_items(workflow.map, workdir=workdir, env=env, variables=variables)


def build_map_run(run: PhaseRun, store: JobStore, header: JobHeader, items: list[object],
                  git_settings: Mapping[str, str], *, base_sha: str | None = None) -> MapRun:
    """The map phase of ``run``; agents branch from ``base_sha`` (default: the commit after setup)."""
    session, workflow = run.session, run.workflow
    owner = header.retry_of or session.id
    dlq = DeadLetterStore.open(layout.dlq_file(session.repo, owner, run.home), session_id=owner,
                               repo=session.repo, original_branch=session.metadata.original_branch,
                               workflow_path=workflow.source)
    base = base_sha or header.map_base_sha
    assert base is not None
    computed, hidden = resolve_computed_env(workflow.computed_env, workdir=session.path,
                                            env={**run.environ, **workflow.all_env})
    return MapRun(
        session=session, store=store, dlq=dlq, items=items, steps=workflow.map.agent_steps,
        base_sha=base, max_parallel=run.limits.max_parallel, environ={**run.environ, **git_settings},
        workflow_env={**workflow.all_env, **computed},
        base_variables={**arg_variables(run.args), **header.setup_variables},
        policy=workflow.error_policy,
        console=run.console, view=choose_view(run.console), events=run.events, agent_timeout=run.limits.agent_timeout,
        verbosity=run.verbosity, test_mode=run.test_mode,
        secrets=(*(value for value in workflow.secrets.values() if len(value) >= 4), *hidden), home=run.home,
        original_indexes=header.original_indexes)


def _result(run: PhaseRun, started: float, counts: _Counts, status: ExecutionStatus, exit_code: int,
            error: str | None, failed_step: str | None) -> ExecutionResult:
    session = run.session
    base = session.metadata.base_sha
    head = git.head_sha(session.path)
    commits = tuple(c.sha for c in git.commits_between(session.path, base, head)) if base and head else ()
    files = tuple(git.files_changed(session.path, base, head)) if base and head else ()
    return ExecutionResult(status=status, exit_code=exit_code, steps_completed=counts.done,
                           steps_total=counts.total, steps_skipped=0, duration=time.monotonic() - started,
                           base_sha=base, head_sha=head, commits=commits, files_changed=files,
                           failed_step=failed_step, error=error)


def phase_result(run: PhaseRun, status: ExecutionStatus, exit_code: int, error: str | None,
                 failed_step: str | None) -> ExecutionResult:
    """A result for a run that did not go through `run_phases` (a `dlq retry` in a kept session)."""
    return _result(run, time.monotonic(), _Counts(), status, exit_code, error, failed_step)


def completed_result(run: PhaseRun) -> ExecutionResult:
    """The result of a session whose phases have all run (for `dlq retry` in a finished session)."""
    return _result(run, time.monotonic(), _Counts(), ExecutionStatus.COMPLETED, EXIT_OK, None, None)


@contextmanager
def quiet_git() -> Iterator[dict[str, str]]:
    """No automatic `git gc`/maintenance while agents run: a background gc holding git's
    repository-wide locks would make parallel branch deletions fail. Yields the variables set
    (for the agents' environment); os.environ is restored afterwards."""
    count = int(os.environ.get("GIT_CONFIG_COUNT", "0") or 0)
    settings: dict[str, str] = {}
    for offset, (key, value) in enumerate((("gc.auto", "0"), ("maintenance.auto", "false"))):
        settings[f"GIT_CONFIG_KEY_{count + offset}"] = key
        settings[f"GIT_CONFIG_VALUE_{count + offset}"] = value
    settings["GIT_CONFIG_COUNT"] = str(count + 2)
    saved = {key: os.environ.get(key) for key in settings}
    os.environ.update(settings)
    try:
        yield settings
    finally:
        for key, previous in saved.items():
            if previous is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = previous
