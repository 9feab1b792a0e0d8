"""MapReduce workflows on the test cluster through the real CLI: setup and reduce in pods, the map
phase as one Indexed Job, every item merged exactly once, whatever happens to its pods.

Items here only run `shell:` steps that read their environment and the repository: nothing in a
pod depends on seeing this machine's filesystem. Item counts stay small (two cores); the bench
(`bench/mapreduce_cluster.py`) is where the large runs are.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from typing import Any

import pytest

from tests.e2e.k8s.conftest import PRODIGY, CookEnv
from testing.repos import git
from testing.waiting import eventually

pytestmark = pytest.mark.timeout(420)

SESSION = re.compile(r"session-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def session_of(output: str) -> str:
    found = SESSION.search(output)
    assert found is not None, output
    return found.group(0)


def subjects(cook_env: CookEnv) -> list[str]:
    return git(cook_env.repo, "log", "--pretty=%s", "main").splitlines()


def map_pods(cook_env: CookEnv) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = cook_env.kubectl_json("get", "pods", "-l", "prodigy.io/phase=map").get("items", [])
    return items


def agent_running(pod: dict[str, Any]) -> bool:
    return any(status.get("name") == "prodigy-agent" and "running" in (status.get("state") or {})
               for status in (pod.get("status") or {}).get("containerStatuses") or ())


def prodigy(cook_env: CookEnv, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Another prodigy command (logs, dlq, resume, cluster runs) in the test's repository."""
    return cook_env.run([str(PRODIGY), *args], timeout=timeout)


def running_agents(cook_env: CookEnv) -> list[str]:
    return [str(pod["metadata"]["name"]) for pod in map_pods(cook_env) if agent_running(pod)]


SWEEP = """\
name: sweep
mode: mapreduce
map:
  input: "seq 1 3"
  max_parallel: 2
  agent_template:
    - shell: "sleep 6 && hostname > host-${item}.txt && git add host-${item}.txt && git commit -qm sweep-${item}"
"""


def test_agents_run_at_once_in_separate_pods_and_every_item_is_merged_once(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("sweep", SWEEP)
    process = cook_env.popen(cook_env.cook_args(workflow, "-y"))
    together = eventually(lambda: running if len(running := running_agents(cook_env)) >= 2 else None,
                          timeout=240, what="two agents running at once")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, out + err
    assert len(set(together)) >= 2                       # two pods, each running its own agent
    log = subjects(cook_env)
    assert sorted(s for s in log if s.startswith("sweep-")) == ["sweep-1", "sweep-2", "sweep-3"]
    assert len([s for s in log if s.startswith("Merge agent item_")]) == 3
    hosts = {(cook_env.repo / f"host-{n}.txt").read_text().strip() for n in (1, 2, 3)}
    assert len(hosts) == 3 and all(host.startswith("prodigy-sweep-map-") for host in hosts)   # a pod each
    assert "Map: 3 items to run, up to 2 agents at once" in out
    session = session_of(out)
    # The run index says which Job ran which phase of the session.
    phases = [(r.get("phase"), r.get("session_id")) for r in cook_env.runs() if r["event"] == "submitted"]
    assert phases == [("setup", session), ("map", session)]
    listing = prodigy(cook_env, "cluster", "runs")
    assert "sweep (map)" in listing.stdout and "sweep (setup)" in listing.stdout
    # Each agent's whole log is kept locally, under the same command as a local run's.
    agent_log = prodigy(cook_env, "logs", session, "--agent", "1")
    assert agent_log.returncode == 0, agent_log.stderr
    assert "=== item_1 attempt 1 — pod prodigy-sweep-map-" in agent_log.stdout
    assert "[1/1] shell: sleep 6" in agent_log.stdout


FLAKY = """\
name: flaky
mode: mapreduce
map:
  input: "seq 1 3"
  max_parallel: 3
  agent_template:
    - shell: "test ${item} != 2 || test \\"$ITEM_TWO\\" = fixed"
    - shell: "echo ${item} > f-${item}.txt && git add f-${item}.txt && git commit -qm flaky-${item}"
reduce:
  - shell: "echo ok=${map.successful} failed=${map.failed} > reduce.txt && git add reduce.txt && git commit -qm reduce"
"""


def test_a_failing_item_goes_to_the_dlq_and_dlq_retry_on_the_cluster_merges_it(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("flaky", FLAKY)
    result = cook_env.cook(workflow, "-y", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    session = session_of(result.stdout)
    assert "Map phase: 2 of 3 items succeeded (2 merged), 1 failed" in result.stdout
    assert (cook_env.repo / "reduce.txt").read_text() == "ok=2 failed=1\n"
    queue = json.loads(prodigy(cook_env, "dlq", "list", session, "--json").stdout)
    assert [item["item_id"] for item in queue["items"]] == ["item_1"]
    assert "failed with exit code 1" in queue["items"][0]["failures"][0]["error"]
    assert queue["cluster"] == cook_env.cluster_name
    # The agents' pods get the cluster entry's env: the fix is there now.
    cook_env.configure(env={"ITEM_TWO": "fixed"})
    retried = prodigy(cook_env, "dlq", "retry", session, "-y")
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "on cluster" in retried.stdout
    assert sorted(s for s in subjects(cook_env) if s.startswith("flaky-")) == ["flaky-1", "flaky-2", "flaky-3"]
    empty = prodigy(cook_env, "dlq", "list", session)
    assert "is empty" in empty.stdout


SLOW = """\
name: slow
mode: mapreduce
map:
  input: "seq 1 4"
  max_parallel: 2
  agent_template:
    - shell: "echo working-on-${item}; sleep 8; echo ${item} > s-${item}.txt && git add s-${item}.txt && git commit -qm slow-${item}"
reduce:
  - shell: "echo ok=${map.successful} > slow.txt && git add slow.txt && git commit -qm slow-reduce"
"""


def test_a_pod_deleted_mid_run_is_retried_and_its_item_merged_once(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("slow", SLOW)
    process = cook_env.popen(cook_env.cook_args(workflow, "-y"))

    def running_index_one() -> str | None:
        for pod in map_pods(cook_env):
            labels = pod["metadata"].get("labels") or {}
            if labels.get("batch.kubernetes.io/job-completion-index") == "1" and agent_running(pod):
                return str(pod["metadata"]["name"])
        return None

    victim = eventually(running_index_one, timeout=240, what="item_1's agent running")
    cook_env.cluster.kubectl("-n", cook_env.namespace, "delete", "pod", victim, "--wait=false")
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, out + err
    assert f"[item_1] pod {victim} ended (deleted)" in out
    assert "[item_1] started (attempt 2)" in out
    log = subjects(cook_env)
    assert sorted(s for s in log if s.startswith("slow-") and s != "slow-reduce") == [f"slow-{n}" for n in range(1, 5)]
    assert len([s for s in log if s.startswith("Merge agent item_1 ")]) == 1
    assert (cook_env.repo / "slow.txt").read_text() == "ok=4\n"


def test_ctrl_c_mid_map_leaves_no_job_or_pod_and_resume_runs_only_the_rest(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("slow", SLOW)
    process = cook_env.popen(cook_env.cook_args(workflow, "-y"))
    assert process.stdout is not None
    seen: list[str] = []
    for line in process.stdout:
        seen.append(line)
        if "✓ merged" in line:
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=120)
    output = "".join(seen) + out + err
    assert process.returncode == 130, output
    assert "Resume with: prodigy resume" in output
    assert [o for o in cook_env.prodigy_objects() if o.startswith(("jobs/", "pods/"))] == []
    eventually(lambda: cook_env.prodigy_objects() == [], timeout=60, what="the run's ConfigMaps and Secret to go")
    session = session_of(output)
    merged_before = [s for s in git(cook_env.repo, "log", "--pretty=%s", f"prodigy-{session}").splitlines()
                     if s.startswith("Merge agent item_")]
    assert merged_before

    resumed = prodigy(cook_env, "resume", session, "-y")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "Continuing the map phase" in resumed.stdout
    assert f"Map: {4 - len(merged_before)} items to run" in resumed.stdout
    log = subjects(cook_env)
    assert sorted(s for s in log if s.startswith("slow-") and s != "slow-reduce") == [f"slow-{n}" for n in range(1, 5)]
    assert len([s for s in log if s.startswith("Merge agent item_")]) == 4


def test_items_waiting_for_a_quota_say_so_and_run_when_it_frees(cook_env: CookEnv) -> None:
    cook_env.cluster.kubectl("-n", cook_env.namespace, "create", "quota", "one-pod", "--hard=pods=1")
    cook_env.wait_until(lambda: "hard" in cook_env.kubectl_json("get", "resourcequota", "one-pod").get("status", {}),
                        timeout=60, what="the quota controller counts the quota")
    workflow = cook_env.workflow("sweep", SWEEP)
    result = cook_env.cook(workflow, "-y", timeout=400)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Map: \d+ items? pending: .*ResourceQuota one-pod", result.stdout), result.stdout
    assert sorted(s for s in subjects(cook_env) if s.startswith("sweep-")) == ["sweep-1", "sweep-2", "sweep-3"]


def test_verbose_streams_every_agent_prefixed_by_its_item(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("slow", SLOW.replace("seq 1 4", "seq 1 2").replace("sleep 8", "sleep 1"))
    result = cook_env.cook(workflow, "-y", "-v", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"^\[item_0\]\s+working-on-1$", result.stdout, re.MULTILINE), result.stdout
    assert re.search(r"^\[item_1\]\s+working-on-2$", result.stdout, re.MULTILINE), result.stdout
