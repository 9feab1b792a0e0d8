"""`prodigy cluster logs RUN|SESSION [-f] [--step N]`: a run's output, without finishing it.

Like ``kubectl logs``: the workflow container's whole log so far, or (``-f``) every line until
it ends; ``--step N`` keeps the lines of step N (`ui.steps.StepFilter`). Once a run is
collected its output is also kept here (`k8s.runlog`), so this still works after the pod is gone.
It takes no lock: any number of terminals may watch a run that one client finishes.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TextIO

from prodigy.app.existing import find_run
from prodigy.errors import EXIT_OK, UsageError
from prodigy.k8s import runlog
from prodigy.k8s.config.resolve import ClusterOverrides
from prodigy.k8s.connect import open_cluster
from prodigy.k8s.errors import BadRequest
from prodigy.k8s.transport.cluster_io import find_run_pod
from prodigy.ui.steps import StepFilter


def logs(name: str, *, follow: bool = False, step: int | None = None, out: TextIO | None = None) -> int:
    stream = out or sys.stdout
    record = find_run(name)
    keep: Callable[[str], bool] = StepFilter(step).keep if step is not None else (lambda _line: True)

    def emit(line: str) -> None:
        if keep(line):
            stream.write(line + "\n")
            stream.flush()

    copy = runlog.copy_path(record.run_id)
    if copy is not None and copy.is_file():
        # Written when the run was collected: the run is over, its whole output is here.
        for line in copy.read_text(encoding="utf-8", errors="replace").splitlines():
            emit(line)
        return EXIT_OK
    with open_cluster(record.cluster, ClusterOverrides(namespace=record.namespace)) as opened:
        kube = opened.kube
        pod = find_run_pod(kube, record.namespace, record.job)
        if pod is None:
            raise UsageError(f"run {record.run_id} has no pod on cluster {record.cluster} any more, and its output "
                             "was not kept here (it is kept when a run is collected)",
                             hint="`prodigy cluster runs` shows what is left of it")
        pod_name = pod["metadata"]["name"]
        if follow:
            runlog.follow_log(kube, record.namespace, pod_name, emit, threading.Event())
            return EXIT_OK
        try:
            lines = runlog.read_log(kube, record.namespace, pod_name)
        except BadRequest as exc:      # the workflow container has not started yet
            raise UsageError(f"run {record.run_id} has no output yet: {exc.message}",
                             hint=f"follow it as it starts: prodigy cluster logs {record.run_id} -f") from None
    for line in lines:
        emit(line)
    return EXIT_OK
