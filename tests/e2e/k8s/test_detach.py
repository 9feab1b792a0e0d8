"""Detached cluster runs through the real CLI: submit and walk away, then list, attach, watch,
cancel and collect them (issue 13).

The test runs on the process node agent, whose pods are host processes, so a step can wait for a
marker file this test creates: the run is certainly in progress while the test looks at it, and
finishes when told (a real node's pods cannot see this machine's files).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest

from tests.e2e.k8s.conftest import PRODIGY, CookEnv
from testing.repos import git
from testing.waiting import read_until

pytestmark = pytest.mark.timeout(600)

DETACHED = re.compile(r"Detached: run ([a-z0-9]{10}) runs as Job (\S+)")
SESSION = re.compile(r"Session: (session-[0-9a-f-]{36})")


def waiting_workflow(name: str, marker: Path) -> str:
    """Step 1 commits at once; step 2 says it started, waits for ``marker``, then commits."""
    return (f"name: {name}\n"
            "commands:\n"
            f"  - shell: \"echo {name} > {name}-1.txt && git add {name}-1.txt && git commit -qm '{name} step 1' "
            f"&& echo {name}-before-marker\"\n"
            f"  - shell: \"echo {name}-waiting; while [ ! -f {marker} ]; do sleep 0.1; done; "
            f"echo {name}-after-marker; echo {name} > {name}-2.txt && git add {name}-2.txt && "
            f"git commit -qm '{name} step 2'\"\n")


def detach(env: CookEnv, workflow: Path) -> tuple[str, str]:
    """`cook --detach`: exit 0 at once with the run id and the session id."""
    result = env.cook(workflow, "--detach")
    assert result.returncode == 0, result.stdout + result.stderr
    run, session = DETACHED.search(result.stdout), SESSION.search(result.stdout)
    assert run and session, result.stdout
    assert f"prodigy cluster attach {run.group(1)}" in result.stdout
    return run.group(1), session.group(1)


def prodigy(env: CookEnv, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return env.run([str(PRODIGY), *args], timeout=timeout)


def runs_table(env: CookEnv, *args: str) -> dict[str, dict[str, str]]:
    """`prodigy cluster runs` parsed into {run id: {column: value}} (REASON is the free last column)."""
    result = prodigy(env, "cluster", "runs", *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return parse_table(result.stdout)


def parse_table(text: str) -> dict[str, dict[str, str]]:
    lines = [line for line in text.splitlines() if line.strip()]
    header = lines[0]
    names = header.split()
    starts = [header.index(name) for name in names]
    rows = {}
    for line in lines[1:]:
        if not re.match(r"[a-z0-9]{10}\s", line):
            continue
        cells = [line[start:end].strip() for start, end in zip(starts, [*starts[1:], None])]
        rows[cells[0]] = dict(zip(names, cells))
    return rows


def session_record(env: CookEnv, session: str) -> dict[str, object]:
    path = env.home / "worktrees" / env.repo.name / ".metadata" / f"{session}.json"
    return dict(json.loads(path.read_text()))


def objects_of(env: CookEnv, run_id: str) -> list[str]:
    names = []
    for kind in ("jobs", "pods"):
        listing = env.kubectl_json("get", kind, "-l", f"prodigy.io/run-id={run_id}")
        names += [f"{kind}/{item['metadata']['name']}" for item in listing.get("items", [])]
    return names


def subjects(env: CookEnv, ref: str) -> list[str]:
    return git(env.repo, "log", "--format=%s", ref).splitlines()


RUNS = 10


def test_ten_detached_runs_are_listed_attached_cancelled_collected_and_cleaned_up(
        cook_env_on_process_node: CookEnv, tmp_path: Path) -> None:
    cook_env = cook_env_on_process_node
    # Ten pods waiting at once must fit on the test cluster's one node (its CPUs are the machine's).
    cook_env.configure(resources={"requests": {"cpu": "50m", "memory": "64Mi"}})
    names = [f"r{i}" for i in range(RUNS)]
    markers = {name: tmp_path / f"go-{name}" for name in names}
    runs: dict[str, tuple[str, str]] = {}
    for name in names:
        runs[name] = detach(cook_env, cook_env.workflow(name, waiting_workflow(name, markers[name])))
    run_of = {name: runs[name][0] for name in names}

    # Submit ten and walk away: `cluster runs` shows them all going, each in its second step.
    last: list[str] = [""]

    def all_in_step_two() -> bool:
        shown = prodigy(cook_env, "cluster", "runs")
        last[0] = shown.stdout + shown.stderr
        table = parse_table(shown.stdout)
        return all(table.get(run_of[n], {}).get("STEP", "").startswith("2/2 shell: echo " + n) for n in names)

    try:
        cook_env.wait_until(all_in_step_two, timeout=300, what="all ten runs in step 2 in `cluster runs`")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the last table:\n{last[0]}") from None
    table = runs_table(cook_env)
    assert {table[run_of[n]]["PHASE"] for n in names} == {"Running"}
    assert {table[run_of[n]]["OUTCOME"] for n in names} == {"running"}
    assert [table[run_of[n]]["SESSION"] for n in names] == [runs[n][1][len("session-"):][:8] for n in names]
    assert runs_table(cook_env, "--all").keys() == table.keys()

    # r0: attach mid-run; only what comes next is shown; a second attach is refused; -y merges.
    run_id, session = runs["r0"]
    attached = cook_env.popen([str(PRODIGY), "cluster", "attach", run_id, "-y"])
    try:
        seen: list[str] = []
        assert attached.stdout is not None
        read_until(attached.stdout, "Attached to run", seen, timeout=90)
        assert "at step 2/2 shell: echo r0-waiting" in seen[-1]
        second = prodigy(cook_env, "cluster", "attach", session)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"run {run_id} (session {session}) is already attached: process {attached.pid}" in second.stderr
        markers["r0"].touch()
        read_until(attached.stdout, "r0-after-marker", seen, timeout=90)
        rest, err = attached.communicate(timeout=180)
    finally:
        if attached.poll() is None:
            attached.kill()
    output = "".join(seen) + rest
    assert attached.returncode == 0, output + err
    shown = [line.strip() for line in output.splitlines() if line.startswith("  ")]    # the workflow's output
    assert "r0-after-marker" in shown, output
    assert "r0-before-marker" not in shown and "r0-waiting" not in shown, output  # live from when it attached
    assert {"r0 step 1", "r0 step 2"} <= set(subjects(cook_env, "main"))
    (job,) = cook_env.kubectl_json("get", "jobs", "-l", f"prodigy.io/run-id={run_id}")["items"]
    assert job["metadata"]["annotations"]["prodigy.io/collected-at"]     # collected: now it ages like any run
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600

    # r3: `logs -f` follows a running run to its end without finishing it (and without a lock).
    follower = cook_env.popen([str(PRODIGY), "cluster", "logs", run_of["r3"], "-f"])
    try:
        seen = []
        assert follower.stdout is not None
        read_until(follower.stdout, "r3-waiting", seen, timeout=90)
        markers["r3"].touch()
        rest, err = follower.communicate(timeout=120)
    finally:
        if follower.poll() is None:
            follower.kill()
    assert follower.returncode == 0, err
    assert "r3-before-marker" in "".join(seen) and "r3-after-marker" in rest

    # r1: cancel = Ctrl+C for a detached run: nothing left, step 1's commit kept, resumable.
    run_id, session = runs["r1"]
    cancelled = prodigy(cook_env, "cluster", "cancel", run_id)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    assert objects_of(cook_env, run_id) == []
    record = session_record(cook_env, session)
    assert record["status"] == "interrupted"
    assert subjects(cook_env, str(record["branch"]))[0] == "r1 step 1"
    assert f"Resume with: prodigy resume {session}" in cancelled.stdout + cancelled.stderr
    markers["r1"].touch()
    resumed = prodigy(cook_env, "resume", session, "-y", timeout=240)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert {"r1 step 1", "r1 step 2"} <= set(subjects(cook_env, "main"))

    # r4: Ctrl+C in an attached terminal is an attached run's Ctrl+C: cancelled, commits kept.
    run_id, session = runs["r4"]
    attached = cook_env.popen([str(PRODIGY), "cluster", "attach", run_id])
    try:
        seen = []
        assert attached.stdout is not None
        read_until(attached.stdout, "Attached to run", seen, timeout=90)
        attached.send_signal(signal.SIGINT)
        rest, err = attached.communicate(timeout=120)
    finally:
        if attached.poll() is None:
            attached.kill()
    assert attached.returncode == 130, "".join(seen) + rest + err
    assert "cancelled" in err and f"Resume with: prodigy resume {session}" in rest + err
    assert objects_of(cook_env, run_id) == []
    record = session_record(cook_env, session)
    assert record["status"] == "interrupted"
    assert subjects(cook_env, str(record["branch"]))[0] == "r4 step 1"

    # r2: finishes with nobody attached; its results wait in the Job until attach collects them.
    run_id, session = runs["r2"]
    markers["r2"].touch()
    cook_env.wait_until(lambda: runs_table(cook_env).get(run_id, {}).get("PHASE") == "Succeeded", timeout=120,
                        what="r2 to succeed unattended")
    row = runs_table(cook_env)[run_id]
    assert (row["OUTCOME"], row["COLLECTED"]) == ("succeeded", "no")
    collected = prodigy(cook_env, "cluster", "attach", run_id, "-y")
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert f"Collecting run {run_id}" in collected.stdout and "it succeeded" in collected.stdout
    assert {"r2 step 1", "r2 step 2"} <= set(subjects(cook_env, "main"))
    assert runs_table(cook_env)[run_id]["COLLECTED"] == "merged"

    # `logs` of the finished run, from the cluster or, once the pod is gone, from the copy kept here.
    for gone in (False, True):
        if gone:
            cook_env.cluster.kubectl("-n", cook_env.namespace, "delete", "job", "-l", f"prodigy.io/run-id={run_id}",
                                     "--cascade=foreground", "--wait=true")
            assert objects_of(cook_env, run_id) == []
        whole = prodigy(cook_env, "cluster", "logs", run_id)
        assert whole.returncode == 0, whole.stderr
        assert "[1/2] shell: echo r2" in whole.stdout and "r2-after-marker" in whole.stdout
        step_one = prodigy(cook_env, "cluster", "logs", run_id, "--step", "1")
        assert "r2-before-marker" in step_one.stdout and "r2-waiting" not in step_one.stdout

    # The rest finish unattended; `runs --watch` returns once none of them is going.
    for name in names[5:]:
        markers[name].touch()
    watched = prodigy(cook_env, "cluster", "runs", "--watch", timeout=300)
    assert watched.returncode == 0, watched.stderr
    final = parse_table(watched.stdout.rsplit("\n\n", 1)[-1])
    for name in ["r3", *names[5:]]:
        assert (final[run_of[name]]["PHASE"], final[run_of[name]]["COLLECTED"]) == ("Succeeded", "no"), final
    assert (final[run_of["r4"]]["OUTCOME"], final[run_of["r4"]]["COLLECTED"]) == ("cancelled", "yes")

    # Nobody collects them: gc keeps them (they are young), then, told they are abandoned, removes them.
    kept = prodigy(cook_env, "cluster", "gc", "e2e", "--older-than", "0s")
    assert kept.returncode == 0, kept.stderr
    assert "kept 6 finished detached run(s) not collected yet" in kept.stdout
    assert all(run_of[name] in kept.stdout for name in ["r3", *names[5:]])
    removed = prodigy(cook_env, "cluster", "gc", "e2e", "--abandoned-after", "0s")
    assert removed.returncode == 0, removed.stderr
    for name in ["r3", *names[5:]]:
        assert f"(abandoned detached run {run_of[name]}: succeeded" in removed.stdout, removed.stdout
    cook_env.wait_until(lambda: not cook_env.prodigy_objects(), timeout=120, what="gc removes the abandoned runs")
