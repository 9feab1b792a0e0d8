"""The harness's own tests. The node-agent tests check the process node agent itself (its image
map, host processes, its log endpoint), so this directory's ``kube_cluster`` is the session's
``process_cluster``, whatever PRODIGY_TEST_NODE says; the rest of the suite runs on the real
kubelet by default."""

from __future__ import annotations

import pytest

from testing import cluster as clusters


@pytest.fixture(scope="session")
def kube_cluster(process_cluster: clusters.KubeCluster) -> clusters.KubeCluster:
    return process_cluster
