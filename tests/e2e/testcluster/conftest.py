"""The harness's own tests. The node-agent tests check the process node agent itself (its image
map, host processes, its log endpoint), so this directory's ``kube_cluster`` runs that agent
whatever PRODIGY_TEST_NODE says; the rest of the suite runs on the real kubelet by default."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testing import cluster as clusters


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[clusters.KubeCluster]:
    external = clusters.external_kubeconfig()
    if external is not None:
        yield clusters.use_external(external, tmp_path_factory.mktemp("external-cluster"))
        return
    started = clusters.start(tmp_path_factory.mktemp("testcluster-process"), "prodigy-test-p", node="process")
    try:
        yield started
    finally:
        clusters.stop(started)
