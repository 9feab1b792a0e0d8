"""The Job around the pod template: suspension, retries, TTL, deadline and the pod failure policy.

- The Job is built suspended (``spec.suspend: true``); ``run`` explains why and when it is
  resumed.
- ``restartPolicy: Never`` (in the pod) and ``backoffLimit`` 0 by default: a retry reruns
  every Claude step from scratch, and is billed again.
- A pod failure policy fails the Job at once when the agent exits non-zero: a workflow that
  failed fails again, so ``backoff_limit`` only ever retries pods lost to the infrastructure.
- ``ttlSecondsAfterFinished`` removes a finished run (and, through ownership, its
  ConfigMaps and Secret) unless ``--keep``; a detached run gets it only once collected
  (``retention``).
"""

from __future__ import annotations

from typing import Any

from prodigy.k8s.manifests.additions import apply_additions
from prodigy.k8s.manifests.contract import AGENT_CONTAINER
from prodigy.k8s.manifests.inputs import JobSpecInputs
from prodigy.k8s.manifests.metadata import object_metadata, run_labels
from prodigy.k8s.manifests.pod import pod_spec
from prodigy.k8s.manifests.retention import detach_job

Obj = dict[str, Any]


def build_job(inputs: JobSpecInputs) -> Obj:
    cluster, run_names = inputs.cluster, inputs.names
    spec: Obj = {"suspend": True, "backoffLimit": cluster.backoff_limit}
    if cluster.ttl_seconds is not None:
        spec["ttlSecondsAfterFinished"] = cluster.ttl_seconds
    if cluster.active_deadline_seconds is not None:
        spec["activeDeadlineSeconds"] = cluster.active_deadline_seconds
    spec["podFailurePolicy"] = {
        "rules": [{
            "action": "FailJob",
            "onExitCodes": {"containerName": AGENT_CONTAINER, "operator": "NotIn", "values": [0]},
        }],
    }
    spec["template"] = {
        "metadata": {"labels": run_labels(inputs.identity)},
        "spec": pod_spec(inputs),
    }
    job: Obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_metadata(run_names.job, inputs, annotations=True),
        "spec": spec,
    }
    if inputs.detached:
        job = detach_job(job, cluster.ttl_seconds)
    return apply_additions(job, inputs.additions)
