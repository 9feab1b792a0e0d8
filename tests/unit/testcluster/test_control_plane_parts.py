"""The control plane harness's parts that need no cluster: ports, credentials, process trees."""

from __future__ import annotations

import base64
import csv
import io
import itertools
import os
import sys
import time
from pathlib import Path

import pytest

from testcluster import auth, cluster, components, kubeconfig, pki, ports, processes, state


def test_free_ports_are_distinct_and_skip_ports_in_use() -> None:
    candidates = itertools.cycle([20001, 20001, 20002, 20003, 20004])
    in_use = {20002}

    chosen = ports.free_ports(2, choose=lambda _: next(candidates), can_bind=lambda p: p not in in_use)

    assert chosen == [20001, 20003]


def test_free_ports_gives_up_when_too_few_are_free() -> None:
    with pytest.raises(RuntimeError, match="found only 0 of 3 free ports"):
        ports.free_ports(3, choose=lambda r: r.start, can_bind=lambda _: False, attempts=10)


def test_real_free_ports_are_bindable_and_outside_the_ephemeral_range() -> None:
    low, high = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())

    chosen = ports.free_ports(6)

    assert len(set(chosen)) == 6
    assert all(not low <= port <= high for port in chosen)


def test_token_file_lists_every_identity_and_only_the_restricted_user_lacks_groups() -> None:
    ids = auth.new_identities()

    rows = list(csv.reader(io.StringIO(auth.token_auth_file(ids))))

    assert [row[0] for row in rows] == [i.token for i in ids.all()]
    assert len({row[0] for row in rows}) == len(rows)
    by_user = {row[1]: row[3] for row in rows}
    assert by_user[auth.RESTRICTED_USER] == ""
    assert by_user["testcluster-admin"] == auth.MASTERS


def test_restricted_role_reads_jobs_and_logs_but_creates_nothing() -> None:
    rules = auth.restricted_role()["rules"]

    verbs = {(group, resource): set(rule["verbs"])
             for rule in rules for group in rule["apiGroups"] for resource in rule["resources"]}

    assert verbs[("batch", "jobs")] == {"get", "list", "watch"}
    assert verbs[("", "pods/log")] == {"get"}
    assert all(not {"create", "update", "patch", "delete"} & v for v in verbs.values())


def test_kubeconfig_makes_the_first_context_current_and_embeds_the_ca() -> None:
    document = kubeconfig.render(cluster="c", server="https://127.0.0.1:1", ca_pem=b"PEM", contexts=[
        kubeconfig.Context("c", "c-admin", "t1"), kubeconfig.Context("c-restricted", "c-restricted", "t2")])

    assert document["current-context"] == "c"
    assert base64.b64decode(document["clusters"][0]["cluster"]["certificate-authority-data"]) == b"PEM"
    assert {u["name"]: u["user"]["token"] for u in document["users"]} == {"c-admin": "t1", "c-restricted": "t2"}


def test_each_component_listens_on_its_own_port(tmp_path: Path) -> None:
    layout = components.Layout(
        root=tmp_path, bin_dir=tmp_path / "bin", etcd_data=tmp_path / "etcd",
        ports=components.Ports(20001, 20002, 20003, 20004, 20005, 20006),
        pki=pki.Pki(*(tmp_path / f"f{i}" for i in range(10))), node_name="n",
    )
    commands = [components.etcd(layout), components.kube_apiserver(layout), components.kube_controller_manager(layout),
                components.kube_scheduler(layout), components.node_agent(layout, None)]
    listen_flags = ("--listen-client-urls=", "--listen-peer-urls=", "--secure-port=", "--port=")

    listening = [int(arg.rsplit(":", 1)[-1].rsplit("=", 1)[-1]) for command in commands for arg in command
                 if arg.startswith(listen_flags)]

    assert sorted(listening) == [20001, 20002, 20003, 20004, 20005, 20006]
    assert all("127.0.0.1" in arg for command in commands for arg in command if arg.startswith("--listen-"))


def _pids_alive(pids: list[int]) -> list[int]:
    return [p.pid for p in processes.all_processes() if p.pid in pids]


def test_stop_ends_the_group_and_descendants_in_other_sessions(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids"
    script = f"sleep 300 & echo $! >> {pid_file}; setsid sleep 300 & echo $! >> {pid_file}; wait"
    child = processes.spawn(["sh", "-c", script], log=tmp_path / "log", env=os.environ)
    leader = processes.identify(child.pid)
    assert leader is not None
    deadline = time.monotonic() + 10
    while len(pid_file.read_text().split() if pid_file.exists() else []) < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    spawned = [child.pid, *map(int, pid_file.read_text().split())]

    processes.stop([leader], grace=5)

    assert _pids_alive(spawned) == []


def test_stop_kills_what_ignores_sigterm(tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    code = f"import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); open({str(ready)!r}, 'w'); time.sleep(300)"
    child = processes.spawn([sys.executable, "-c", code], log=tmp_path / "log", env=os.environ)
    leader = processes.identify(child.pid)
    assert leader is not None
    deadline = time.monotonic() + 10
    while not ready.exists() and time.monotonic() < deadline:
        time.sleep(0.02)

    killed = processes.stop([leader], grace=0.3)

    assert killed == [child.pid]
    assert not processes.alive(leader)


def test_a_reused_pid_is_not_mistaken_for_a_component() -> None:
    me = processes.identify(os.getpid())
    assert me is not None

    assert processes.alive(me)
    assert not processes.alive(processes.Leader(me.pid, me.start_ticks + 1))


def test_an_invalid_cluster_name_is_refused_before_anything_starts(tmp_path: Path) -> None:
    with pytest.raises(cluster.StartupError, match="invalid cluster name 'Bad_Name'"):
        cluster.up(tmp_path / "c", tmp_path / "bin", cluster.Options(name="Bad_Name"))

    assert not (tmp_path / "c").exists()


def test_waiting_gives_up_at_the_deadline_without_sleeping(tmp_path: Path) -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    timing = cluster.Timing(clock=lambda: now[0], sleep=sleep, poll=0.5)
    empty = state.ClusterState(name="c", directory=tmp_path, server="https://127.0.0.1:1", kubeconfig=tmp_path / "k",
                                 admin_context="c", restricted_context="c-restricted", bin_dir=tmp_path,
                                 etcd_data=tmp_path / "etcd", node_name=None)
    starter = cluster._Starter(empty, cluster.Options(timeout=3, timing=timing))

    with pytest.raises(cluster.StartupError, match="timed out after 3 s waiting for the moon"):
        starter.wait("the moon", lambda: False)

    assert sum(slept) == 3.0
