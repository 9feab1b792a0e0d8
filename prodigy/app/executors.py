"""Where a run executes: this machine, or the cluster the user named (or the session ran on)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from prodigy.execution import Executor, RunRequest
from prodigy.local.mapreduce.executor import MapReduceExecutor
from prodigy.local.runner import LocalExecutor
from prodigy.mapreduce.request import MapReduceRequest
from prodigy.options import RunOptions
from prodigy.repo.placement import ClusterPlacement
from prodigy.repo.worktrees import Session
from prodigy.ui.console import Console

if TYPE_CHECKING:
    from prodigy.k8s.mapreduce.executor import RetryPlan


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


def mapreduce_executor_for(request: MapReduceRequest, console: Console, *, cluster: str | None,
                           namespace: str | None = None, options: RunOptions | None = None,
                           resume: Session | None = None, retry: RetryPlan | None = None,
                           max_parallel: int | None = None) -> Executor:
    """A ``mode: mapreduce`` file: its agents as pods of one Indexed Job on ``cluster``, else as
    worktrees on this machine. (`dlq retry` on this machine has its own executor.)"""
    if cluster is None:
        return MapReduceExecutor(request, console, resume=resume, max_parallel=max_parallel)
    from prodigy.k8s.config.resolve import ClusterOverrides
    from prodigy.k8s.mapreduce.executor import ClusterMapReduceExecutor

    overrides = ClusterOverrides(namespace=namespace, image=options.image if options else None,
                                 image_pull_policy=options.image_pull_policy if options else None,
                                 keep=options.keep if options else False)
    return ClusterMapReduceExecutor(request, cluster, overrides, console, resume=resume, retry=retry,
                                    max_parallel=max_parallel)
