"""A MapReduce session's phases as a cluster runs them: each in a pod, over the same engine.

The CLI drives a cluster session's phases (`prodigy.k8s.mapreduce`); each pod runs one of
these, in its checkout of the session's branch, with the functions a local session uses:

    setup_here    setup's steps (`run_phase_steps`), then the items chosen (`select_items_here`)
    item_here     one work item's agent (`run_agent`) on its own branch, from a map Job's index
    reduce_here   reduce's steps with the `${map.*}` variables the CLI computed
    merge_here    an agent's branch merged into the session branch: a conflict the CLI could
                  not merge, resolved here by Claude (`merge_branch_here`)

What the CLI needs back besides the commits (the items, how an agent ended) is written as JSON
into the pod's state directory, which travels home with the commits. `prodigy.agent` wires
these to the pod's transport; nothing here knows about Kubernetes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prodigy.errors import EXIT_FAILURE, EXIT_OK, GitError, WorkflowFailed
from prodigy.events import EventLog
from prodigy.local.env_resolve import EnvValueError, resolve_computed_env
from prodigy.local.mapreduce.agent import (
    AgentEnd,
    AgentOutcome,
    AgentRequest,
    agent_deadline,
    agent_env,
    agent_variables,
    run_agent,
)
from prodigy.local.mapreduce.phases import PhaseSteps, run_phase_steps, select_items_here, setup_variables_of
from prodigy.local.merge import merge_branch_here
from prodigy.local.process_scope import ProcessScope
from prodigy.mapreduce.ledger import agent_merge_message
from prodigy.repo import git
from prodigy.repo.agents import agent_branch
from prodigy.ui.console import Console
from prodigy.workflow.mapreduce import MapReduceWorkflow
from prodigy.workflow.mapreduce_vars import item_id
from prodigy.workflow.result import ExecutionResult, ExecutionStatus

__all__ = ["PodContext", "item_here", "merge_here", "reduce_here", "setup_here"]


@dataclass(frozen=True)
class PodContext:
    workflow: MapReduceWorkflow
    workdir: Path                # the pod's checkout
    state_dir: Path              # travels home with the commits
    session_id: str
    environ: Mapping[str, str]
    console: Console
    args: tuple[str, ...] = ()
    verbosity: int = 0

    @property
    def test_mode(self) -> bool:
        return self.environ.get("PRODIGY_TEST_MODE", "").lower() == "true"


def _done(workdir: Path, started: float) -> ExecutionResult:
    head = git.head_sha(workdir)
    return ExecutionResult(ExecutionStatus.COMPLETED, EXIT_OK, 0, 0, 0, time.monotonic() - started, head, head)


def _failed(workdir: Path, started: float, error: str, step: str) -> ExecutionResult:
    head = git.head_sha(workdir)
    return ExecutionResult(ExecutionStatus.FAILED, EXIT_FAILURE, 0, 0, 0, time.monotonic() - started, head, head,
                           failed_step=step, error=error)


def setup_here(ctx: PodContext, *, timeout: int | None = None) -> tuple[ExecutionResult, dict[str, Any] | None]:
    """Setup's steps, then the items; the report is what `layout.POD_SETUP_REPORT` holds (None on failure)."""
    started = time.monotonic()
    workflow = ctx.workflow
    setup_state = ctx.state_dir / "setup"
    if workflow.setup is not None:
        result = run_phase_steps(PhaseSteps(workflow, "setup", workflow.setup.steps, workdir=ctx.workdir,
                                            session_id=ctx.session_id, state_dir=setup_state, variables={},
                                            args=ctx.args, environ=ctx.environ, verbosity=ctx.verbosity,
                                            timeout=timeout), ctx.console, EventLog.disabled())
        if result.status is not ExecutionStatus.COMPLETED:
            return result, None
    else:
        result = _done(ctx.workdir, started)
    captured = setup_variables_of(setup_state)
    try:
        loaded = select_items_here(workflow, workdir=ctx.workdir, environ=ctx.environ, captured=captured)
    except WorkflowFailed as error:
        return _failed(ctx.workdir, started, error.message, "map input"), None
    report = {"items": loaded.items, "lines": loaded.describe(workflow.map), "found": loaded.selection.found,
              "selected": loaded.selection.selected, "source": loaded.source, "captured": captured}
    return result, report


def item_here(ctx: PodContext, *, number: int, total: int, item: object, base_variables: Mapping[str, object],
              timeout: int | None = None) -> AgentOutcome:
    """The agent of ``item_<number>``, on branch ``prodigy-agent-<session>-item_<number>`` made
    from the checkout's HEAD (the session's commit after setup)."""
    workflow = ctx.workflow
    the_id, branch = item_id(number), agent_branch(ctx.session_id, number)
    git.git("checkout", "-q", "-b", branch, cwd=ctx.workdir)
    started = time.monotonic()
    try:
        computed, hidden = resolve_computed_env(workflow.computed_env, workdir=ctx.workdir,
                                                env={**ctx.environ, **workflow.all_env})
    except EnvValueError as error:
        return AgentOutcome(AgentEnd.FAILED, 0, {}, "", time.monotonic() - started, error.message, "workflow env")
    workflow_env = {**workflow.all_env, **computed}
    variables = agent_variables(base_variables, workdir=ctx.workdir, workflow_env=workflow_env, item=item,
                                number=number, total=total)
    env = agent_env(ctx.environ, session_id=ctx.session_id, workflow_env=workflow_env, variables=variables,
                    the_id=the_id, branch=branch)
    secrets = (*(value for value in workflow.secrets.values() if len(value) >= 4), *hidden)
    scope = ProcessScope(the_id)
    with scope.active():
        timer = agent_deadline(scope, timeout, the_id)
        try:
            return run_agent(AgentRequest(steps=workflow.map.agent_steps, workdir=ctx.workdir, env=env,
                                          variables=variables, console=ctx.console, verbosity=ctx.verbosity,
                                          test_mode=ctx.test_mode, secrets=secrets),
                             on_step=lambda *_: None, on_step_done=lambda *_: None)
        finally:
            if timer is not None:
                timer.cancel()


def reduce_here(ctx: PodContext, variables: Mapping[str, object]) -> ExecutionResult:
    workflow = ctx.workflow
    if not workflow.reduce:
        return _done(ctx.workdir, time.monotonic())
    return run_phase_steps(PhaseSteps(workflow, "reduce", workflow.reduce, workdir=ctx.workdir,
                                      session_id=ctx.session_id, state_dir=ctx.state_dir / "reduce",
                                      variables=variables, args=ctx.args, environ=ctx.environ,
                                      verbosity=ctx.verbosity), ctx.console, EventLog.disabled())


def merge_here(ctx: PodContext, *, branch: str, head: str, the_id: str, target: str) -> ExecutionResult:
    """Merge ``branch`` (at ``head``, shipped with the session) into the checked-out session
    branch ``target``; a conflict goes to Claude, as it would on the user's machine."""
    started = time.monotonic()
    found = git.git("cat-file", "-e", "--end-of-options", f"{head}^{{commit}}", cwd=ctx.workdir, check=False)
    if not found.ok:
        return _failed(ctx.workdir, started, f"commit {head} of {branch} was not shipped with the session", "merge")
    git.git("update-ref", "--", f"refs/heads/{branch}", head, cwd=ctx.workdir)
    try:
        merge_branch_here(ctx.workdir, branch, target, ctx.console, ctx.environ, ctx.verbosity,
                          message=agent_merge_message(the_id, branch))
    except GitError as error:
        return _failed(ctx.workdir, started, error.message, f"merge {the_id}")
    return _done(ctx.workdir, started)
