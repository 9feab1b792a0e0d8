"""Container logs through the apiserver (``pods/log``) from the node agent's kubelet endpoint."""

from __future__ import annotations

import re
import subprocess
import threading
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from testing.cluster import KubeCluster
from testing.waiting import eventually

pytestmark = pytest.mark.e2e
TIMESTAMPED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{9}Z (.*)$")


def pod(name: str, script: str, restart: str = "Never", image: str = "busybox") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": restart,
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": image, "command": ["sh", "-c", script]}],
        },
    }


def phase_is(core: client.CoreV1Api, namespace: str, name: str, *phases: str) -> bool:
    return core.read_namespaced_pod(name, namespace).status.phase in phases


def test_kubectl_logs_follow_shows_a_line_while_the_container_runs(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(kube_namespace, pod("talker", "echo first line; sleep 30; echo last line"))
        eventually(lambda: phase_is(core, kube_namespace, "talker", "Running"), what="Running")
        with subprocess.Popen(
            [str(kube_cluster.kubectl_path), f"--kubeconfig={kube_cluster.kubeconfig}",
             f"--context={kube_cluster.admin_context}", "logs", "-f", "talker", "-n", kube_namespace],
            stdout=subprocess.PIPE, text=True,
        ) as follower:
            first: list[str] = []
            reader = threading.Thread(target=lambda: first.append(follower.stdout.readline()))  # type: ignore[union-attr]
            reader.start()
            reader.join(timeout=20)
            still_running = phase_is(core, kube_namespace, "talker", "Running")
            follower.kill()

    assert first == ["first line\n"]
    assert still_running


def test_follow_ends_when_the_container_exits(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(kube_namespace, pod("brief", "echo one; sleep 2; echo two; printf 'no newline'"))
        eventually(lambda: phase_is(core, kube_namespace, "brief", "Running", "Succeeded"), what="started")
    followed = kube_cluster.kubectl("logs", "-f", "brief", "-n", kube_namespace, timeout=60)

    assert followed.stdout == "one\ntwo\nno newline"


def test_tail_timestamps_and_limit_bytes(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(kube_namespace, pod("counter", "for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2"))
        eventually(lambda: phase_is(core, kube_namespace, "counter", "Succeeded"), what="Succeeded")
        via_client = core.read_namespaced_pod_log("counter", kube_namespace, tail_lines=2, timestamps=True)
        limited = core.read_namespaced_pod_log("counter", kube_namespace, limit_bytes=9)
    everything = kube_cluster.kubectl("logs", "counter", "-n", kube_namespace).stdout
    tailed = kube_cluster.kubectl("logs", "counter", "-n", kube_namespace, "--tail=2").stdout
    stamped = kube_cluster.kubectl("logs", "counter", "-n", kube_namespace, "--timestamps").stdout.splitlines()

    # stdout and stderr are separate pipes, so where "oops" lands among the lines is up to
    # the scheduler (as with containerd); every view must agree with the stored order.
    lines = everything.splitlines(keepends=True)
    assert sorted(lines) == ["line 1\n", "line 2\n", "line 3\n", "line 4\n", "line 5\n", "oops\n"]
    assert [line for line in lines if line.startswith("line")] == [f"line {i}\n" for i in range(1, 6)]
    assert tailed == "".join(lines[-2:])
    assert [TIMESTAMPED.match(line).group(1) for line in stamped] == everything.splitlines()  # type: ignore[union-attr]
    assert [TIMESTAMPED.match(line).group(1) for line in via_client.splitlines()] == everything.splitlines()[-2:]  # type: ignore[union-attr]
    assert limited == everything[:9]


def test_previous_shows_the_last_terminated_instance(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    script = (
        "n=$(cat /data/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /data/n; echo attempt $n; "
        "if [ $n -ge 2 ]; then sleep 60; fi; exit 1"
    )
    manifest = pod("restarter", script, restart="OnFailure")
    manifest["spec"]["volumes"] = [{"name": "data", "emptyDir": {}}]
    manifest["spec"]["containers"][0]["volumeMounts"] = [{"name": "data", "mountPath": "/data"}]
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        before = kube_cluster.kubectl("logs", "restarter", "-n", kube_namespace, "--previous", check=False)
        core.create_namespaced_pod(kube_namespace, manifest)

        def restarted_and_running() -> client.V1ContainerStatus | None:
            status = core.read_namespaced_pod("restarter", kube_namespace).status.container_statuses
            return status[0] if status and status[0].restart_count == 1 and status[0].state.running else None

        restarted = eventually(restarted_and_running, timeout=90, what="a restart")
    previous = kube_cluster.kubectl("logs", "restarter", "-n", kube_namespace, "--previous").stdout
    current = kube_cluster.kubectl("logs", "restarter", "-n", kube_namespace).stdout

    assert "NotFound" in before.stderr
    assert restarted.last_state.terminated.exit_code == 1
    assert previous == "attempt 1\n"
    assert current == "attempt 2\n"


def test_log_errors_use_the_kubelets_words(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(kube_namespace, pod("once", "echo hi"))
        core.create_namespaced_pod(kube_namespace, pod("pulling", "true", image="registry.invalid/none:1"))
        eventually(lambda: phase_is(core, kube_namespace, "once", "Succeeded"), what="Succeeded")

        def waiting_reason() -> str | None:
            statuses = core.read_namespaced_pod("pulling", kube_namespace).status.container_statuses or []
            return statuses[0].state.waiting.reason if statuses and statuses[0].state.waiting else None

        eventually(lambda: waiting_reason() in ("ErrImagePull", "ImagePullBackOff"), what="image pull failure")
        with pytest.raises(ApiException) as no_previous:
            core.read_namespaced_pod_log("once", kube_namespace, previous=True)
    pulling = kube_cluster.kubectl("logs", "pulling", "-n", kube_namespace, check=False)

    assert no_previous.value.status == 400
    assert 'previous terminated container \\"main\\" in pod \\"once\\" not found' in str(no_previous.value.body)
    assert pulling.returncode != 0
    assert re.search(
        r'container "main" in pod "pulling" is waiting to start: (image can\'t be pulled|trying and failing to pull image)',
        pulling.stderr,
    )
