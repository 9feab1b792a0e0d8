"""A submitted run, read back from its live Job: the inverse of the builders, for a client that
attaches to a run it did not submit (`prodigy cluster attach|cancel`, after `cook --detach`).

The Job carries what the rest of the run needs: its labels and annotations name the run, the
session and the workflow; its pod template's volumes name the run's ConfigMaps; the credentials
Secret has a name derived from the run id. Pure functions over the wire-shaped Job.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from prodigy.k8s import names
from prodigy.k8s.manifests.metadata import (
    ANNOTATION_BASE_SHA,
    ANNOTATION_ORIGINAL_BRANCH,
    ANNOTATION_SUBMITTED_AT,
    ANNOTATION_SUBMITTED_BY,
    ANNOTATION_WORKFLOW_FILE,
    ANNOTATION_WORKFLOW_NAME,
    LABEL_RUN_ID,
    LABEL_SESSION_ID,
    LABEL_WORKFLOW,
)
from prodigy.k8s.manifests.inputs import RunIdentity

Obj = Mapping[str, Any]


def _meta(job: Obj) -> Mapping[str, Any]:
    return job.get("metadata") or {}


def run_id_of(job: Obj) -> str:
    return str((_meta(job).get("labels") or {}).get(LABEL_RUN_ID) or "")


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def identity_of(job: Obj) -> RunIdentity:
    meta = _meta(job)
    labels, annotations = meta.get("labels") or {}, meta.get("annotations") or {}
    submitted = (parse_time(annotations.get(ANNOTATION_SUBMITTED_AT)) or parse_time(meta.get("creationTimestamp"))
                 or datetime.now(UTC))
    return RunIdentity(
        run_id=run_id_of(job), session_id=str(labels.get(LABEL_SESSION_ID) or ""),
        workflow_name=str(annotations.get(ANNOTATION_WORKFLOW_NAME) or labels.get(LABEL_WORKFLOW) or "workflow"),
        workflow_file=str(annotations.get(ANNOTATION_WORKFLOW_FILE) or ""),
        submitted_by=str(annotations.get(ANNOTATION_SUBMITTED_BY) or ""), submitted_at=submitted,
        base_sha=annotations.get(ANNOTATION_BASE_SHA) or None,
        original_branch=annotations.get(ANNOTATION_ORIGINAL_BRANCH) or None)


def _config_maps(pod_spec: Mapping[str, Any]) -> Iterator[str]:
    for volume in pod_spec.get("volumes") or ():
        if (volume.get("configMap") or {}).get("name"):
            yield str(volume["configMap"]["name"])
        for source in (volume.get("projected") or {}).get("sources") or ():
            if (source.get("configMap") or {}).get("name"):
                yield str(source["configMap"]["name"])


def owned_names(job: Obj) -> list[tuple[str, str]]:
    """(kind, name) of the objects the run created owned by its Job: the ConfigMaps its pod
    mounts whose names carry the run id, and the credentials Secret (which may not exist; a
    Secret of the cluster's own, referenced by `secrets:`, is never one of them)."""
    run_id = run_id_of(job)
    if not names.is_run_id(run_id):
        return []
    pod_spec = ((job.get("spec") or {}).get("template") or {}).get("spec") or {}
    found = [("ConfigMap", name) for name in dict.fromkeys(_config_maps(pod_spec)) if run_id in name]
    return [*found, ("Secret", names.credentials_secret_name(run_id))]


def started_at(job: Obj) -> datetime | None:
    """When the Job started running (unsuspended), else when it was created."""
    return parse_time((job.get("status") or {}).get("startTime")) or parse_time(_meta(job).get("creationTimestamp"))
