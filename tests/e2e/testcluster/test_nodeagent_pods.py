"""Pods on the process node agent: images, memory limits, environment, volumes, init containers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from testing.cluster import KubeCluster
from testing.waiting import eventually

pytestmark = pytest.mark.e2e


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": "demo", "tier": "test"}},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": containers, **spec},
    }


def finished(core: client.CoreV1Api, namespace: str, name: str) -> client.V1Pod | None:
    found = core.read_namespaced_pod(name, namespace)
    return found if found.status.phase in ("Succeeded", "Failed") else None


def waiting_reason(core: client.CoreV1Api, namespace: str, name: str) -> str | None:
    statuses = core.read_namespaced_pod(name, namespace).status.container_statuses or []
    return statuses[0].state.waiting.reason if statuses and statuses[0].state.waiting else None


def test_unknown_image_goes_from_err_image_pull_to_image_pull_back_off(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(kube_namespace, pod("ghost", [{"name": "main", "image": "ghcr.io/nobody/ghost:1.0"}]))
        eventually(lambda: waiting_reason(core, kube_namespace, "ghost") == "ImagePullBackOff", what="ImagePullBackOff")
        status = core.read_namespaced_pod("ghost", kube_namespace).status
        events = core.list_namespaced_event(kube_namespace, field_selector="involvedObject.name=ghost").items
    shown = kube_cluster.kubectl("get", "pod", "ghost", "-n", kube_namespace).stdout

    waiting = status.container_statuses[0].state.waiting
    messages = {(e.reason, e.message) for e in events}
    assert status.phase == "Pending"
    assert waiting.message.startswith('Back-off pulling image "ghcr.io/nobody/ghost:1.0"')
    assert ("Failed", "Error: ErrImagePull") in messages
    assert ("Failed", "Error: ImagePullBackOff") in messages
    assert ("BackOff", 'Back-off pulling image "ghcr.io/nobody/ghost:1.0"') in messages
    assert any(r == "Failed" and m.startswith('Failed to pull image "ghcr.io/nobody/ghost:1.0": ') for r, m in messages)
    assert "ImagePullBackOff" in shown or "ErrImagePull" in shown


def test_invalid_image_name(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(kube_namespace, pod("shouty", [{"name": "main", "image": "BusyBox:1"}]))
        eventually(lambda: waiting_reason(core, kube_namespace, "shouty") == "InvalidImageName", what="InvalidImageName")
        waiting = core.read_namespaced_pod("shouty", kube_namespace).status.container_statuses[0].state.waiting

    assert waiting.message == (
        'Failed to apply default image tag "BusyBox:1": couldn\'t parse image name "BusyBox:1": '
        "invalid reference format: repository name (library/BusyBox) must be lowercase"
    )


def test_going_over_the_memory_limit_is_oom_killed(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    hog = {
        "name": "hog",
        "image": "python:3.11-slim",
        "command": ["python3", "-c", "block = bytearray(400 * 1024 * 1024); print('survived')"],
        "resources": {"limits": {"memory": "64Mi"}},
    }
    modest = {**hog, "name": "modest", "command": ["python3", "-c", "block = bytearray(8 * 1024 * 1024)"]}
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(kube_namespace, pod("hog", [hog]))
        core.create_namespaced_pod(kube_namespace, pod("modest", [modest]))
        over = eventually(lambda: finished(core, kube_namespace, "hog"), what="hog finished")
        under = eventually(lambda: finished(core, kube_namespace, "modest"), what="modest finished")
    shown = kube_cluster.kubectl("get", "pod", "hog", "-n", kube_namespace).stdout
    logs = kube_cluster.kubectl("logs", "hog", "-n", kube_namespace).stdout

    killed = over.status.container_statuses[0].state.terminated
    assert over.status.phase == "Failed"
    assert (killed.exit_code, killed.reason) == (137, "OOMKilled")
    assert "OOMKilled" in shown
    assert "survived" not in logs
    assert under.status.phase == "Succeeded"


def test_env_value_from_and_volumes_appear_at_their_mount_paths(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    script = (
        "echo G=$GREETING T=$TOKEN POD=$POD NODE=$NODE LABEL=$LABEL P=$CFG_greeting X=$(GREETING)-x MEM=$MEM; "
        "echo cwd=$(pwd); cat /config/greeting; echo; cat /config/nested/app.yaml; cat /etc/prodigy/token; echo; "
        "cat /podinfo/labels; echo; cat /podinfo/name; echo; cat /all/greeting /all/token /all/namespace; echo; "
        "cat /workspace/from-init; cat /greeting-only; echo; stat -c %a /config/greeting; "
        "touch /etc/prodigy/new 2>/dev/null || echo secret volume is read-only"
    )
    main = {
        "name": "main",
        "image": "busybox",
        "command": ["sh", "-c", script],
        "workingDir": "/workspace/src",
        "env": [
            {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "credentials", "key": "token"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "LABEL", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        ],
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "resources": {"limits": {"memory": "256Mi"}},
        "volumeMounts": [
            {"name": "work", "mountPath": "/workspace"},
            {"name": "config", "mountPath": "/config"},
            {"name": "secret", "mountPath": "/etc/prodigy", "readOnly": True},
            {"name": "podinfo", "mountPath": "/podinfo"},
            {"name": "all", "mountPath": "/all"},
            {"name": "config", "mountPath": "/greeting-only", "subPath": "greeting"},
        ],
    }
    init = {
        "name": "prepare",
        "image": "busybox",
        "command": ["sh", "-c", "echo written by init > /workspace/from-init"],
        "volumeMounts": [{"name": "work", "mountPath": "/workspace"}],
    }
    volumes = [
        {"name": "work", "emptyDir": {}},
        {"name": "config", "configMap": {"name": "settings", "defaultMode": 0o600,
                                          "items": [{"key": "greeting", "path": "greeting"},
                                                    {"key": "app.yaml", "path": "nested/app.yaml"}]}},
        {"name": "secret", "secret": {"secretName": "credentials"}},
        {"name": "podinfo", "downwardAPI": {"items": [
            {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
            {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}}]}},
        {"name": "all", "projected": {"sources": [
            {"configMap": {"name": "settings", "items": [{"key": "greeting", "path": "greeting"}]}},
            {"secret": {"name": "credentials"}},
            {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"fieldPath": "metadata.namespace"}}]}}]}},
    ]
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_config_map(
            kube_namespace, {"metadata": {"name": "settings"}, "data": {"greeting": "hello", "app.yaml": "a: 1\n"}}
        )
        core.create_namespaced_secret(kube_namespace, {"metadata": {"name": "credentials"}, "stringData": {"token": "s3cret"}})
        core.create_namespaced_pod(kube_namespace, pod("wired", [main], initContainers=[init], volumes=volumes))
        done = eventually(lambda: finished(core, kube_namespace, "wired"), what="pod finished")
    logs = kube_cluster.kubectl("logs", "wired", "-c", "main", "-n", kube_namespace).stdout

    assert done.status.phase == "Succeeded", logs
    assert logs.splitlines() == [
        "G=hello T=s3cret POD=wired NODE=" + done.spec.node_name + " LABEL=demo P=hello X=hello-x MEM=256",
        "cwd=/workspace/src",
        "hello",
        "a: 1",
        "s3cret",
        'app="demo"',
        'tier="test"',
        "wired",
        "hellos3cret" + kube_namespace,
        "written by init",
        "hello",
        "600",
        "secret volume is read-only",
    ]


@pytest.mark.testcluster_only
def test_mount_paths_do_not_touch_the_host(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    probe = "/prodigy-nodeagent-probe"
    container = {
        "name": "main", "image": "busybox", "command": ["sh", "-c", f"echo inside > {probe}/file; ls {probe}"],
        "volumeMounts": [{"name": "scratch", "mountPath": probe}],
    }
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(kube_namespace, pod("tidy", [container], volumes=[{"name": "scratch", "emptyDir": {}}]))
        done = eventually(lambda: finished(core, kube_namespace, "tidy"), what="pod finished")

    assert done.status.phase == "Succeeded"
    assert not Path(probe).exists()


def test_init_containers_run_first_in_order_and_a_failing_one_fails_the_pod(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    def step(name: str, script: str) -> dict[str, Any]:
        return {"name": name, "image": "busybox", "command": ["sh", "-c", script],
                "volumeMounts": [{"name": "trace", "mountPath": "/trace"}]}

    trace = [{"name": "trace", "emptyDir": {}}]
    ordered = pod(
        "ordered",
        [step("main", "echo main >> /trace/order; cat /trace/order")],
        initContainers=[step("first", "echo first >> /trace/order"), step("second", "echo second >> /trace/order")],
        volumes=trace,
    )
    broken = pod(
        "broken",
        [step("main", "echo should not run")],
        initContainers=[step("setup", "echo setting up; exit 7")],
        volumes=trace,
    )
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(kube_namespace, ordered)
        core.create_namespaced_pod(kube_namespace, broken)
        good = eventually(lambda: finished(core, kube_namespace, "ordered"), what="ordered finished")
        bad = eventually(lambda: finished(core, kube_namespace, "broken"), what="broken finished")
    order = kube_cluster.kubectl("logs", "ordered", "-c", "main", "-n", kube_namespace).stdout

    assert good.status.phase == "Succeeded"
    assert order == "first\nsecond\nmain\n"
    assert [s.state.terminated.reason for s in good.status.init_container_statuses] == ["Completed", "Completed"]
    assert bad.status.phase == "Failed"
    assert bad.status.init_container_statuses[0].state.terminated.exit_code == 7
    assert bad.status.container_statuses[0].state.waiting.reason == "PodInitializing"
    initialized = next(c for c in bad.status.conditions if c.type == "Initialized")
    assert initialized.status == "False"


def test_termination_message_from_file_or_from_logs(kube_cluster: KubeCluster, kube_namespace: str) -> None:
    from_file = {"name": "main", "image": "busybox",
                 "command": ["sh", "-c", "printf 'all done' > /dev/termination-log"]}
    from_logs = {"name": "main", "image": "busybox", "command": ["sh", "-c", "echo something broke; exit 2"],
                 "terminationMessagePolicy": "FallbackToLogsOnError"}
    missing = {"name": "main", "image": "busybox", "command": ["no-such-program"]}
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        for name, container in (("by-file", from_file), ("by-logs", from_logs), ("no-binary", missing)):
            core.create_namespaced_pod(kube_namespace, pod(name, [container]))
        by_file = eventually(lambda: finished(core, kube_namespace, "by-file"), what="by-file finished")
        by_logs = eventually(lambda: finished(core, kube_namespace, "by-logs"), what="by-logs finished")
        no_binary = eventually(lambda: finished(core, kube_namespace, "no-binary"), what="no-binary finished")

    assert by_file.status.container_statuses[0].state.terminated.message == "all done"
    assert by_logs.status.container_statuses[0].state.terminated.message == "something broke\n"
    start_error = no_binary.status.container_statuses[0].state.terminated
    assert no_binary.status.phase == "Failed"
    assert (start_error.exit_code, start_error.reason) == (128, "StartError")
    assert 'exec: "no-such-program": executable file not found in $PATH' in start_error.message


def test_a_pod_deleted_while_its_image_cannot_be_pulled_ends_failed_and_goes_away(
    kube_cluster: KubeCluster, kube_namespace: str
) -> None:
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        manifest = pod("stuck", [{"name": "main", "image": "example.invalid/stuck:1"}])
        manifest["metadata"]["finalizers"] = ["example.com/hold"]  # keeps the final status readable
        core.create_namespaced_pod(kube_namespace, manifest)
        eventually(lambda: waiting_reason(core, kube_namespace, "stuck") in ("ErrImagePull", "ImagePullBackOff"),
                   what="image pull failure")
        core.delete_namespaced_pod("stuck", kube_namespace)
        final = eventually(lambda: finished(core, kube_namespace, "stuck"), what="a terminal phase")
        core.patch_namespaced_pod("stuck", kube_namespace, {"metadata": {"finalizers": None}})
        eventually(lambda: "stuck" not in {p.metadata.name for p in core.list_namespaced_pod(kube_namespace).items},
                   what="the pod to go away")

    lost = final.status.container_statuses[0].state.terminated
    assert final.status.phase == "Failed"
    assert (lost.exit_code, lost.reason) == (137, "ContainerStatusUnknown")
