"""Jobs on the process node agent, through the real apiserver and controllers.

What the job controller, ttl-after-finished and the garbage collector need from a
kubelet: terminal pod phases with exit codes, and the final delete of pods being
deleted (otherwise they would stay Terminating and the Job would never go away).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from testing.cluster import KubeCluster
from testing.waiting import eventually

pytestmark = pytest.mark.e2e


def job(name: str, script: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name},
        "spec": {
            **spec,
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 2,
                    "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", script]}],
                }
            },
        },
    }


def condition(job_obj: client.V1Job, kind: str) -> client.V1JobCondition | None:
    return next((c for c in job_obj.status.conditions or () if c.type == kind and c.status == "True"), None)


def job_pods(core: client.CoreV1Api, namespace: str, name: str) -> list[client.V1Pod]:
    return core.list_namespaced_pod(namespace, label_selector=f"job-name={name}").items


def process_gone(container_id: str) -> bool:
    pid = int(container_id.removeprefix("process://"))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_job_succeeds_with_exit_code_zero(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api:
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        batch.create_namespaced_job(kube_namespace, job("ok", "echo hello; exit 0"))
        done = eventually(
            lambda: condition(batch.read_namespaced_job("ok", kube_namespace), "Complete"), what="Job Complete"
        )
        (pod,) = job_pods(core, kube_namespace, "ok")
    waited = kube_cluster.kubectl("wait", "--for=condition=complete", "job/ok", "-n", kube_namespace, "--timeout=30s")

    terminated = pod.status.container_statuses[0].state.terminated
    assert done.reason == "CompletionsReached"
    assert pod.status.phase == "Succeeded"
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert terminated.started_at <= terminated.finished_at
    assert pod.status.pod_ip == pod.status.host_ip == "127.0.0.1"
    assert "condition met" in waited.stdout


def test_a_failing_job_honours_backoff_limit(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api:
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        batch.create_namespaced_job(kube_namespace, job("fails", "echo failing >&2; exit 3", backoffLimit=1))
        failed = eventually(
            lambda: condition(batch.read_namespaced_job("fails", kube_namespace), "Failed"), what="Job Failed"
        )
        pods = job_pods(core, kube_namespace, "fails")
    described = json.loads(kube_cluster.kubectl("get", "job", "fails", "-n", kube_namespace, "-o", "json").stdout)

    assert failed.reason == "BackoffLimitExceeded"
    assert len(pods) == 2  # the first try and one retry
    for pod in pods:
        terminated = pod.status.container_statuses[0].state.terminated
        assert pod.status.phase == "Failed"
        assert (terminated.exit_code, terminated.reason) == (3, "Error")
    assert described["status"]["failed"] == 2


def test_active_deadline_fails_the_job_and_stops_its_process(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api:
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        batch.create_namespaced_job(kube_namespace, job("slow", "echo started; sleep 600", activeDeadlineSeconds=4))
        running = eventually(
            lambda: [p for p in job_pods(core, kube_namespace, "slow") if p.status.phase == "Running"],
            what="pod Running",
        )
        container_id = running[0].status.container_statuses[0].container_id
        failed = eventually(
            lambda: condition(batch.read_namespaced_job("slow", kube_namespace), "Failed"), what="Job Failed"
        )
        eventually(lambda: not job_pods(core, kube_namespace, "slow"), what="the job's pod to be deleted")

    assert failed.reason == "DeadlineExceeded"
    if container_id.startswith("process://"):  # the testcluster node agent runs containers as host processes
        assert eventually(lambda: process_gone(container_id), timeout=10, what="the container process to end")


def test_ttl_after_finished_removes_job_pods_and_owned_configmap(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api:
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        created = batch.create_namespaced_job(kube_namespace, job("short", "echo done", ttlSecondsAfterFinished=1))
        owner = {"apiVersion": "batch/v1", "kind": "Job", "name": "short", "uid": created.metadata.uid}
        core.create_namespaced_config_map(
            kube_namespace, {"metadata": {"name": "short-data", "ownerReferences": [owner]}, "data": {"k": "v"}}
        )
        eventually(lambda: condition(batch.read_namespaced_job("short", kube_namespace), "Complete"), what="Complete")

        def gone(read: Callable[[], Any]) -> bool:
            try:
                read()
            except ApiException as error:
                return error.status == 404
            return False

        eventually(lambda: gone(lambda: batch.read_namespaced_job("short", kube_namespace)), what="Job deleted")
        eventually(lambda: not job_pods(core, kube_namespace, "short"), what="pods deleted")
        eventually(
            lambda: gone(lambda: core.read_namespaced_config_map("short-data", kube_namespace)), what="ConfigMap deleted"
        )
    leftovers = kube_cluster.kubectl("get", "jobs,pods,configmaps", "-n", kube_namespace, "-o", "name").stdout.split()

    assert [name for name in leftovers if "short" in name] == []


@pytest.mark.parametrize("propagation", ["Background", "Foreground"])
def test_deleting_a_running_job_removes_its_pods(
    kube_cluster: KubeCluster, kube_namespace: str, propagation: str
) -> None:
    name = f"del-{propagation.lower()}"
    with kube_cluster.api_client() as api:
        batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
        batch.create_namespaced_job(kube_namespace, job(name, "trap 'echo bye; exit 0' TERM; sleep 600 & wait"))
        eventually(
            lambda: [p for p in job_pods(core, kube_namespace, name) if p.status.phase == "Running"],
            what="pod Running",
        )
        batch.delete_namespaced_job(name, kube_namespace, propagation_policy=propagation)
        eventually(lambda: not job_pods(core, kube_namespace, name), timeout=30, what="pods removed")
    remaining = kube_cluster.kubectl("get", "jobs,pods", "-n", kube_namespace, "-o", "name").stdout

    assert name not in remaining


def test_kubectl_runs_a_job_to_completion(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    kube_cluster.kubectl("create", "job", "via-kubectl", "--image=busybox", "-n", kube_namespace, "--", "sh", "-c",
                         "echo made by kubectl")
    waited = kube_cluster.kubectl("wait", "--for=condition=complete", "job/via-kubectl", "-n", kube_namespace,
                                  "--timeout=60s", check=False)
    logs = kube_cluster.kubectl("logs", "job/via-kubectl", "-n", kube_namespace)

    assert waited.returncode == 0, waited.stderr
    assert logs.stdout == "made by kubectl\n"
