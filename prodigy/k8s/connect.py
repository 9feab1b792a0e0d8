"""From a ``--cluster NAME`` to a connection: the one way every command finds its cluster.

    resolve(name, overrides)        kubernetes.yaml + kubeconfig contexts -> ResolvedCluster (pure
                                    precedence in `config.resolve`); no request is sent
    connect_to(cluster)             an API client for the cluster's kubeconfig context
    open_cluster(name, overrides)   both, as a context manager that closes the client

`prodigy cook --cluster`, `prodigy resume`, `prodigy cluster collect` and the admin commands all
come through here, so a name means the same cluster everywhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from prodigy.k8s.clients import POOL_SIZE, Kube, connect, kube_contexts
from prodigy.k8s.config.loader import load_kubernetes_config
from prodigy.k8s.config.resolve import ClusterOverrides, ResolvedCluster, resolve_cluster


def resolve(name: str, overrides: ClusterOverrides | None = None) -> ResolvedCluster:
    """The cluster NAME means (an entry of kubernetes.yaml, else a kubeconfig context)."""
    loaded = load_kubernetes_config()
    # The kubeconfig is read only for a name the file does not define.
    contexts = [] if name in loaded.config.clusters else kube_contexts()
    return resolve_cluster(loaded.config, name, overrides or ClusterOverrides(), contexts, config_path=loaded.path)


def connect_to(cluster: ResolvedCluster, *, streams: int = 0) -> Kube:
    """An API client for ``cluster`` (the caller closes it). No request is sent yet.
    ``streams``: how many log streams may be open at once besides the usual ones (a MapReduce
    run with -v follows every running agent), so the connection pool has room for them."""
    return connect(cluster.name, kubeconfig_path=cluster.kubeconfig_path, context=cluster.context,
                   pool_size=POOL_SIZE + streams)


@dataclass(frozen=True)
class OpenCluster:
    cluster: ResolvedCluster
    kube: Kube


@contextmanager
def open_cluster(name: str, overrides: ClusterOverrides | None = None) -> Iterator[OpenCluster]:
    cluster = resolve(name, overrides)
    kube = connect_to(cluster)
    try:
        yield OpenCluster(cluster, kube)
    finally:
        kube.close()
