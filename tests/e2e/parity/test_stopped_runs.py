"""A cluster run stopped mid-way (Ctrl+C, SIGTERM, activeDeadlineSeconds) keeps its commits, like a local one.

The pod is deleted while step 2 sleeps; during its grace period the agent stops the step and
exports step 1's commit and the checkpoint, the results container prints them, and the CLI
reads them before the pod is gone. `prodigy resume` then continues from that checkpoint.

They run on whichever node the suite uses (the real kubelet by default). Step 2 sleeps unless a
file `step-two-may-finish` is in the repository: the test commits it onto the kept session
branch before resuming, so the resumed pod (which starts from that branch head) finishes at once.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.parity.conftest import PRODIGY, Parity, Prepared
from testing.repos import git
from testing.waiting import read_until

pytestmark = pytest.mark.timeout(240)


MARKER = "step-two-may-finish"
WORKFLOW = ("- shell: \"echo one > one.txt && git add one.txt && git commit -qm 'step 1' && "
            "echo made=$(git rev-parse HEAD)\"\n"
            f"- shell: \"echo step-two-started; [ -f {MARKER} ] || sleep 120; "
            "echo two > two.txt && git add two.txt && git commit -qm 'step 2'\"\n")


def _metadata(side: Prepared) -> dict[str, Any]:
    (path,) = (side.home / "worktrees" / side.repo.name / ".metadata").glob("session-*.json")
    return dict(json.loads(path.read_text()))


def _resume_completes(side: Prepared, session: str) -> None:
    worktree = Path(_metadata(side)["worktree_path"])
    (worktree / MARKER).write_text("")
    git(worktree, "add", MARKER)
    git(worktree, "commit", "-qm", "let step 2 finish")
    resumed = subprocess.run([str(PRODIGY), "resume", session, "-y"], cwd=side.repo, env=side.env,
                             capture_output=True, text=True, timeout=180, check=False)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    subjects = git(side.repo, "log", "--format=%s", f"{side.base}..main").splitlines()
    assert [s for s in subjects if s.startswith("step")] == ["step 2", "step 1"]
    assert "step-two-started" in resumed.stdout          # step 2 ran again; step 1 did not
    assert "made=" not in resumed.stdout


@pytest.mark.parametrize("signum, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_while_a_step_runs_brings_back_the_commits_so_far(
        parity: Parity, signum: signal.Signals, exit_code: int) -> None:
    side = parity.prepare("cluster", WORKFLOW)
    client = subprocess.Popen(side.command, cwd=side.repo, env=side.env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, bufsize=1)
    seen: list[str] = []
    read_until(client.stdout, "step-two-started", seen, timeout=90)
    made = re.search(r"made=([0-9a-f]{40})", "".join(seen))
    assert made, "".join(seen)

    client.send_signal(signum)
    out, err = client.communicate(timeout=90)

    assert client.returncode == exit_code, out + err
    branch = _metadata(side)["branch"]
    assert git(side.repo, "rev-parse", branch).strip() == made.group(1), out + err   # the pod's commit, same id
    assert git(side.repo, "rev-parse", "main").strip() == side.base         # nothing merged
    record = _metadata(side)
    assert record["status"] == "interrupted"
    session = record["session_id"]
    assert f"Resume with: prodigy resume {session}" in out + err
    assert "cancelled" in err and "succeeded" not in err
    assert parity.prodigy_objects() == []

    _resume_completes(side, session)


def test_active_deadline_brings_back_the_commits_so_far(parity: Parity) -> None:
    side = parity.prepare("cluster", WORKFLOW)
    config_file = side.home / "kubernetes.yaml"
    config = json.loads(config_file.read_text())
    config["clusters"]["parity"]["active_deadline_seconds"] = 8
    config_file.write_text(json.dumps(config))

    result = subprocess.run(side.command, cwd=side.repo, env=side.env, capture_output=True, text=True,
                            timeout=120, check=False)

    assert result.returncode == 1, result.stdout + result.stderr
    made = re.search(r"made=([0-9a-f]{40})", result.stdout)
    assert made, result.stdout + result.stderr
    assert "exceeded its deadline of 8s" in result.stderr
    record = _metadata(side)
    assert git(side.repo, "rev-parse", record["branch"]).strip() == made.group(1)
    assert record["status"] == "failed"
    assert f"Resume with: prodigy resume {record['session_id']}" in result.stdout + result.stderr
    assert "succeeded" not in result.stderr

    del config["clusters"]["parity"]["active_deadline_seconds"]
    config_file.write_text(json.dumps(config))
    _resume_completes(side, record["session_id"])
