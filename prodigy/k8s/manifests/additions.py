"""Extending the pod without editing the builders: ``PodAdditions`` and small pure edits of a Job.

A feature that needs more in the pod (the repository transport adds an init container, a
sidecar, volumes, env and ConfigMaps) describes it as ``PodAdditions`` and passes it in
``JobSpecInputs``; ``job.build_job`` applies it last. The ``add_*`` functions make the same
edits to an already built Job. Every edit returns a new Job, and a duplicate name is refused
here, at build time, rather than by the API server after the run has half-started.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from prodigy.k8s.manifests.contract import AGENT_CONTAINER

Obj = dict[str, Any]


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
