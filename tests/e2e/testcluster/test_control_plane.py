"""The built control plane through the real apiserver: version, RBAC, isolation, lifecycle."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from testcluster import processes, state
from testing.cluster import REPO_ROOT, ClusterUnavailable, KubeCluster, locate_binaries, start, stop

pytestmark = pytest.mark.e2e


def pinned_kubernetes_version() -> str:
    """The version testcluster/build.sh builds: the wrapper module's requirement."""
    go_mod = (REPO_ROOT / "testcluster" / "gomod" / "k8s" / "go.mod").read_text()
    return next(line.split()[-1] for line in go_mod.splitlines() if line.strip().startswith("require k8s.io/kubernetes"))


def job(name: str) -> dict[str, object]:
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
            {"name": "main", "image": "busybox", "command": ["true"]}]}}},
    }


@pytest.mark.testcluster_only
def test_apiserver_reports_the_pinned_version(kube_cluster: KubeCluster) -> None:
    with kube_cluster.api_client() as api:
        version = client.VersionApi(api).get_code()
    kubectl = json.loads(kube_cluster.kubectl("version", "--output=json").stdout)

    assert version.git_version == pinned_kubernetes_version()
    assert kubectl["serverVersion"]["gitVersion"] == pinned_kubernetes_version()
    assert kubectl["clientVersion"]["gitVersion"] == pinned_kubernetes_version()


def test_restricted_user_may_read_pods_but_gets_403_creating_jobs(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client(kube_cluster.restricted_context) as api:
        pods = client.CoreV1Api(api).list_namespaced_pod(kube_namespace)
        with pytest.raises(ApiException) as denied:
            client.BatchV1Api(api).create_namespaced_job(kube_namespace, job("not-allowed"))
    via_kubectl = kube_cluster.kubectl(
        "create", "--namespace", kube_namespace, "-f", "-", input=json.dumps(job("not-allowed-either")),
        context=kube_cluster.restricted_context, check=False,
    )

    assert pods.items == []
    assert denied.value.status == 403
    assert via_kubectl.returncode != 0
    assert 'cannot create resource "jobs"' in via_kubectl.stderr
    assert kube_cluster.kubectl("get", "jobs", "--namespace", kube_namespace, "--output=name").stdout == ""


def test_admin_can_create_jobs(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api:
        created = client.BatchV1Api(api).create_namespaced_job(kube_namespace, job("allowed"))

    assert created.metadata.uid
    assert kube_cluster.kubectl("get", "jobs", "--namespace", kube_namespace, "--output=name").stdout == "job.batch/allowed\n"


@pytest.mark.testcluster_only
def test_two_clusters_run_at_once_and_are_separate(
    kube_cluster: KubeCluster, second_kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    first = kube_cluster.kubectl("get", "namespace", kube_namespace, check=False)
    second = second_kube_cluster.kubectl("get", "namespace", kube_namespace, check=False)
    with kube_cluster.api_client() as a, second_kube_cluster.api_client() as b:
        servers = {a.configuration.host, b.configuration.host}

    assert first.returncode == 0
    assert second.returncode != 0 and "NotFound" in second.stderr
    assert len(servers) == 2


def _processes_mentioning(directory: Path) -> list[str]:
    """Command lines of live processes that refer to files in ``directory``."""
    found = []
    for info in processes.all_processes():
        try:
            cmdline = Path(f"/proc/{info.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(directory) in cmdline:
            found.append(cmdline)
    return found


@pytest.mark.testcluster_only
def test_up_runs_in_the_background_and_down_leaves_no_process_behind(tmp_path: Path) -> None:
    directory = tmp_path / "cluster"
    cli = [sys.executable, "-m", "testcluster"]
    up = subprocess.run([*cli, "up", "--dir", str(directory), "--name", "lifecycle", "--bin-dir", str(locate_binaries())],
                        cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=180, check=False)
    assert up.returncode == 0, up.stderr
    recorded = state.load(directory)
    assert recorded is not None
    try:
        assert up.stdout.strip().splitlines()[-1] == f"KUBECONFIG={recorded.kubeconfig}"
        running = subprocess.run([*cli, "status", "--dir", str(directory)], capture_output=True, text=True, check=False)
        readyz = subprocess.run([str(recorded.kubectl), f"--kubeconfig={recorded.kubeconfig}", "get", "--raw=/readyz"],
                                capture_output=True, text=True, check=False)
        assert running.returncode == 0, running.stdout
        assert readyz.stdout == "ok"
        assert recorded.etcd_data.is_dir()
    finally:
        down = subprocess.run([*cli, "down", "--dir", str(directory)], capture_output=True, text=True, timeout=120,
                              check=False)

    assert down.returncode == 0, down.stderr
    assert [c.name for c in recorded.components if processes.alive(c.leader)] == []
    assert _processes_mentioning(directory) == []
    assert not recorded.etcd_data.exists()
    assert subprocess.run([*cli, "status", "--dir", str(directory)], capture_output=True, check=False).returncode == 1


@pytest.mark.testcluster_only
def test_a_component_that_died_is_reported_with_its_log(tmp_path: Path) -> None:
    started = start(tmp_path / "cluster", "crash")
    try:
        assert started.directory is not None
        recorded = state.load(started.directory)
        assert recorded is not None
        scheduler = next(c for c in recorded.components if c.name == "kube-scheduler")
        os.killpg(scheduler.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while processes.alive(scheduler.leader) and time.monotonic() < deadline:
            time.sleep(0.01)

        with pytest.raises(ClusterUnavailable) as reported:
            started.check_running()
    finally:
        stop(started)

    assert "kube-scheduler stopped running" in str(reported.value)
    assert str(scheduler.log) in str(reported.value)
