"""The node agent as a process: it registers its Node and leaves nothing running on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path


import pytest
from kubernetes import client

from testing.cluster import REPO_ROOT, KubeCluster
from testing.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.testcluster_only]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def session_members(sid: int) -> list[int]:
    """Live (non-zombie) processes whose session is ``sid``: a container and all it started."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, _ppid, _pgrp, session = stat[stat.rindex(")") + 2 :].split()[:4]
            if int(session) == sid and state != "Z":
                members.append(int(entry.name))
    return members


@pytest.fixture
def extra_agent(kube_cluster: KubeCluster, tmp_path: Path) -> Iterator[tuple[str, Callable[[], subprocess.Popen[bytes]]]]:
    """A second node agent (its own Node) on the session's cluster: (node name, start it)."""
    node = f"extra-{os.getpid()}-{tmp_path.name[-6:]}".lower().replace("_", "-")
    cert, key = tmp_path / "node.crt", tmp_path / "node.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={node}",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    port = free_port()
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        with (tmp_path / "agent.log").open("ab") as log:
            agent = subprocess.Popen(
                [sys.executable, "-m", "testcluster.nodeagent", f"--kubeconfig={kube_cluster.kubeconfig}",
                 f"--node-name={node}", f"--port={port}", f"--state-dir={tmp_path / 'state'}",
                 f"--cert={cert}", f"--key={key}"],
                cwd=REPO_ROOT, stdout=log, stderr=log,
            )
        started.append(agent)
        return agent

    try:
        yield node, start
    finally:
        for agent in started:
            if agent.poll() is None:
                agent.terminate()
                agent.wait(timeout=30)
        with kube_cluster.api_client() as api:
            client.CoreV1Api(api).delete_node(node)


def sleeper(node: str) -> dict[str, object]:
    return {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "sleeper"},
        "spec": {
            "nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 30,
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "sleep 600 & sleep 600"]}],
        },
    }


def running_pid(core: client.CoreV1Api, namespace: str) -> int | None:
    statuses = core.read_namespaced_pod("sleeper", namespace).status.container_statuses or []
    if statuses and statuses[0].state.running:
        return int(statuses[0].container_id.removeprefix("process://"))
    return None


def test_sigterm_stops_the_agent_and_every_container_process(
    kube_cluster: KubeCluster, kube_namespace: str,
    extra_agent: tuple[str, Callable[[], subprocess.Popen[bytes]]],
) -> None:
    node, start = extra_agent
    agent = start()
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        ready = eventually(
            lambda: any(c.type == "Ready" and c.status == "True" for c in core.read_node(node).status.conditions or ())
            if node in {n.metadata.name for n in core.list_node().items} else None,
            what="the extra node to be Ready",
        )
        core.create_namespaced_pod(kube_namespace, sleeper(node))
        pid = eventually(lambda: running_pid(core, kube_namespace), what="the container to run")
        eventually(lambda: len(session_members(pid)) == 3, what="both sleeps to start")
        taints = core.read_node(node).spec.taints
        agent.send_signal(signal.SIGTERM)
        exit_code = agent.wait(timeout=30)
        core.delete_namespaced_pod("sleeper", kube_namespace, grace_period_seconds=0)

    assert ready and not taints
    assert exit_code == 0
    assert session_members(pid) == []


def test_a_restarted_agent_reports_containers_it_lost_and_does_not_rerun_them(
    kube_cluster: KubeCluster, kube_namespace: str,
    extra_agent: tuple[str, Callable[[], subprocess.Popen[bytes]]],
) -> None:
    node, start = extra_agent
    first = start()
    with kube_cluster.api_client() as api:
        core = client.CoreV1Api(api)
        core.create_namespaced_pod(kube_namespace, sleeper(node))
        pid = eventually(lambda: running_pid(core, kube_namespace), what="the container to run")
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
        start()

        def failed() -> client.V1Pod | None:
            found = core.read_namespaced_pod("sleeper", kube_namespace)
            return found if found.status.phase == "Failed" else None

        lost = eventually(failed, what="the pod to fail")
        core.delete_namespaced_pod("sleeper", kube_namespace)
        eventually(lambda: "sleeper" not in {p.metadata.name for p in core.list_namespaced_pod(kube_namespace).items},
                   what="the restarted agent's final delete")

    terminated = lost.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (137, "ContainerStatusUnknown")
    assert terminated.container_id == f"process://{pid}"
