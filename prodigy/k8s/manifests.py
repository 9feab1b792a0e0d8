"""The objects a cluster run creates, as plain dicts in the Kubernetes wire shape (camelCase).

Pure functions only: ``build_run_objects(inputs)`` returns the Job, the workflow ConfigMap
and (when credentials are forwarded) the per-run Secret. Nothing here talks to a cluster,
so ``--dry-run`` prints exactly what a real run sends, and golden files pin it.

Shape (spec 97's template, hardened):

- Job ``prodigy-<workflow-slug>-<run id>``, labels ``app=prodigy``, ``workflow``,
  ``version``, ``prodigy.io/run-id``, ``prodigy.io/session-id``; annotations
  ``prodigy.io/workflow-file``, ``submitted-by``, ``submitted-at`` (and base sha / original
  branch when known). ``restartPolicy: Never``, ``backoffLimit`` 0 by default (a retry
  reruns every Claude step from scratch), ``ttlSecondsAfterFinished`` unless ``--keep``.
- A pod failure policy fails the Job at once when the agent exits non-zero: a workflow that
  failed fails again, so ``backoff_limit`` only ever retries pods lost to the infrastructure.
- The workflow ConfigMap is mounted read-only at ``/config``, not at ``/workspace`` as in
  spec 97: ``/workspace`` is the writable emptyDir the repository is checked out into, and
  a ConfigMap volume is read-only.
- The pod runs as uid 1000 (the image's ``prodigy`` user), non-root, no privilege
  escalation, every capability dropped, RuntimeDefault seccomp, no service account token
  unless a service account is configured, no Service env vars (they would leak into every
  workflow step's environment).
- The root filesystem stays writable: Claude Code, git, npm and pip write under ``$HOME``
  and ``/tmp``, and workflow shell steps may write anywhere a developer's machine allows.
  Making it read-only would mean guessing every such path as an emptyDir.
- The Job sets ``args`` and no ``command``: a ``command`` replaces the image's ENTRYPOINT,
  which would drop tini, and without an init process as PID 1 SIGTERM is ignored and the
  zombies of Claude's subprocesses are never reaped.

Creation order (implemented by ``prodigy.k8s.submit``):

1. Create the Job with ``spec.suspend: true``. No pod exists yet, so nothing can start
   before its ConfigMap and Secret do (an unsuspended Job would race them: the pod would
   sit in ContainerCreating / CreateContainerConfigError until they appear).
2. Create the ConfigMap(s) and Secret with an ownerReference to the Job (``owned_by``),
   using the uid the create returned. Owned from birth, they can never be orphaned: if the
   client dies at any point, deleting the Job (TTL, ``prodigy cluster gc``, a user's
   ``kubectl delete``) removes them through garbage collection.
3. PATCH ``RESUME_PATCH`` (``spec.suspend: false``); the Job controller creates the pod.

Creating the ConfigMap first and patching ownerReferences afterwards would leave an
unowned ConfigMap (and a Secret holding an API key) behind whenever the client dies
between the calls; a suspended Job left behind instead is labelled, visible to
``prodigy cluster gc`` and cleans up its dependents when deleted.

Callers extend the pod without editing this module: ``PodAdditions`` (volumes, mounts,
init containers, sidecars, env, extra ConfigMaps) travels in ``JobSpecInputs``, and the
``add_*`` helpers apply the same changes to an already built Job.
"""

from __future__ import annotations

import copy
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from prodigy import __version__
from prodigy.errors import UsageError
from prodigy.k8s import names
from prodigy.k8s.config import ResolvedCluster
from prodigy.k8s.secrets import REDACTED

Obj = dict[str, Any]

# --- the agent image contract (docker/agent/contract.json must agree; a unit test checks) ---


@dataclass(frozen=True)
class AgentContract:
    """What the Job assumes about the agent image, and the image promises."""

    entrypoint: tuple[str, ...] = ("/usr/bin/tini", "--")
    command: tuple[str, ...] = ("prodigy", "agent", "execute")
    workflow_path: str = "/config/workflow.yaml"
    config_dir: str = "/config"
    workdir: str = "/workspace"
    user: str = "prodigy"
    uid: int = 1000
    gid: int = 1000
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({"PYTHONUNBUFFERED": "1"}))
    termination_log: str = "/dev/termination-log"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "entrypoint": list(self.entrypoint),
            "command": list(self.command),
            "workflow_path": self.workflow_path,
            "config_dir": self.config_dir,
            "workdir": self.workdir,
            "user": self.user,
            "uid": self.uid,
            "gid": self.gid,
            "env": dict(self.env),
            "termination_log": self.termination_log,
        }


AGENT: Final = AgentContract()
AGENT_CONTAINER: Final = "prodigy-agent"
WORKFLOW_KEY: Final = "workflow.yaml"
RUN_METADATA_KEY: Final = "run.json"
WORKFLOW_VOLUME: Final = "workflow"
WORKSPACE_VOLUME: Final = "workspace"

# --- labels and annotations -----------------------------------------------------------------

LABEL_APP: Final = "app"
APP: Final = "prodigy"
LABEL_WORKFLOW: Final = "workflow"
LABEL_VERSION: Final = "version"
LABEL_RUN_ID: Final = "prodigy.io/run-id"
LABEL_SESSION_ID: Final = "prodigy.io/session-id"
ANNOTATION_WORKFLOW_FILE: Final = "prodigy.io/workflow-file"
ANNOTATION_WORKFLOW_NAME: Final = "prodigy.io/workflow-name"
ANNOTATION_SUBMITTED_BY: Final = "prodigy.io/submitted-by"
ANNOTATION_SUBMITTED_AT: Final = "prodigy.io/submitted-at"
ANNOTATION_CLUSTER: Final = "prodigy.io/cluster"
ANNOTATION_BASE_SHA: Final = "prodigy.io/base-sha"
ANNOTATION_ORIGINAL_BRANCH: Final = "prodigy.io/original-branch"

PRODIGY_SELECTOR: Final = f"{LABEL_APP}={APP}"
RESUME_PATCH: Final[Mapping[str, Any]] = MappingProxyType({"spec": {"suspend": False}})
# The apiserver refuses a ConfigMap whose data exceeds 1 MiB; keep room for metadata.
MAX_CONFIGMAP_BYTES: Final = 1024 * 1024 - 16 * 1024
GIT_IDENTITY_VARS: Final = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")


def run_selector(run_id: str) -> str:
    """Label selector for every object (Job, pods, ConfigMaps, Secret) of one run."""
    return f"{PRODIGY_SELECTOR},{LABEL_RUN_ID}={run_id}"


# --- inputs ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunIdentity:
    """Who submitted what, and the ids that name the run's objects."""

    run_id: str
    session_id: str
    workflow_name: str
    workflow_file: str                   # as the user wrote it, for the annotation
    submitted_by: str
    submitted_at: datetime
    prodigy_version: str = __version__
    base_sha: str | None = None
    original_branch: str | None = None


@dataclass(frozen=True)
class RunNames:
    job: str
    configmap: str
    secret: str

    @classmethod
    def for_run(cls, identity: RunIdentity) -> RunNames:
        return cls(
            job=names.job_name(identity.workflow_name, identity.run_id),
            configmap=names.workflow_configmap_name(identity.run_id),
            secret=names.credentials_secret_name(identity.run_id),
        )


@dataclass(frozen=True)
class PodAdditions:
    """Extra pieces a caller (e.g. the repository transport) adds to the run.

    ``config_maps`` are complete ConfigMap objects; they are created with the run, owned by
    the Job and labelled like the workflow ConfigMap (``build_run_objects`` adds the labels).
    """

    volumes: tuple[Obj, ...] = ()
    agent_volume_mounts: tuple[Obj, ...] = ()
    init_containers: tuple[Obj, ...] = ()
    sidecars: tuple[Obj, ...] = ()
    agent_env: tuple[Obj, ...] = ()
    config_maps: tuple[Obj, ...] = ()

    def __add__(self, other: PodAdditions) -> PodAdditions:
        return PodAdditions(
            volumes=self.volumes + other.volumes,
            agent_volume_mounts=self.agent_volume_mounts + other.agent_volume_mounts,
            init_containers=self.init_containers + other.init_containers,
            sidecars=self.sidecars + other.sidecars,
            agent_env=self.agent_env + other.agent_env,
            config_maps=self.config_maps + other.config_maps,
        )


@dataclass(frozen=True)
class JobSpecInputs:
    identity: RunIdentity
    cluster: ResolvedCluster
    workflow_text: str
    credentials: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    git_identity: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    agent_args: tuple[str, ...] = ()     # extra `prodigy agent execute` arguments (e.g. --args X)
    additions: PodAdditions = PodAdditions()

    @property
    def names(self) -> RunNames:
        return RunNames.for_run(self.identity)

    def with_additions(self, more: PodAdditions) -> JobSpecInputs:
        return replace(self, additions=self.additions + more)


@dataclass(frozen=True)
class RunObjects:
    """The run's objects. Create ``job`` (suspended) first, then each of ``owned`` with
    ``owned_by(obj, job_name, job_uid)``, then PATCH ``RESUME_PATCH`` onto the Job."""

    job: Obj
    owned: tuple[Obj, ...]

    def in_creation_order(self) -> list[Obj]:
        return [self.job, *self.owned]


# --- builders -------------------------------------------------------------------------------


def build_run_objects(inputs: JobSpecInputs) -> RunObjects:
    labels = run_labels(inputs.identity)
    owned: list[Obj] = [build_configmap(inputs)]
    owned += [_with_labels(cm, labels) for cm in inputs.additions.config_maps]
    secret = build_secret(inputs)
    if secret is not None:
        owned.append(secret)
    return RunObjects(job=build_job(inputs), owned=tuple(owned))


def run_labels(identity: RunIdentity) -> dict[str, str]:
    return {
        LABEL_APP: APP,
        LABEL_WORKFLOW: names.label_value(identity.workflow_name, fallback="workflow"),
        LABEL_VERSION: names.label_value(identity.prodigy_version, fallback="unknown"),
        LABEL_RUN_ID: identity.run_id,
        LABEL_SESSION_ID: names.label_value(identity.session_id),
    }


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
        "metadata": _metadata(inputs.names.configmap, inputs, annotations=False),
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
        "metadata": _metadata(inputs.names.secret, inputs, annotations=False),
        "type": "Opaque",
        "immutable": True,
        "stringData": dict(sorted(inputs.credentials.items())),
    }


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
        "spec": _pod_spec(inputs),
    }
    job: Obj = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata(run_names.job, inputs, annotations=True),
        "spec": spec,
    }
    return apply_additions(job, inputs.additions)


def _pod_spec(inputs: JobSpecInputs) -> Obj:
    cluster = inputs.cluster
    pod: Obj = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "automountServiceAccountToken": cluster.service_account is not None,
    }
    if cluster.service_account is not None:
        pod["serviceAccountName"] = cluster.service_account
    pod["securityContext"] = {
        "runAsNonRoot": True,
        "runAsUser": AGENT.uid,
        "runAsGroup": AGENT.gid,
        "fsGroup": AGENT.gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if cluster.image_pull_secrets:
        pod["imagePullSecrets"] = [{"name": name} for name in cluster.image_pull_secrets]
    if cluster.node_selector:
        pod["nodeSelector"] = dict(cluster.node_selector)
    if cluster.tolerations:
        pod["tolerations"] = [t.to_k8s() for t in cluster.tolerations]
    pod["containers"] = [_agent_container(inputs)]
    pod["volumes"] = [
        {"name": WORKFLOW_VOLUME, "configMap": {"name": inputs.names.configmap, "defaultMode": 0o444}},
        {"name": WORKSPACE_VOLUME, "emptyDir": {}},
    ]
    return pod


def _agent_container(inputs: JobSpecInputs) -> Obj:
    cluster = inputs.cluster
    return {
        "name": AGENT_CONTAINER,
        "image": cluster.image,
        "imagePullPolicy": cluster.image_pull_policy,
        "args": [*AGENT.command, AGENT.workflow_path, *inputs.agent_args],
        "workingDir": AGENT.workdir,
        "env": _agent_env(inputs),
        "resources": _resources(cluster),
        "volumeMounts": [
            {"name": WORKFLOW_VOLUME, "mountPath": AGENT.config_dir, "readOnly": True},
            {"name": WORKSPACE_VOLUME, "mountPath": AGENT.workdir},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "readOnlyRootFilesystem": False,
        },
        "terminationMessagePath": AGENT.termination_log,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _agent_env(inputs: JobSpecInputs) -> list[Obj]:
    identity, cluster = inputs.identity, inputs.cluster
    env: list[Obj] = [
        {"name": "PRODIGY_EXECUTION_MODE", "value": "kubernetes"},
        {"name": "WORKFLOW_ID", "value": identity.run_id},
        {"name": "PRODIGY_RUN_ID", "value": identity.run_id},
        {"name": "PRODIGY_SESSION_ID", "value": identity.session_id},
        *({"name": k, "value": v} for k, v in AGENT.env.items()),
        *({"name": k, "value": inputs.git_identity[k]} for k in GIT_IDENTITY_VARS if inputs.git_identity.get(k)),
        *({"name": k, "value": v} for k, v in cluster.env.items()),
    ]
    env += [_secret_env(k, inputs.names.secret, k) for k in sorted(inputs.credentials)]
    env += [_secret_env(k, ref.secret, ref.key) for k, ref in cluster.secrets.items()]
    return env


def _secret_env(env_name: str, secret: str, key: str) -> Obj:
    return {"name": env_name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _resources(cluster: ResolvedCluster) -> Obj:
    resources: Obj = {}
    for kind in ("requests", "limits"):
        amounts = getattr(cluster.resources, kind)
        values = {k: v for k, v in (("cpu", amounts.cpu), ("memory", amounts.memory)) if v is not None}
        if values:
            resources[kind] = values
    return resources


def _metadata(name: str, inputs: JobSpecInputs, *, annotations: bool) -> Obj:
    metadata: Obj = {"name": name, "namespace": inputs.cluster.namespace, "labels": run_labels(inputs.identity)}
    if annotations:
        metadata["annotations"] = run_annotations(inputs)
    return metadata


def _with_labels(obj: Obj, labels: Mapping[str, str]) -> Obj:
    out = copy.deepcopy(obj)
    meta = out.setdefault("metadata", {})
    meta["labels"] = {**labels, **meta.get("labels", {})}
    return out


# --- composition: small pure edits of a built Job ------------------------------------------


def _pod(job: Obj) -> Obj:
    pod: Obj = job["spec"]["template"]["spec"]
    return pod


def _agent(job: Obj) -> Obj:
    return next(c for c in _pod(job)["containers"] if c["name"] == AGENT_CONTAINER)


def add_volume(job: Obj, volume: Obj, *, mount: Obj | None = None) -> Obj:
    """A new Job with ``volume`` in the pod and, when given, ``mount`` in the agent container."""
    out = copy.deepcopy(job)
    _append_unique(_pod(out).setdefault("volumes", []), volume, "volume")
    if mount is not None:
        _append_unique(_agent(out).setdefault("volumeMounts", []), mount, "volume mount")
    return out


def add_init_container(job: Obj, container: Obj) -> Obj:
    """A new Job whose pod runs ``container`` before the agent (in the order added)."""
    out = copy.deepcopy(job)
    _append_unique(_pod(out).setdefault("initContainers", []), container, "init container")
    return out


def add_sidecar(job: Obj, container: Obj) -> Obj:
    out = copy.deepcopy(job)
    _append_unique(_pod(out)["containers"], container, "container")
    return out


def add_agent_env(job: Obj, env: Iterable[Obj]) -> Obj:
    out = copy.deepcopy(job)
    for var in env:
        _append_unique(_agent(out).setdefault("env", []), var, "env var")
    return out


def apply_additions(job: Obj, additions: PodAdditions) -> Obj:
    for volume in additions.volumes:
        job = add_volume(job, volume)
    if additions.agent_volume_mounts:
        job = copy.deepcopy(job)
        for mount in additions.agent_volume_mounts:
            _append_unique(_agent(job).setdefault("volumeMounts", []), mount, "volume mount")
    for container in additions.init_containers:
        job = add_init_container(job, container)
    for container in additions.sidecars:
        job = add_sidecar(job, container)
    if additions.agent_env:
        job = add_agent_env(job, additions.agent_env)
    return job


def _append_unique(items: list[Obj], item: Obj, what: str) -> None:
    # Two additions with the same name would make the apiserver reject the Job; say so here.
    key = "mountPath" if what == "volume mount" else "name"
    if any(existing.get(key) == item.get(key) for existing in items):
        raise ValueError(f"duplicate {what} {item.get(key)!r}")
    items.append(copy.deepcopy(item))


# --- ownership ------------------------------------------------------------------------------


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


# --- dry-run rendering ----------------------------------------------------------------------


def redact_secrets(obj: Obj) -> Obj:
    """A copy with every Secret value replaced by ``<redacted>`` (keys stay visible)."""
    if obj.get("kind") != "Secret":
        return obj
    out = copy.deepcopy(obj)
    for section in ("data", "stringData"):
        if section in out:
            out[section] = {key: REDACTED for key in out[section]}
    return out


def render_manifests_yaml(objects: Sequence[Obj]) -> str:
    """Multi-document YAML of ``objects`` as ``--dry-run`` prints it. Secret values never appear."""
    def literal_blocks(node: Any) -> Any:
        # Multi-line text (the workflow file, run.json) reads as a YAML block, like in an editor.
        if isinstance(node, dict):
            return {k: literal_blocks(v) for k, v in node.items()}
        if isinstance(node, list):
            return [literal_blocks(v) for v in node]
        if isinstance(node, str) and "\n" in node and node.endswith("\n") and not _has_trailing_spaces(node):
            return LiteralScalarString(node)
        return node

    yaml = YAML(typ="rt", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump_all([literal_blocks(redact_secrets(obj)) for obj in objects], out)
    return out.getvalue()


def _has_trailing_spaces(text: str) -> bool:
    # A literal block cannot represent trailing spaces faithfully; fall back to a quoted string.
    return any(line != line.rstrip(" \t") for line in text.split("\n"))
