"""The map phase as ONE Indexed Job: every completion index is one work item. Pure.

Built from the same pieces as every cluster run (`prodigy.k8s.manifests`: the pod, the
workflow ConfigMap, the run's Secret, the repository transport), then made indexed:

- ``completionMode: Indexed``, ``completions`` = the items this Job runs, ``parallelism`` =
  ``max_parallel``: the Job controller starts pod ``i`` for item ``i`` (env
  ``JOB_COMPLETION_INDEX``) and keeps ``max_parallel`` running.
- The repository ships once (the transport's chunk ConfigMaps) and every index mounts it.
- The items ship as ConfigMaps (`items.plan_items`) mounted at ``/prodigy/items``.
- Retries are per index and only for the infrastructure (``backoffLimitPerIndex``):
    * a pod with a ``DisruptionTarget`` condition (evicted, preempted, its node drained or
      gone) is retried without counting (``Ignore``);
    * the agent exiting non-zero fails its index at once (``FailIndex``): its item goes to
      the dead-letter queue, never reruns (a Claude step would be billed again) — except
      143, the agent stopped by SIGTERM because its pod was deleted: that is counted, and
      the index retried while retries are left;
    * anything else (an init container that failed, a pod that vanished) is counted too.
  With ``on_item_failure: retry`` an agent failure is counted instead of failing the index:
  each item gets ``retry_config.max_attempts`` pods in all.
- ``backoffLimitPerIndex`` needs Kubernetes 1.29 or newer (beta there, on by default; GA
  in 1.33): preflight refuses an older API server before anything is created.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Final

from prodigy.k8s.manifests.additions import PodAdditions
from prodigy.k8s.manifests.contract import AGENT_CONTAINER
from prodigy.k8s.manifests.inputs import JobSpecInputs
from prodigy.k8s.manifests.run import RunObjects, build_run_objects
from prodigy.k8s.mapreduce.items import CHUNK_KEY, ENV_ITEMS_DIR, INDEX_KEY, ITEMS_DIR, ItemsPlan, chunk_file

__all__ = ["INFRA_RETRIES", "MIN_SERVER_MINOR", "IndexPolicy", "items_additions",
           "items_configmap_name", "map_job_objects"]

Obj = dict[str, Any]

ITEMS_VOLUME: Final = "prodigy-items"
INFRA_RETRIES: Final = 3                 # retries of an index lost to the infrastructure
STOPPED_EXIT: Final = 143                # the agent after SIGTERM: its pod was deleted, not its fault
MIN_SERVER_MINOR: Final = 29             # backoffLimitPerIndex + FailIndex: Kubernetes 1.29


def items_configmap_name(run_id: str, chunk: int | None = None) -> str:
    """``prodigy-items-<run id>`` (the index) and ``prodigy-items-<run id>-NNNN`` (the chunks)."""
    return f"prodigy-items-{run_id}" if chunk is None else f"prodigy-items-{run_id}-{chunk:04d}"


def items_additions(run_id: str, plan: ItemsPlan) -> PodAdditions:
    """The items ConfigMaps (owned by the Job like every dependent) and where the agent reads them."""
    def configmap(name: str, key: str, text: str) -> Obj:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "immutable": True,
                "data": {key: text}}

    maps = [configmap(items_configmap_name(run_id), INDEX_KEY, plan.index_text)]
    sources: list[Obj] = [{"configMap": {"name": items_configmap_name(run_id),
                                         "items": [{"key": INDEX_KEY, "path": INDEX_KEY}]}}]
    for chunk in plan.chunks:
        name = items_configmap_name(run_id, chunk.number)
        maps.append(configmap(name, CHUNK_KEY, chunk.text))
        sources.append({"configMap": {"name": name, "items": [{"key": CHUNK_KEY, "path": chunk_file(chunk.number)}]}})
    return PodAdditions(
        volumes=({"name": ITEMS_VOLUME, "projected": {"sources": sources, "defaultMode": 0o444}},),
        agent_volume_mounts=({"name": ITEMS_VOLUME, "mountPath": ITEMS_DIR, "readOnly": True},),
        agent_env=({"name": ENV_ITEMS_DIR, "value": ITEMS_DIR},),
        config_maps=tuple(maps))


@dataclass(frozen=True)
class IndexPolicy:
    """How the Job retries one index."""

    agent_failure_fails_index: bool = True   # False with on_item_failure: retry
    attempts: int = 1                        # pods per item for agent failures (retry policy)

    @property
    def backoff_limit_per_index(self) -> int:
        return INFRA_RETRIES if self.agent_failure_fails_index else max(self.attempts - 1, INFRA_RETRIES)


def map_job_objects(inputs: JobSpecInputs, *, completions: int, parallelism: int,
                    policy: IndexPolicy = IndexPolicy()) -> RunObjects:
    """The map Job and its dependents; ``inputs`` already carries the transport and items additions."""
    objects = build_run_objects(inputs)
    return RunObjects(job=indexed(objects.job, completions=completions, parallelism=parallelism, policy=policy),
                      owned=objects.owned)


def indexed(job: Obj, *, completions: int, parallelism: int, policy: IndexPolicy) -> Obj:
    if completions < 1:
        raise ValueError("an Indexed Job needs at least one completion")
    out = copy.deepcopy(job)
    spec = out["spec"]
    spec.pop("backoffLimit", None)              # per index instead (backoffLimit would cap the whole Job)
    rules: list[Obj] = [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    if policy.agent_failure_fails_index:
        rules.append({"action": "FailIndex", "onExitCodes": {"containerName": AGENT_CONTAINER, "operator": "NotIn",
                                                             "values": [0, STOPPED_EXIT]}})
    template = spec.pop("template")
    spec.pop("podFailurePolicy", None)
    out["spec"] = {"suspend": spec.pop("suspend"), "completionMode": "Indexed", "completions": completions,
                   "parallelism": max(1, min(parallelism, completions)),
                   "backoffLimitPerIndex": policy.backoff_limit_per_index, **spec,
                   "podFailurePolicy": {"rules": rules}, "template": template}
    return out
