"""A node that dies and an API server that restarts in the middle of a run (issue 9), on a cluster
of their own: the test kills the node agent (with its containers) or the apiserver with SIGKILL
and starts it again, as a crashed machine would be brought back.

- the node killed: the status line says the node is not responding, the run ends with the
  NodeLost diagnosis after ``node_lost_grace_seconds`` and keeps its session; once the node is
  back, ``prodigy resume`` runs the remaining steps and merges;
- the apiserver killed and restarted: the status line says it is unreachable, and the log
  stream loses and repeats no line.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.k8s.conftest import PRODIGY, CookEnv, make_env
from testing import cluster as clusters
from testing import faults
from testing.repos import git
from testing.waiting import eventually

pytestmark = [pytest.mark.e2e, pytest.mark.testcluster_only, pytest.mark.timeout(420)]


@pytest.fixture(scope="module")
def fault_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[clusters.KubeCluster]:
    # The process node: these tests kill and freeze its node agent, and the steps wait for markers
    # on this machine.
    started = clusters.start(tmp_path_factory.mktemp("testcluster-faults"), "prodigy-faults", node="process")
    try:
        yield started
    finally:
        clusters.stop(started)


@pytest.fixture
def fault_env(fault_cluster: clusters.KubeCluster, request: pytest.FixtureRequest,
              tmp_path: Path) -> Iterator[CookEnv]:
    fault_cluster.check_running()
    namespace = fault_cluster.create_namespace(request.node.name)
    try:
        yield make_env(fault_cluster, namespace, tmp_path)
    finally:
        fault_cluster.delete_namespace(namespace)


class Output:
    """Both streams of a running CLI, read as they come."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None and process.stderr is not None
        self.out: list[str] = []
        self.err: list[str] = []
        self._threads = [threading.Thread(target=self._read, args=(stream, sink), daemon=True)
                         for stream, sink in ((process.stdout, self.out), (process.stderr, self.err))]
        for thread in self._threads:
            thread.start()

    @staticmethod
    def _read(stream: object, sink: list[str]) -> None:
        for line in stream:  # type: ignore[attr-defined]
            sink.append(line.rstrip("\n"))

    def join(self) -> None:
        for thread in self._threads:
            thread.join(30)

    def saw(self, text: str, *, stream: str = "out") -> bool:
        return any(text in line for line in (self.out if stream == "out" else self.err))


def _node_ready(cluster: clusters.KubeCluster) -> bool:
    assert cluster.node_name is not None
    node = json.loads(cluster.kubectl("get", "node", cluster.node_name, "-o", "json").stdout)
    ready = [c for c in node["status"]["conditions"] if c["type"] == "Ready"]
    taints = [t for t in node.get("spec", {}).get("taints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")]
    return bool(ready) and ready[0]["status"] == "True" and not taints


def test_a_node_killed_mid_run_ends_it_as_node_lost_and_resume_finishes_it(fault_env: CookEnv,
                                                                            tmp_path: Path) -> None:
    cluster = fault_env.cluster
    assert cluster.directory is not None
    fault_env.configure(node_lost_grace_seconds=5)
    marker = tmp_path / "first-attempt"
    workflow = fault_env.workflow("long", f"""\
name: long
commands:
  - shell: "if [ -e '{marker}' ]; then echo second-attempt; else touch '{marker}'; echo first-attempt-running; sleep 600; fi"
  - shell: "echo done > done.txt && git add done.txt && git commit -qm 'finished after the node came back'"
""")
    with fault_env.popen(fault_env.cook_args(workflow, "-y")) as process:
        output = Output(process)
        eventually(lambda: output.saw("first-attempt-running"), timeout=120, what="the workflow to run")
        node = faults.kill(cluster.directory, "node-agent")
        try:
            code = process.wait(timeout=240)
        finally:
            node.restart()
        output.join()
    error = "\n".join(output.err)
    assert code == 1, error
    assert re.search(r"node \S+ is not responding \(Kubelet stopped posting node status\.\)", error)   # status line
    assert "[NodeLost]" in error
    session = re.search(r"Resume with: prodigy resume (session-[0-9a-f-]+)", "\n".join(output.out) + error)
    assert session is not None, error

    eventually(lambda: _node_ready(cluster), timeout=120, what="the node agent to be back and the node Ready")
    resumed = fault_env.run([str(PRODIGY), "resume", session.group(1), "-y"], timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    assert "second-attempt" in resumed.stdout
    assert "finished after the node came back" in git(fault_env.repo, "log", "--pretty=%s", "main")


def test_an_apiserver_restart_mid_run_is_shown_and_loses_no_line(fault_env: CookEnv) -> None:
    cluster = fault_env.cluster
    assert cluster.directory is not None
    lines = 200
    workflow = fault_env.workflow("counter", f"""\
name: counter
commands:
  - shell: "for i in $(seq 1 {lines}); do echo count-$i; sleep 0.1; done"
""")
    with fault_env.popen(fault_env.cook_args(workflow)) as process:
        output = Output(process)
        eventually(lambda: output.saw("count-20"), timeout=120, what="the log stream to start")
        apiserver = faults.kill(cluster.directory, "kube-apiserver")
        try:
            eventually(lambda: output.saw("API server unreachable", stream="err"), timeout=60,
                       what="the status line to say the API server is unreachable")
        finally:
            apiserver.restart()
        code = process.wait(timeout=240)
        output.join()
    assert code == 0, "\n".join(output.err)
    counted = [line.strip() for line in output.out if line.strip().startswith("count-")]
    assert counted == [f"count-{i}" for i in range(1, lines + 1)]
