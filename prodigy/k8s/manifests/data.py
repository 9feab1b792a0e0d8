"""The run's data objects: the workflow ConfigMap and the per-run credentials Secret.

Both are immutable: a run reads them once, and an immutable object cannot be edited under a
running pod (the kubelet also stops watching it). The ConfigMap carries the workflow file as
the user wrote it, except its ``secrets:`` values (``prodigy.k8s.shipped_workflow``), plus
``run.json`` (the run's identity, for the pod and for anyone reading the cluster later); its
size is checked here because the API server refuses more than 1 MiB only after the Job exists.
The Secret exists only when local credentials are forwarded (``prodigy.k8s.secrets`` decides
which) or the workflow has ``secrets:`` (their values, as ``PRODIGY_WORKFLOW_SECRETS``).
"""

from __future__ import annotations

import json
from typing import Any, Final

from prodigy.errors import UsageError
from prodigy.k8s.manifests.inputs import JobSpecInputs
from prodigy.k8s.manifests.metadata import object_metadata, rfc3339

Obj = dict[str, Any]

WORKFLOW_KEY: Final = "workflow.yaml"
RUN_METADATA_KEY: Final = "run.json"
# The apiserver refuses a ConfigMap whose data exceeds 1 MiB; keep room for metadata.
MAX_CONFIGMAP_BYTES: Final = 1024 * 1024 - 16 * 1024


def run_metadata(inputs: JobSpecInputs) -> dict[str, Any]:
    """What the pod (and a later reader of the ConfigMap) may want to know about the run."""
    identity, cluster = inputs.identity, inputs.cluster
    return {
        "run_id": identity.run_id,
        "session_id": identity.session_id,
        "workflow_name": identity.workflow_name,
        "workflow_file": identity.workflow_file,
        "submitted_by": identity.submitted_by,
        "submitted_at": rfc3339(identity.submitted_at),
        "prodigy_version": identity.prodigy_version,
        "base_sha": identity.base_sha,
        "original_branch": identity.original_branch,
        "cluster": cluster.name,
        "namespace": cluster.namespace,
        "image": cluster.image,
        "job": inputs.names.job,
    }


def build_configmap(inputs: JobSpecInputs) -> Obj:
    data = {
        WORKFLOW_KEY: inputs.workflow_text,
        RUN_METADATA_KEY: json.dumps(run_metadata(inputs), indent=2, sort_keys=True) + "\n",
    }
    size = sum(len(v.encode("utf-8")) for v in data.values())
    if size > MAX_CONFIGMAP_BYTES:
        raise UsageError(
            f"{inputs.identity.workflow_file}: the workflow file is {size} bytes; a cluster run can ship at most "
            f"{MAX_CONFIGMAP_BYTES} bytes in its ConfigMap",
            hint="move large inputs into the repository or the image",
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_metadata(inputs.names.configmap, inputs, annotations=False),
        "immutable": True,
        "data": data,
    }


def build_secret(inputs: JobSpecInputs) -> Obj | None:
    """The per-run Secret with the forwarded credentials, or None when there are none."""
    if not inputs.credentials:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_metadata(inputs.names.secret, inputs, annotations=False),
        "type": "Opaque",
        "immutable": True,
        "stringData": dict(sorted(inputs.credentials.items())),
    }
