"""A cluster run reads its workflow file once: editing the file while the run goes on changes
neither what the pod runs nor the `merge:` block that lands the commits at the end."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.parity.conftest import Parity
from testing.repos import git
from testing.waiting import read_until

pytestmark = pytest.mark.timeout(240)


def _workflow(word: str, marker: Path, merged: Path) -> str:
    # The step waits for the marker (pods are host processes on the test cluster), so the file
    # is edited while the run is certainly in progress and before its end is handled.
    return (f"commands:\n"
            f"  - shell: \"echo step-says-{word}; while [ ! -f {marker} ]; do sleep 0.1; done; "
            f"echo {word} > made.txt && git add made.txt && git commit -qm 'made by {word}'\"\n"
            f"merge:\n"
            # The block runs in the session worktree; the user's checkout is the common dir's parent.
            f"  - shell: \"echo {word} > {merged} && "
            f"cd $(git rev-parse --path-format=absolute --git-common-dir)/.. && "
            f"git merge --no-ff -q ${{merge.source_branch}}\"\n")


def test_editing_the_workflow_during_a_cluster_run_changes_nothing_of_that_run(
        parity_on_process_node: Parity, tmp_path: Path) -> None:
    # On the process node: the step waits for a marker on this machine, so the edit provably
    # happens while the run is in progress (a real node's pods cannot see this machine's files).
    parity = parity_on_process_node
    marker, merged = tmp_path / "go", tmp_path / "merge-block-ran"
    side = parity.prepare("cluster", _workflow("first", marker, merged))
    proc = subprocess.Popen(side.command, cwd=side.repo, env=side.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    try:
        assert proc.stdout is not None
        read_until(proc.stdout, "step-says-first", seen, timeout=150)
        (side.repo / "wf.yml").write_text(_workflow("second", marker, merged))
        marker.touch()
        rest, _ = proc.communicate(timeout=150)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(seen) + rest
    assert proc.returncode == 0, output
    assert merged.read_text() == "first\n", output          # the merge: block of the file as it was read
    assert "step-says-second" not in output
    assert git(side.repo, "show", "main:made.txt") == "first\n"
    assert "made by first" in git(side.repo, "log", "--format=%s", "main")
