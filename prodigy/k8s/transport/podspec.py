"""What the transport adds to the run's pod, as `PodAdditions` for `manifests.run.build_run_objects`.

Pure: the chunk ConfigMaps' *names* are decided here, their bytes are read from disk only
when `upload.py` creates them (so the CLI never holds the whole pack in memory).

    initContainers:
      prodigy-repo     `prodigy agent fetch-repo`: bundle mode reads the chunks from a projected
                       volume of the chunk ConfigMaps; remote mode clones the URL (credentials
                       mounted only into this container and prodigy-results, never the agent's,
                       so workflow steps and Claude cannot read the token)
    containers:
      prodigy-agent    (manifests/pod.py) runs the workflow in /workspace/repo, exports to /workspace/out
      prodigy-results  `prodigy agent emit-results`: prints /workspace/out/result.tar framed on its
                       stdout (remote mode: pushes the branch first, from a repository of its own
                       that reads the workspace's objects only: isolated_git.py); always exits 0
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from prodigy.k8s.config.schema import PlumbingResources
from prodigy.k8s.manifests.additions import PodAdditions
from prodigy.k8s.manifests.contract import AGENT
from prodigy.k8s.manifests.pod import WORKSPACE_VOLUME, container_security_context
from prodigy.k8s.transport.manifest import MANIFEST_KEY, TransportManifest
from prodigy.k8s.transport.podenv import CREDENTIALS_DIR as CREDENTIALS_DIR
from prodigy.k8s.transport.podenv import ENV_BASE_SHA as ENV_BASE_SHA
from prodigy.k8s.transport.podenv import ENV_REPO_DIR as ENV_REPO_DIR
from prodigy.k8s.transport.podenv import ENV_REPO_MODE as ENV_REPO_MODE
from prodigy.k8s.transport.podenv import ENV_RESULTS_DIR as ENV_RESULTS_DIR
from prodigy.k8s.transport.podenv import ENV_RESUMING as ENV_RESUMING
from prodigy.k8s.transport.podenv import ENV_SESSION_BRANCH as ENV_SESSION_BRANCH
from prodigy.k8s.transport.podenv import ENV_STATE_DIR as ENV_STATE_DIR
from prodigy.k8s.transport.podenv import OUT_DIR as OUT_DIR
from prodigy.k8s.transport.podenv import REPO_DIR as REPO_DIR
from prodigy.k8s.transport.podenv import STATE_DIR as STATE_DIR

Obj = dict[str, Any]

INIT_CONTAINER: Final = "prodigy-repo"
RESULTS_CONTAINER: Final = "prodigy-results"
# Containers whose output is plumbing, not workflow output: the CLI does not stream them.
QUIET_CONTAINERS: Final = frozenset({RESULTS_CONTAINER})
# Containers that are not the workflow: their few lines need no "[pod/container]" prefix.
PLUMBING_CONTAINERS: Final = frozenset({INIT_CONTAINER, RESULTS_CONTAINER})

REPO_IN_VOLUME: Final = "prodigy-repo-in"
REPO_IN_DIR: Final = "/prodigy/repo-in"
CREDENTIALS_VOLUME: Final = "prodigy-git-credentials"

# Both plumbing containers get `resources` (kubernetes.yaml `plumbing_resources`, small by
# default): emit-results holds one 6 KiB line at a time, fetch-repo unpacks one bundle. Without
# them a namespace whose ResourceQuota requires limits would refuse every pod.
PLUMBING_RESOURCES: Final[Obj] = PlumbingResources().to_k8s()


def chunk_configmap_name(run_id: str, index: int) -> str:
    return f"prodigy-repo-{run_id}-{index:04d}"


def manifest_configmap_name(run_id: str) -> str:
    return f"prodigy-repo-{run_id}"


@dataclass(frozen=True)
class RemoteSource:
    url: str                         # no credentials in it (checked before submission)
    credentials_secret: str | None
    fetch_ref: str | None = None     # a ref on the remote that has the base (the temp ref when pushed)
    depth: int = 1                   # commits to fetch: a resumed session's own commits + its first base


def bundle_additions(run_id: str, manifest: TransportManifest, *, image: str, pull_policy: str,
                     resuming: bool = False, resources: Obj | None = None) -> PodAdditions:
    sources: list[Obj] = [{"configMap": {"name": manifest_configmap_name(run_id),
                                         "items": [{"key": MANIFEST_KEY, "path": MANIFEST_KEY}]}}]
    for index, chunk in enumerate(manifest.chunks):
        sources.append({"configMap": {"name": chunk_configmap_name(run_id, index),
                                      "items": [{"key": "chunk", "path": chunk.path}]}})
    volume = {"name": REPO_IN_VOLUME, "projected": {"sources": sources, "defaultMode": 0o444}}
    args = ["fetch-repo", "--from", REPO_IN_DIR, "--to", REPO_DIR]
    if resuming:
        args += ["--state-to", STATE_DIR]
    init = _container(INIT_CONTAINER, image, pull_policy, args, [
        {"name": WORKSPACE_VOLUME, "mountPath": AGENT.workdir},
        {"name": REPO_IN_VOLUME, "mountPath": REPO_IN_DIR, "readOnly": True},
    ], resources=resources)
    results = _results_container(image, pull_policy, remote=None, resources=resources)
    return PodAdditions(
        volumes=(volume,), init_containers=(init,), sidecars=(results,),
        agent_env=_agent_env(manifest.base_sha, manifest.branch, "bundle", resuming),
    )


def remote_additions(source: RemoteSource, *, base_sha: str, branch: str, image: str, pull_policy: str,
                     resume_state: TransportManifest | None = None, run_id: str = "",
                     resources: Obj | None = None) -> PodAdditions:
    volumes: list[Obj] = []
    mounts: list[Obj] = [{"name": WORKSPACE_VOLUME, "mountPath": AGENT.workdir}]
    if source.credentials_secret:
        volumes.append({"name": CREDENTIALS_VOLUME,
                        "secret": {"secretName": source.credentials_secret, "defaultMode": 0o400}})
        mounts.append({"name": CREDENTIALS_VOLUME, "mountPath": CREDENTIALS_DIR, "readOnly": True})
    args = ["fetch-repo", "--remote", "--to", REPO_DIR]
    env = [
        {"name": "PRODIGY_REPO_URL", "value": source.url},
        {"name": ENV_BASE_SHA, "value": base_sha},
        {"name": ENV_SESSION_BRANCH, "value": branch},
    ]
    if source.fetch_ref:
        env.append({"name": "PRODIGY_REPO_FETCH_REF", "value": source.fetch_ref})
    if source.depth > 1:
        env.append({"name": "PRODIGY_REPO_DEPTH", "value": str(source.depth)})
    if resume_state is not None:
        # The checkpoint still travels as chunks; only the repository comes from the remote.
        sources = [{"configMap": {"name": manifest_configmap_name(run_id),
                                  "items": [{"key": MANIFEST_KEY, "path": MANIFEST_KEY}]}}]
        sources += [{"configMap": {"name": chunk_configmap_name(run_id, i), "items": [{"key": "chunk", "path": c.path}]}}
                    for i, c in enumerate(resume_state.chunks)]
        volumes.append({"name": REPO_IN_VOLUME, "projected": {"sources": sources, "defaultMode": 0o444}})
        mounts.append({"name": REPO_IN_VOLUME, "mountPath": REPO_IN_DIR, "readOnly": True})
        args += ["--from", REPO_IN_DIR, "--state-to", STATE_DIR]
    init = _container(INIT_CONTAINER, image, pull_policy, args, mounts, env=env, resources=resources)
    results = _results_container(image, pull_policy, remote=source, base_sha=base_sha, branch=branch,
                                 resources=resources)
    return PodAdditions(
        volumes=tuple(volumes), init_containers=(init,), sidecars=(results,),
        agent_env=_agent_env(base_sha, branch, "remote", resume_state is not None),
    )


def _agent_env(base_sha: str, branch: str, mode: str, resuming: bool) -> tuple[Obj, ...]:
    env = [
        {"name": ENV_REPO_DIR, "value": REPO_DIR},
        {"name": ENV_BASE_SHA, "value": base_sha},
        {"name": ENV_SESSION_BRANCH, "value": branch},
        {"name": ENV_RESULTS_DIR, "value": OUT_DIR},
        {"name": ENV_STATE_DIR, "value": STATE_DIR},
        {"name": ENV_REPO_MODE, "value": mode},
    ]
    if resuming:
        env.append({"name": ENV_RESUMING, "value": "true"})
    return tuple(env)


def _results_container(image: str, pull_policy: str, *, remote: RemoteSource | None, base_sha: str = "",
                       branch: str = "", resources: Obj | None = None) -> Obj:
    mounts: list[Obj] = [{"name": WORKSPACE_VOLUME, "mountPath": AGENT.workdir, "readOnly": True}]
    args = ["emit-results", "--dir", OUT_DIR]
    env: list[Obj] = []
    if remote is not None:
        args += ["--push-from", REPO_DIR]
        # What to push where is decided here, never read from the workspace the workflow writes.
        env += [{"name": "PRODIGY_REPO_URL", "value": remote.url}, {"name": ENV_BASE_SHA, "value": base_sha},
                {"name": ENV_SESSION_BRANCH, "value": branch}]
        if remote.credentials_secret:
            mounts.append({"name": CREDENTIALS_VOLUME, "mountPath": CREDENTIALS_DIR, "readOnly": True})
    return _container(RESULTS_CONTAINER, image, pull_policy, args, mounts, env=env, resources=resources)


def _container(name: str, image: str, pull_policy: str, args: Sequence[str], mounts: list[Obj],
               env: list[Obj] | None = None, resources: Obj | None = None) -> Obj:
    container: Obj = {
        "name": name,
        "image": image,
        "imagePullPolicy": pull_policy,
        "args": [*AGENT.command[:2], *args],      # prodigy agent <subcommand>; the image's tini stays PID 1
        "workingDir": AGENT.workdir,
        "env": [*({"name": k, "value": v} for k, v in AGENT.env.items()), *(env or [])],
        "volumeMounts": mounts,
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "resources": copy.deepcopy(dict(PLUMBING_RESOURCES if resources is None else resources)),
    }
    return container
