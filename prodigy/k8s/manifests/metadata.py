"""Object metadata every object of a run shares: labels, annotations, selectors, ownerReferences.

Labels select (``prodigy.io/run-id`` finds the Job, its pods, ConfigMaps and Secret of one
run; ``app=prodigy`` finds every run, for ``prodigy cluster gc``); annotations describe (who
submitted which workflow file, when, from which commit) and so sit on the Job only. Every
dependent object is owned by the Job (``owned_by``) so TTL and garbage collection remove the
whole run together; ``run`` explains why that ownership exists from the object's creation.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from prodigy.k8s import names
from prodigy.k8s.manifests.inputs import JobSpecInputs, RunIdentity

Obj = dict[str, Any]

LABEL_APP: Final = "app"
APP: Final = "prodigy"
LABEL_WORKFLOW: Final = "workflow"
LABEL_VERSION: Final = "version"
LABEL_RUN_ID: Final = "prodigy.io/run-id"
LABEL_SESSION_ID: Final = "prodigy.io/session-id"
LABEL_PHASE: Final = "prodigy.io/phase"            # MapReduce sessions only: setup, map, merge, reduce
ANNOTATION_WORKFLOW_FILE: Final = "prodigy.io/workflow-file"
ANNOTATION_WORKFLOW_NAME: Final = "prodigy.io/workflow-name"
ANNOTATION_SUBMITTED_BY: Final = "prodigy.io/submitted-by"
ANNOTATION_SUBMITTED_AT: Final = "prodigy.io/submitted-at"
ANNOTATION_CLUSTER: Final = "prodigy.io/cluster"
ANNOTATION_BASE_SHA: Final = "prodigy.io/base-sha"
ANNOTATION_ORIGINAL_BRANCH: Final = "prodigy.io/original-branch"

PRODIGY_SELECTOR: Final = f"{LABEL_APP}={APP}"


def run_selector(run_id: str) -> str:
    """Label selector for every object (Job, pods, ConfigMaps, Secret) of one run."""
    return f"{PRODIGY_SELECTOR},{LABEL_RUN_ID}={run_id}"


def run_labels(identity: RunIdentity) -> dict[str, str]:
    labels = {
        LABEL_APP: APP,
        LABEL_WORKFLOW: names.label_value(identity.workflow_name, fallback="workflow"),
        LABEL_VERSION: names.label_value(identity.prodigy_version, fallback="unknown"),
        LABEL_RUN_ID: identity.run_id,
        LABEL_SESSION_ID: names.label_value(identity.session_id),
    }
    if identity.phase:
        labels[LABEL_PHASE] = identity.phase
    return labels


def session_selector(session_id: str) -> str:
    """Label selector for every object of every run of one session (a MapReduce session's phases)."""
    return f"{PRODIGY_SELECTOR},{LABEL_SESSION_ID}={names.label_value(session_id)}"


def run_annotations(inputs: JobSpecInputs) -> dict[str, str]:
    identity = inputs.identity
    annotations = {
        ANNOTATION_WORKFLOW_FILE: identity.workflow_file,
        ANNOTATION_WORKFLOW_NAME: identity.workflow_name,
        ANNOTATION_SUBMITTED_BY: identity.submitted_by,
        ANNOTATION_SUBMITTED_AT: rfc3339(identity.submitted_at),
        ANNOTATION_CLUSTER: inputs.cluster.name,
    }
    if identity.base_sha:
        annotations[ANNOTATION_BASE_SHA] = identity.base_sha
    if identity.original_branch:
        annotations[ANNOTATION_ORIGINAL_BRANCH] = identity.original_branch
    return annotations


def rfc3339(moment: datetime) -> str:
    """UTC, second precision, ``Z`` suffix: the form Kubernetes itself writes."""
    if moment.tzinfo is None:
        raise ValueError("submitted_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def object_metadata(name: str, inputs: JobSpecInputs, *, annotations: bool) -> Obj:
    metadata: Obj = {"name": name, "namespace": inputs.cluster.namespace, "labels": run_labels(inputs.identity)}
    if annotations:
        metadata["annotations"] = run_annotations(inputs)
    return metadata


def with_labels(obj: Obj, labels: Mapping[str, str]) -> Obj:
    """A copy of ``obj`` carrying ``labels``; labels it already has win."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    meta["labels"] = {**labels, **meta.get("labels", {})}
    return out


def owner_reference(job_name: str, job_uid: str) -> Obj:
    # Neither controller nor blockOwnerDeletion: the Job controller must not adopt these, and
    # blockOwnerDeletion needs update rights on jobs/finalizers that a namespace user may lack.
    return {"apiVersion": "batch/v1", "kind": "Job", "name": job_name, "uid": job_uid}


def owned_by(obj: Obj, job_name: str, job_uid: str) -> Obj:
    """A copy of ``obj`` owned by the Job, so TTL and garbage collection delete it with the Job."""
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    refs = [r for r in meta.get("ownerReferences", []) if r.get("uid") != job_uid]
    meta["ownerReferences"] = [*refs, owner_reference(job_name, job_uid)]
    return out
