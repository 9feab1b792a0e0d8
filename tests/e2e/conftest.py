"""Fixtures for tests that need a real Kubernetes cluster.

- ``kube_cluster`` (session): one cluster for the whole run, started on first use
  (or the cluster named by PRODIGY_TEST_KUBECONFIG).
- ``second_kube_cluster`` (session): another cluster, started only by the tests that
  ask for it (multi-cluster behaviour).
- ``kube_namespace``: a fresh namespace in ``kube_cluster`` for one test, deleted
  (without waiting) afterwards.
- ``process_cluster`` / ``process_namespace``: a cluster whose node is the process node
  agent, whatever PRODIGY_TEST_NODE says, for the few tests that need pods to see the test
  machine's files (each says why), and for the node agent's own tests.

Every test using one of them is marked ``e2e`` automatically. Tests marked
``testcluster_only`` check the harness itself (process lifecycle) and are
deselected when an external cluster is used. Tests marked ``real_node_only`` look
inside the built agent image and are deselected unless the node is the real kubelet
(PRODIGY_TEST_NODE=kubelet, the default).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from testing import cluster as clusters

CLUSTER_FIXTURES = {"kube_cluster", "second_kube_cluster", "kube_namespace", "process_cluster", "process_namespace"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "testcluster_only: checks the built control plane itself; deselected with PRODIGY_TEST_KUBECONFIG"
    )
    config.addinivalue_line(
        "markers", "real_node_only: needs the real kubelet and the built image; deselected on other nodes"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.e2e)
    markers = {"real_node_only"} if clusters.external_kubeconfig() is None else {"testcluster_only", "real_node_only"}
    if clusters.external_kubeconfig() is None and clusters.node_kind() == "kubelet":
        markers.discard("real_node_only")
    if not markers:
        return
    deselected = [item for item in items if markers & {mark.name for mark in item.iter_markers()}]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = [item for item in items if not markers & {mark.name for mark in item.iter_markers()}]


@pytest.fixture(scope="session")
def kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[clusters.KubeCluster]:
    external = clusters.external_kubeconfig()
    if external is not None:
        yield clusters.use_external(external, tmp_path_factory.mktemp("external-cluster"))
        return
    started = clusters.start(tmp_path_factory.mktemp("testcluster-a"), "prodigy-test-a")
    try:
        yield started
    finally:
        clusters.stop(started)


@pytest.fixture(scope="session")
def second_kube_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[clusters.KubeCluster]:
    external = clusters.second_external_kubeconfig()
    if external is not None:
        yield clusters.use_external(external, tmp_path_factory.mktemp("external-cluster-b"), name="external-b")
        return
    started = clusters.start(tmp_path_factory.mktemp("testcluster-b"), "prodigy-test-b")
    try:
        yield started
    finally:
        clusters.stop(started)


@pytest.fixture(scope="session")
def process_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[clusters.KubeCluster]:
    external = clusters.external_kubeconfig()
    if external is not None:
        yield clusters.use_external(external, tmp_path_factory.mktemp("external-cluster-p"), name="external-p")
        return
    started = clusters.start(tmp_path_factory.mktemp("testcluster-process"), "prodigy-test-p", node="process")
    try:
        yield started
    finally:
        clusters.stop(started)


@pytest.fixture
def process_namespace(process_cluster: clusters.KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    process_cluster.check_running()
    name = process_cluster.create_namespace(request.node.name)
    try:
        yield name
    finally:
        process_cluster.delete_namespace(name)


@pytest.fixture
def kube_namespace(kube_cluster: clusters.KubeCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    kube_cluster.check_running()
    name = kube_cluster.create_namespace(request.node.name)
    try:
        yield name
    finally:
        kube_cluster.delete_namespace(name)
