"""Spec 97: a workflow runs as a Job; its logs stream live and read like a local run."""

from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.e2e.k8s.conftest import MULTI_STEP, CookEnv

pytestmark = pytest.mark.timeout(180)


def _step_lines(output: str) -> list[str]:
    """The workflow's own output, without durations (they differ between runs)."""
    return [re.sub(r"\d+\.\d+s", "Ns", line) for line in output.splitlines()]


def test_multi_step_workflow_runs_in_a_pod_and_matches_the_local_run(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("multi", MULTI_STEP)

    on_cluster = cook_env.cook(workflow)

    assert on_cluster.returncode == 0, on_cluster.stderr
    lines = on_cluster.stdout.splitlines()
    expected = ["step-one-output", "line-1", "line-2", "line-3", "step-three-output"]
    printed = [line.strip() for line in lines if line.strip() in expected]
    assert printed == expected                                   # every line, once, in order
    assert "succeeded" in on_cluster.stderr
    # The same file without --cluster behaves as before: a local run with the same step output.
    local = subprocess.run([str(cook_env.cook_args(workflow)[0]), "cook", str(workflow), "-y"], cwd=cook_env.repo,
                           env=cook_env.env, capture_output=True, text=True, timeout=60, check=False)
    assert local.returncode == 0, local.stderr
    step_output = [line for line in _step_lines(local.stdout) if line.startswith(("[", "  "))]
    assert step_output and step_output == [line for line in _step_lines(on_cluster.stdout)
                                           if line.startswith(("[", "  "))]
    assert "submitted Job" not in local.stderr                   # no cluster involved locally
    submitted = [r for r in cook_env.runs() if r["event"] == "submitted"]
    assert len(submitted) == 1 and submitted[0]["cluster"] == "e2e"


def test_a_line_printed_in_the_pod_reaches_the_client_before_the_pod_finishes(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("slow", 'name: slow\ncommands:\n  - shell: "echo early-line; sleep 8; echo late-line"\n')
    process = cook_env.popen(cook_env.cook_args(workflow))
    assert process.stdout is not None
    started = time.monotonic()
    seen_at = None
    for line in process.stdout:
        if "early-line" in line:
            seen_at = time.monotonic() - started
            pods = cook_env.kubectl_json("get", "pods", "-l", "app=prodigy")["items"]
            assert [p["status"]["phase"] for p in pods] == ["Running"]  # the pod is still working
            break
    rest, err = process.communicate(timeout=60)
    assert seen_at is not None, err
    assert "late-line" in rest
    assert process.returncode == 0, err


def test_cluster_status_line_shows_progress_and_completion(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("multi", MULTI_STEP)
    result = cook_env.cook(workflow)
    assert result.returncode == 0
    status = [line for line in result.stderr.splitlines() if line.startswith("[prodigy]")]
    assert any("Running" in line for line in status)
    assert any("Succeeded" in line or "succeeded" in line for line in status)


def test_map_globs_the_local_checkout_and_runs_once_per_file_in_the_pod(cook_env: CookEnv) -> None:
    specs = cook_env.repo / "specs"
    specs.mkdir()
    for name in ("65-cook-refactor.md", "70-cluster.md"):
        (specs / name).write_text("spec\n")
    workflow = cook_env.workflow("mapped", 'name: mapped\ncommands:\n  - shell: "echo handling-spec-$ARG"\n')

    result = cook_env.cook(workflow, "--map", "specs/*.md")

    assert result.returncode == 0, result.stderr
    handled = [line.strip() for line in result.stdout.splitlines() if line.strip().startswith("handling-spec-")]
    assert handled == ["handling-spec-65", "handling-spec-70"]
