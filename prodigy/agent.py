"""``prodigy agent execute FILE``: the workflow runner inside the pod.

It is the local executor with everything interactive taken away: no worktree, no prompt,
no merge. The client on the user's machine streams this process's output, so the output is
the local run's output, line for line. When the workflow ends, a JSON summary of at most
4 KiB (status, exit code, failed step, error, head sha, commit count) goes to the container's
termination message file, where the client reads it from the pod status without another
request; the process exits with the workflow's exit code.

The repository comes from the transport (``prodigy.k8s.transport``): its init container has
checked out the session branch, and on the way out the agent exports the new commits and the
checkpoint for the results container, on success and failure alike. The workflow's ``secrets:``
values are not in the shipped file: they come from the run's Secret (``PRODIGY_WORKFLOW_SECRETS``).
A bug in the agent (any unexpected exception) ends it with exit code 3, its message in the summary
and the traceback in the log, so the client can say what broke. A pod started without the
transport's environment (a Job written by hand) runs the workflow in a fresh git repository in
the workspace (``/workspace/repo``) with one empty initial commit, so steps can still commit.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy.errors import EXIT_FAILURE, EXIT_INTERNAL, ProdigyError
from prodigy.ui.console import Console

if TYPE_CHECKING:
    from prodigy.k8s.transport.pod import AgentSide

TERMINATION_LOG_ENV = "PRODIGY_TERMINATION_LOG"     # tests point it at a temp file
DEFAULT_TERMINATION_LOG = "/dev/termination-log"
WORKDIR_ENV = "PRODIGY_AGENT_WORKDIR"
MAX_SUMMARY_BYTES = 4096                            # the kubelet truncates termination messages at 4 KiB
EXIT_OOM = 137                                      # what the kubelet reports for an OOM-killed container
CGROUP_ROOT = Path("/sys/fs/cgroup")


def oom_kills(proc_cgroup: str, cgroup_root: Path = CGROUP_ROOT) -> int:
    """How many processes the kernel's OOM killer has killed in this container's memory cgroup.

    Why the agent looks: with cgroup v1 (or ``singleProcessOOMKill``) the kernel kills only the
    biggest process — the step — and the agent lives on, so the container would end with the
    workflow's exit 1 and nobody would learn it was memory. ``proc_cgroup`` is the text of
    ``/proc/self/cgroup``; 0 when there is no readable memory cgroup.
    """
    for line in proc_cgroup.splitlines():
        _, controllers, path = line.split(":", 2) if line.count(":") >= 2 else ("", "", "")
        if controllers == "" and path:                       # cgroup v2 unified hierarchy
            events, key = cgroup_root / path.lstrip("/") / "memory.events", "oom_kill"
        elif "memory" in controllers.split(","):              # cgroup v1 memory hierarchy
            events, key = cgroup_root / "memory" / path.lstrip("/") / "memory.oom_control", "oom_kill"
        else:
            continue
        try:
            for entry in events.read_text().splitlines():
                name, _, value = entry.partition(" ")
                if name == key:
                    return int(value)
        except (OSError, ValueError):
            continue
    return 0


def _own_oom_kills() -> int:
    try:
        return oom_kills(Path("/proc/self/cgroup").read_text())
    except OSError:
        return 0


@dataclass(frozen=True)
class AgentRequest:
    workflow_path: Path
    args: tuple[str, ...] = ()
    max_iterations: int = 1
    verbosity: int = 0
    # A MapReduce session's phase (setup, map, reduce, merge): `prodigy.k8s.mapreduce` runs one
    # Job per phase, each pod one phase of the shipped ``mode: mapreduce`` file.
    phase: str = ""
    timeout: int | None = None           # setup's timeout / the agent's agent_timeout_secs
    merge_branch: str = ""               # merge: the agent branch to merge, its head, its item id
    merge_head: str = ""
    merge_item: str = ""


PHASES = ("setup", "map", "reduce", "merge")


def summary_json(summary: Mapping[str, Any], limit: int = MAX_SUMMARY_BYTES) -> str:
    """Serialise ``summary`` within ``limit`` bytes, shortening the free-text fields first."""
    data = dict(summary)
    text = json.dumps(data, sort_keys=True)
    for key in ("error", "failed_step"):
        while len(text.encode()) > limit and isinstance(data.get(key), str) and data[key]:
            value: str = data[key]
            data[key] = value[: max(0, len(value) // 2 - 1)] + "…"
            text = json.dumps(data, sort_keys=True)
    if len(text.encode()) > limit:
        text = json.dumps({k: data[k] for k in ("status", "exit_code") if k in data})
    return text


def write_termination_message(summary: Mapping[str, Any], environ: Mapping[str, str]) -> None:
    path = Path(environ.get(TERMINATION_LOG_ENV) or DEFAULT_TERMINATION_LOG)
    try:
        path.write_text(summary_json(summary), encoding="utf-8")
    except OSError:
        pass  # outside a pod (or a read-only path) the summary is a convenience, not a requirement


def prepare_workspace(root: Path, environ: Mapping[str, str]) -> Path:
    """A git repository to run in: ``root/repo``, created with an empty first commit."""
    repo = root / "repo"
    if (repo / ".git").exists():
        return repo
    repo.mkdir(parents=True, exist_ok=True)
    env = {**environ,
           "GIT_AUTHOR_NAME": environ.get("GIT_AUTHOR_NAME") or "prodigy",
           "GIT_AUTHOR_EMAIL": environ.get("GIT_AUTHOR_EMAIL") or "prodigy@localhost",
           "GIT_COMMITTER_NAME": environ.get("GIT_COMMITTER_NAME") or "prodigy",
           "GIT_COMMITTER_EMAIL": environ.get("GIT_COMMITTER_EMAIL") or "prodigy@localhost"}
    for command in (["git", "init", "-q", "-b", "main"],
                    ["git", "commit", "-q", "--allow-empty", "-m", "prodigy: empty workspace"]):
        subprocess.run(command, cwd=repo, env=env, check=True, stdout=subprocess.DEVNULL)
    return repo


def execute(request: AgentRequest, environ: Mapping[str, str] | None = None) -> int:
    """Run the workflow; always leave a termination message; return the workflow's exit code."""
    if request.phase:
        return execute_phase(request, environ)
    from prodigy.k8s.transport.pod import AgentSide

    env = dict(os.environ if environ is None else environ)
    console = Console(request.verbosity)
    # Repository transport: the init container checked the repository out; the results container
    # waits for our export (and our heartbeat tells it we are alive). None for Jobs without it.
    side = AgentSide.from_env(env)

    def work(alive: contextlib.ExitStack) -> tuple[dict[str, Any], int]:
        if side is not None:
            alive.enter_context(side.heartbeat())
        return _run_workflow(request, side, env, console)

    return _always_terminate(work, lambda: side, env, console)


def execute_phase(request: AgentRequest, environ: Mapping[str, str] | None = None) -> int:
    """One phase of a MapReduce session (`prodigy.local.mapreduce.pod_phases`), in a pod of the
    repository transport: the phase runs in the checkout, its commits and state go home with the
    export. A map Job's pod works on the item of its completion index, on that item's branch."""
    from prodigy.k8s.transport.pod import AgentSide

    env = dict(os.environ if environ is None else environ)
    console = Console(request.verbosity)
    side = AgentSide.from_env(env)
    exported = [side]            # a map pod exports its item's branch, chosen once the item is known

    def work(alive: contextlib.ExitStack) -> tuple[dict[str, Any], int]:
        if side is None:
            raise ProdigyError(f"the {request.phase} phase runs only in a pod of `prodigy cook --cluster`")
        if request.phase not in PHASES:
            raise ProdigyError(f"unknown MapReduce phase {request.phase!r} (one of {', '.join(PHASES)})")
        alive.enter_context(side.heartbeat())
        summary = _run_phase(request, side, env, console, exported)
        return summary, int(summary["exit_code"])

    return _always_terminate(work, lambda: exported[0], env, console)


def _always_terminate(work: Callable[[contextlib.ExitStack], tuple[dict[str, Any], int]],
                      exporter: Callable[[], AgentSide | None], env: Mapping[str, str], console: Console) -> int:
    """Run ``work`` and return its exit code; whatever happens, export the commits so far (when
    the pod has the repository transport) and leave a termination message.

    ``work`` enters the heartbeat into the stack it is given: the heartbeat tells the results
    container we are alive, so it must last until the export is written, or a slow export after
    SIGTERM reads as a dead agent.
    """
    summary: dict[str, Any] = {"status": "failed", "exit_code": EXIT_FAILURE}
    alive = contextlib.ExitStack()
    try:
        summary, code = work(alive)
        return code
    except ProdigyError as exc:
        summary = {"status": "failed", "exit_code": exc.exit_code, "error": exc.message, "failed_step": None}
        console.error(f"Error: {exc.message}")
        if exc.hint:
            console.error(f"hint: {exc.hint}")
        return exc.exit_code
    except Exception as exc:  # noqa: BLE001 - a bug in the agent: the user must read what broke
        error = f"the agent crashed: {type(exc).__name__}: {exc}"
        summary = {"status": "failed", "exit_code": EXIT_INTERNAL, "error": error, "failed_step": None,
                   "crashed": True}
        # The traceback goes to the pod's log: its last lines are what the CLI shows with the error.
        traceback.print_exc()
        if exporter() is None:   # with the transport, `prodigy cook` prints it from the summary
            console.error(f"Error: {error}")
        return EXIT_INTERNAL
    finally:
        try:
            side = exporter()
            if side is not None:   # on success and failure alike: the commits so far, and the checkpoint
                side.export(int(summary.get("exit_code", EXIT_FAILURE)))
        finally:
            alive.close()
            write_termination_message(summary, env)


def _run_workflow(request: AgentRequest, side: AgentSide | None, env: dict[str, str],
                  console: Console) -> tuple[dict[str, Any], int]:
    """A standard workflow in this container: its termination summary and exit code."""
    from prodigy.k8s.shipped_workflow import SECRETS_ENV, restore_secrets
    from prodigy.local.executor import ExecutionRequest
    from prodigy.local.executor import execute as run_steps
    from prodigy.local.signals import interrupts_raise
    from prodigy.workflow.loader import load_workflow

    loaded = load_workflow(request.workflow_path)
    for warning in loaded.warnings:
        console.warn(warning)
    # The shipped file has `<redacted>` for each secret; the values come from the run's
    # Secret, and the steps see each one as its own variable, as in a local run.
    workflow = restore_secrets(loaded.workflow, env)
    env.pop(SECRETS_ENV, None)
    root = Path(env.get(WORKDIR_ENV) or os.getcwd())
    session_id = env.get("PRODIGY_SESSION_ID") or env.get("PRODIGY_RUN_ID") or "agent"
    if side is not None:
        workdir, state_dir, resume = side.repo_dir, side.state_dir, side.resuming
    else:
        try:
            workdir = prepare_workspace(root, env)
        except subprocess.CalledProcessError as exc:
            raise ProdigyError(f"workspace setup failed: {exc}") from None
        state_dir, resume = root / ".prodigy-state" / session_id, False
    kills_before = _own_oom_kills()
    with interrupts_raise():
        result = run_steps(ExecutionRequest(
            workflow=workflow, workdir=workdir, state_dir=state_dir, session_id=session_id,
            args=request.args, max_iterations=request.max_iterations, resume=resume, environ=env,
            verbosity=request.verbosity), console)
    summary = result.to_json()
    # With the transport, `prodigy cook` prints the error from this summary when it finishes
    # the session, like a local run; printing it to the log too would show it twice.
    if result.error and result.exit_code != 0 and side is None:
        console.error(f"Error: {result.error}")
    if result.exit_code != 0 and _own_oom_kills() > kills_before:
        # A step was OOM-killed: end the container the way a container-level OOM kill would,
        # so the Job's diagnosis says "out of memory" and names the limit to raise.
        if side is None:
            console.error("Error: a step was killed for exceeding the container's memory limit (OOM)")
        summary.update(exit_code=EXIT_OOM, oom_killed=True)
        return summary, EXIT_OOM
    return summary, result.exit_code


def _run_phase(request: AgentRequest, side: Any, env: dict[str, str], console: Any,
               exported: list[Any]) -> dict[str, Any]:
    """The phase's termination summary; a map pod puts its item's branch in ``exported``."""
    import dataclasses

    from prodigy.k8s.mapreduce.items import ENV_ITEMS_DIR, ItemsError, read_assignment
    from prodigy.k8s.shipped_workflow import SECRETS_ENV, restore_mapreduce_secrets
    from prodigy.local.mapreduce import pod_phases
    from prodigy.local.mapreduce.agent import AgentEnd
    from prodigy.local.signals import interrupts_raise
    from prodigy.mapreduce import layout
    from prodigy.repo.agents import agent_branch
    from prodigy.workflow.mapreduce_loader import load_mapreduce

    loaded = load_mapreduce(request.workflow_path)
    workflow = restore_mapreduce_secrets(loaded.workflow, env)
    env.pop(SECRETS_ENV, None)
    session_id = env.get("PRODIGY_SESSION_ID") or "session"
    ctx = pod_phases.PodContext(workflow=workflow, workdir=side.repo_dir, state_dir=side.state_dir,
                                session_id=session_id, environ=env, console=console, args=request.args,
                                verbosity=request.verbosity)
    side.state_dir.mkdir(parents=True, exist_ok=True)
    with interrupts_raise():
        if request.phase == "setup":
            result, report = pod_phases.setup_here(ctx, timeout=request.timeout)
            if report is not None:
                _write_json(side.state_dir / layout.POD_SETUP_REPORT, report)
            return result.to_json()
        if request.phase == "reduce":
            variables = json.loads((side.state_dir / layout.POD_REDUCE_VARIABLES).read_text(encoding="utf-8"))
            return pod_phases.reduce_here(ctx, variables).to_json()
        if request.phase == "merge":
            result = pod_phases.merge_here(ctx, branch=request.merge_branch, head=request.merge_head,
                                           the_id=request.merge_item, target=side.branch)
            return result.to_json()
        # map: the item of this pod's completion index, on the item's own branch
        job_index = int(env.get("JOB_COMPLETION_INDEX", "-1"))
        try:
            assigned = read_assignment(Path(env[ENV_ITEMS_DIR]), job_index)
        except ItemsError as error:
            raise ProdigyError(f"map Job index {job_index}: {error}") from None
        exported[0] = dataclasses.replace(side, branch=agent_branch(session_id, assigned.number))
        outcome = pod_phases.item_here(ctx, number=assigned.number, total=assigned.total, item=assigned.item,
                                       base_variables=assigned.variables, timeout=request.timeout)
    code = {AgentEnd.SUCCEEDED: 0, AgentEnd.FAILED: EXIT_FAILURE}.get(outcome.end, outcome.exit_code or EXIT_FAILURE)
    _write_json(side.state_dir / layout.POD_AGENT_REPORT, {
        "end": outcome.end.value, "error": outcome.error, "failed_step": outcome.failed_step,
        "output": outcome.output, "duration": round(outcome.duration, 3), "next_step": outcome.next_step})
    if outcome.end is AgentEnd.FAILED:
        console.error(f"FAILED{f' at {outcome.failed_step}' if outcome.failed_step else ''}: {outcome.error}")
    summary = {"status": "completed" if code == 0 else ("interrupted" if outcome.end is AgentEnd.INTERRUPTED
                                                        else "failed"),
               "exit_code": code, "error": outcome.error, "failed_step": outcome.failed_step}
    return summary


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, default=str), encoding="utf-8")

