"""All of a run's objects, and the order they must be created in (implemented by ``prodigy.k8s.submit``).

1. Create the Job with ``spec.suspend: true``. No pod exists yet, so nothing can start
   before its ConfigMap and Secret do (an unsuspended Job would race them: the pod would
   sit in ContainerCreating / CreateContainerConfigError until they appear).
2. Create the ConfigMap(s) and Secret with an ownerReference to the Job
   (``metadata.owned_by``), using the uid the create returned. Owned from birth, they can
   never be orphaned: if the client dies at any point, deleting the Job (TTL,
   ``prodigy cluster gc``, a user's ``kubectl delete``) removes them through garbage
   collection.
3. PATCH ``RESUME_PATCH`` (``spec.suspend: false``); the Job controller creates the pod.

Creating the ConfigMap first and patching ownerReferences afterwards would leave an
unowned ConfigMap (and a Secret holding an API key) behind whenever the client dies
between the calls; a suspended Job left behind instead is labelled, visible to
``prodigy cluster gc`` and cleans up its dependents when deleted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from prodigy.k8s.manifests.data import build_configmap, build_secret
from prodigy.k8s.manifests.inputs import JobSpecInputs
from prodigy.k8s.manifests.job import build_job
from prodigy.k8s.manifests.metadata import run_labels, with_labels

Obj = dict[str, Any]

RESUME_PATCH: Final[Mapping[str, Any]] = MappingProxyType({"spec": {"suspend": False}})


@dataclass(frozen=True)
class RunObjects:
    """The run's objects. Create ``job`` (suspended) first, then each of ``owned`` with
    ``owned_by(obj, job_name, job_uid)``, then PATCH ``RESUME_PATCH`` onto the Job."""

    job: Obj
    owned: tuple[Obj, ...]

    def in_creation_order(self) -> list[Obj]:
        return [self.job, *self.owned]


def build_run_objects(inputs: JobSpecInputs) -> RunObjects:
    labels = run_labels(inputs.identity)
    owned: list[Obj] = [build_configmap(inputs)]
    owned += [_in_namespace(with_labels(cm, labels), inputs.cluster.namespace) for cm in inputs.additions.config_maps]
    secret = build_secret(inputs)
    if secret is not None:
        owned.append(secret)
    return RunObjects(job=build_job(inputs), owned=tuple(owned))


def _in_namespace(obj: Obj, namespace: str) -> Obj:
    """An extra ConfigMap lives in the run's namespace unless it names its own."""
    obj["metadata"].setdefault("namespace", namespace)
    return obj
