"""Which cluster a ``--cluster NAME`` means, and with which settings: precedence as a pure function.

``resolve_cluster`` applies flag > cluster entry > the file's defaults > built-ins and returns
a frozen ``ResolvedCluster``, everything a submission needs about its target. It takes the
kubeconfig's context names as an argument instead of reading the kubeconfig, so precedence
(and the kubeconfig-context fallback for names the file does not list) is tested as a table.
The cook/run flags are validated here too, so a bad ``--image`` or ``--namespace`` fails
with the flag's name before any side effect.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from prodigy import paths
from prodigy.errors import ConfigError
from prodigy.k8s import names
from prodigy.k8s.config.schema import (
    BUILTIN_IMAGE,
    BUILTIN_NAMESPACE,
    DEFAULT_BACKOFF_LIMIT,
    DEFAULT_IMAGE_PULL_GRACE_SECONDS,
    DEFAULT_NODE_LOST_GRACE_SECONDS,
    DEFAULT_PULL_POLICY,
    DEFAULT_TTL_SECONDS,
    DEFAULT_UNSCHEDULABLE_GRACE_SECONDS,
    PULL_POLICIES,
    ClusterConfig,
    KubernetesConfig,
    PlumbingResources,
    RepoConfig,
    Resources,
    SecretKeyRef,
    Toleration,
)


@dataclass(frozen=True)
class ClusterOverrides:
    """The cook/run flags that override a cluster entry (see ``prodigy.options.RunOptions``)."""

    namespace: str | None = None
    image: str | None = None
    image_pull_policy: str | None = None
    keep: bool = False


@dataclass(frozen=True)
class GraceWindows:
    """How long diagnosis tolerates a pending reason before failing the run."""

    image_pull_seconds: int = DEFAULT_IMAGE_PULL_GRACE_SECONDS
    unschedulable_seconds: int = DEFAULT_UNSCHEDULABLE_GRACE_SECONDS
    node_lost_seconds: int = DEFAULT_NODE_LOST_GRACE_SECONDS


def _empty_mapping() -> Mapping[str, Any]:
    return types.MappingProxyType({})


@dataclass(frozen=True)
class ResolvedCluster:
    """Everything a submission needs to know about its target, after precedence.

    ``context`` None means the kubeconfig's current-context; ``kubeconfig_path`` None means
    the client's usual lookup (``$KUBECONFIG``, then ``~/.kube/config``).
    """

    name: str
    source: Literal["config", "kubeconfig-context"]
    kubeconfig_path: Path | None
    context: str | None
    namespace: str
    image: str
    image_pull_policy: str
    image_pull_secrets: tuple[str, ...] = ()
    service_account: str | None = None
    resources: Resources = Resources()
    plumbing_resources: PlumbingResources = PlumbingResources()
    node_selector: Mapping[str, str] = field(default_factory=_empty_mapping)
    tolerations: tuple[Toleration, ...] = ()
    env: Mapping[str, str] = field(default_factory=_empty_mapping)
    secrets: Mapping[str, SecretKeyRef] = field(default_factory=_empty_mapping)
    ttl_seconds: int | None = DEFAULT_TTL_SECONDS      # None: keep the Job (--keep)
    backoff_limit: int = DEFAULT_BACKOFF_LIMIT
    active_deadline_seconds: int | None = None
    grace: GraceWindows = GraceWindows()
    repo: RepoConfig = RepoConfig()


def resolve_cluster(
    config: KubernetesConfig,
    name: str,
    flags: ClusterOverrides,
    kube_contexts: Sequence[str],
    *,
    config_path: Path | None = None,
) -> ResolvedCluster:
    """Apply precedence: flag, then the cluster entry, then the file's defaults, then built-ins.

    A name that is not in the file but is a context of the user's kubeconfig works with the
    defaults. Anything else is a ConfigError listing what is configured.
    """
    where = str(config_path or paths.kubernetes_config_file())
    entry = config.clusters.get(name)
    source: Literal["config", "kubeconfig-context"] = "config"
    context: str | None
    if entry is None:
        if name not in kube_contexts:
            raise ConfigError(f"unknown cluster {name!r}", hint=_known_clusters_hint(config, kube_contexts, where))
        entry, source, context = ClusterConfig(), "kubeconfig-context", name
    else:
        context = entry.context
    _validate_flags(flags)

    return ResolvedCluster(
        name=name,
        source=source,
        kubeconfig_path=entry.kubeconfig_path,
        context=context,
        namespace=flags.namespace or entry.namespace or config.default_namespace or BUILTIN_NAMESPACE,
        image=flags.image or entry.image or config.default_image or BUILTIN_IMAGE,
        image_pull_policy=flags.image_pull_policy or entry.image_pull_policy or DEFAULT_PULL_POLICY,
        image_pull_secrets=tuple(entry.image_pull_secrets),
        service_account=entry.service_account,
        resources=entry.resources,
        plumbing_resources=entry.plumbing_resources,
        node_selector=types.MappingProxyType(dict(entry.node_selector)),
        tolerations=tuple(entry.tolerations),
        env=types.MappingProxyType(dict(entry.env)),
        secrets=types.MappingProxyType(dict(entry.secrets)),
        ttl_seconds=None if flags.keep else entry.ttl_seconds,
        backoff_limit=entry.backoff_limit,
        active_deadline_seconds=entry.active_deadline_seconds,
        grace=GraceWindows(entry.image_pull_grace_seconds, entry.unschedulable_grace_seconds,
                           entry.node_lost_grace_seconds),
        repo=entry.repo,
    )


def _validate_flags(flags: ClusterOverrides) -> None:
    if flags.image is not None:
        names.validate_image_reference(flags.image, source="--image")
    if flags.namespace is not None and not names.is_dns1123_label(flags.namespace):
        raise ConfigError(f"--namespace: {flags.namespace!r} is not a valid namespace name",
                          hint="namespaces are lowercase letters, digits and '-', at most 63 characters")
    if flags.image_pull_policy is not None and flags.image_pull_policy not in PULL_POLICIES:
        raise ConfigError(f"--image-pull-policy: must be one of {', '.join(PULL_POLICIES)}")


def _known_clusters_hint(config: KubernetesConfig, kube_contexts: Sequence[str], where: str) -> str:
    configured = ", ".join(sorted(config.clusters)) or "none"
    contexts = ", ".join(sorted(kube_contexts)) or "none found"
    return (f"clusters in {where}: {configured}; kubeconfig contexts: {contexts}. "
            "Add the cluster to that file or pass one of these names.")
