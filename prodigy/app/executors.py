"""Where a run executes: this machine, or the cluster the user named (or the session ran on)."""

from __future__ import annotations

from prodigy.execution import Executor, RunRequest
from prodigy.local.runner import LocalExecutor
from prodigy.options import RunOptions
from prodigy.repo.placement import ClusterPlacement
from prodigy.repo.worktrees import Session
from prodigy.ui.console import Console


def executor_for(request: RunRequest, options: RunOptions, console: Console, *,
                 resume: Session | None = None, placement: ClusterPlacement | None = None) -> Executor:
    """`--cluster NAME` (or a resumed session's placement) -> the Kubernetes executor; else local."""
    cluster = placement.cluster if placement is not None else options.cluster
    if cluster is None:
        return LocalExecutor(request, console, resume=resume)
    # Imported here, not at the top: a local run never loads the Kubernetes side (~45 ms of
    # modules, and the client library behind them).
    from prodigy.k8s.config.resolve import ClusterOverrides
    from prodigy.k8s.executor import ClusterExecutor

    overrides = ClusterOverrides(
        namespace=placement.namespace if placement is not None else options.namespace, image=options.image,
        image_pull_policy=options.image_pull_policy, keep=options.keep)
    return ClusterExecutor(request, cluster, overrides, console, resume=resume, detach=options.detach)
