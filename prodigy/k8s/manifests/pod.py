"""The pod template: how the agent container runs, what it sees, and what it may do.

- The pod runs as uid 1000 (the image's ``prodigy`` user), non-root, no privilege
  escalation, every capability dropped, RuntimeDefault seccomp, no service account token
  unless a service account is configured, no Service env vars (they would leak into every
  workflow step's environment).
- The root filesystem stays writable: Claude Code, git, npm and pip write under ``$HOME``
  and ``/tmp``, and workflow shell steps may write anywhere a developer's machine allows.
  Making it read-only would mean guessing every such path as an emptyDir.
- The container sets ``args`` and no ``command``: a ``command`` replaces the image's
  ENTRYPOINT, which would drop tini, and without an init process as PID 1 SIGTERM is ignored
  and the zombies of Claude's subprocesses are never reaped.
- The workflow ConfigMap is mounted read-only at ``/config``, not at ``/workspace`` as in
  spec 97: ``/workspace`` is the writable emptyDir the repository is checked out into, and
  a ConfigMap volume is read-only.
- Credentials reach the agent as env vars from Secrets (the run's own, and existing ones a
  cluster entry names), never as literal values in the pod spec.
"""

from __future__ import annotations

from typing import Any, Final

from prodigy.k8s.config.resolve import ResolvedCluster
from prodigy.k8s.manifests.contract import AGENT, AGENT_CONTAINER, AGENT_IMAGE_ENV
from prodigy.k8s.manifests.inputs import JobSpecInputs

Obj = dict[str, Any]

WORKFLOW_VOLUME: Final = "workflow"
WORKSPACE_VOLUME: Final = "workspace"
# SIGTERM -> SIGKILL window when the pod is deleted (Ctrl+C, activeDeadlineSeconds, eviction). The
# agent uses it to stop the running step and export the commits made so far; the results container
# prints them (docs/transport.md, "Stopped runs"). Set explicitly: the CLI bounds its wait by it.
TERMINATION_GRACE_SECONDS: Final = 30
GIT_IDENTITY_VARS: Final = ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")


def pod_spec(inputs: JobSpecInputs) -> Obj:
    cluster = inputs.cluster
    pod: Obj = {
        "restartPolicy": "Never",
        "terminationGracePeriodSeconds": TERMINATION_GRACE_SECONDS,
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


def container_security_context() -> Obj:
    """Every container prodigy adds to the pod (agent, repository init, results) runs like this.

    The root filesystem stays writable: Claude Code, git, npm and pip write to $HOME and /tmp.
    """
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": False,
    }


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
        "securityContext": container_security_context(),
        "terminationMessagePath": AGENT.termination_log,
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


def _agent_env(inputs: JobSpecInputs) -> list[Obj]:
    identity, cluster = inputs.identity, inputs.cluster
    env: list[Obj] = [
        {"name": "PRODIGY_EXECUTION_MODE", "value": "kubernetes"},
        # Errors about what the image lacks (a `claude:` step without Claude Code) name the image.
        {"name": AGENT_IMAGE_ENV, "value": cluster.image},
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
