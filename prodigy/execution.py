"""The contract between the application layer (`prodigy.app`) and the executors below it.

An executor runs one workflow somewhere: `prodigy.local.runner.LocalExecutor` on this machine,
`prodigy.k8s.executor.ClusterExecutor` as a Kubernetes Job. The application layer decides which,
drives it through the phases below, and finishes every run the same way (summary, merge or
keep, ``Resume with:``). Executors never import each other or the application layer; what
they share is this module and `prodigy.repo`.

    interruptible()  a context in which Ctrl+C/SIGTERM stop the run the executor's way
    prepare()   every check that can fail, before any side effect (bad input -> exit 2 here)
    dry_run()   what would run, as text; creates nothing
    start()     the first side effects: the session (branch + worktree) exists, the run starts
    follow()    blocks while the run goes on, streaming its output; Ctrl+C/SIGTERM stop it
    collect()   the run's commits on the session branch, its checkpoint in the state dir; the end
    cancel()    stop a run started earlier (the signal path calls the same code)

Records only, no behaviour: `RunRequest` in, `RunEnd` out.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from prodigy.errors import ProdigyError
from prodigy.repo.worktrees import Session
from prodigy.workflow.loader import LoadedWorkflow
from prodigy.workflow.result import ExecutionResult


@dataclass(frozen=True)
class RunRequest:
    """One run, decided by the application layer before any executor sees it."""

    source: LoadedWorkflow            # read once: the model and the exact text it came from
    workflow_path: Path
    repo: Path                        # the repository's top level
    original_branch: str              # where the commits merge back
    args: tuple[str, ...]             # --args values and --map results: one pass each
    max_iterations: int
    verbosity: int
    environ: Mapping[str, str]
    uncommitted: tuple[str, ...] = ()  # changes in the checkout that the run will not see


@dataclass(frozen=True)
class RunEnd:
    """How a run ended, as the finish path needs it.

    ``result`` is the workflow's own report (None when the workflow never reported: a pod that
    never started, a run stopped before its first export). ``problem`` is the executor's own
    diagnosis of what went wrong around the workflow (a cluster's OOM kill, deadline, image pull
    failure): printed as the cause before the workflow's report (the executor passes it only when
    it explains that report), or as the error when there is no report.
    ``interrupted`` is the exit code of a run stopped by Ctrl+C/SIGTERM that has no report.
    """

    result: ExecutionResult | None
    problem: ProdigyError | None = None
    interrupted: int | None = None


class RunCancelled(Exception):
    """Ctrl+C/SIGTERM arrived before anything was started; nothing to keep."""

    def __init__(self, exit_code: int) -> None:
        super().__init__("cancelled before anything was started")
        self.exit_code = exit_code


class Executor(Protocol):
    """One way to run a workflow; see the module docstring for the phases."""

    def interruptible(self) -> AbstractContextManager[object]: ...

    def prepare(self, *, dry_run: bool = False) -> None: ...

    def dry_run(self) -> str: ...

    def start(self) -> Session: ...

    def follow(self) -> None: ...

    def collect(self) -> RunEnd: ...

    def cancel(self) -> None: ...

    def close(self) -> None: ...
