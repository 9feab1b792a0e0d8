"""Detached cluster runs through the real CLI: submit and walk away, then list, attach, watch,
cancel and collect them (issue 13).

Pods are host processes on the test cluster, so a step can wait for a marker file this test
creates: the run is certainly in progress while the test looks at it, and finishes when told.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from typing import IO

import pytest

from tests.e2e.k8s.conftest import PRODIGY, CookEnv
from testing.repos import git

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


def read_until(stream: IO[str], needle: str, seen: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return
    raise AssertionError(f"never saw {needle!r}; got:\n{''.join(seen)}")


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


def test_a_detached_run_is_attached_mid_run_and_merged_and_a_second_attach_is_refused(
        cook_env: CookEnv, tmp_path: Path) -> None:
    marker = tmp_path / "go"
    run_id, session = detach(cook_env, cook_env.workflow("solo", waiting_workflow("solo", marker)))
    cook_env.wait_until(lambda: runs_table(cook_env).get(run_id, {}).get("STEP", "").startswith("2/2"),
                        timeout=120, what="`cluster runs` to show the run in step 2")
    row = runs_table(cook_env)[run_id]
    assert row["PHASE"] == "Running" and row["OUTCOME"] == "running" and row["COLLECTED"] == "-"

    attached = cook_env.popen([str(PRODIGY), "cluster", "attach", run_id, "-y"])
    try:
        seen: list[str] = []
        assert attached.stdout is not None
        read_until(attached.stdout, "Attached to run", seen, timeout=60)
        second = prodigy(cook_env, "cluster", "attach", session)
        assert second.returncode == 2, second.stdout + second.stderr
        assert f"run {run_id} (session {session}) is already attached: process {attached.pid}" in second.stderr
        marker.touch()
        read_until(attached.stdout, "solo-after-marker", seen, timeout=60)
        rest, err = attached.communicate(timeout=120)
    finally:
        if attached.poll() is None:
            attached.kill()
    output = "".join(seen) + rest
    assert attached.returncode == 0, output + err
    assert "solo-before-marker" not in output               # live from the moment it attached
    merged = subjects(cook_env, "main")
    assert "solo step 1" in merged and "solo step 2" in merged
    (job,) = cook_env.kubectl_json("get", "jobs", "-l", f"prodigy.io/run-id={run_id}")["items"]
    assert job["metadata"]["annotations"]["prodigy.io/collected-at"]      # collected: now it may age
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
