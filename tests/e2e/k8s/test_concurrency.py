"""Spec 97: up to 10 concurrent workflows on one cluster, none interfering with another."""

from __future__ import annotations

import subprocess

import pytest

from tests.e2e.k8s.conftest import CookEnv

pytestmark = pytest.mark.timeout(300)

RUNS = 10


def test_ten_concurrent_cluster_runs_all_succeed_with_their_own_output(cook_env: CookEnv) -> None:
    workflows = [cook_env.workflow(f"w{i}", f'name: w{i}\ncommands:\n  - shell: "echo output-of-{i}; sleep 2"\n')
                 for i in range(RUNS)]
    processes = [subprocess.Popen(cook_env.cook_args(w, "-y"), cwd=cook_env.repo, env=cook_env.env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in workflows]
    results = [p.communicate(timeout=240) + (p.returncode,) for p in processes]

    for i, (out, err, code) in enumerate(results):
        assert code == 0, f"run {i} failed:\n{err}"
        assert f"output-of-{i}" in out
        assert not [j for j in range(RUNS) if j != i and f"output-of-{j}" in out]   # no crossed streams
    submitted = [r for r in cook_env.runs() if r["event"] == "submitted"]
    finished = [r for r in cook_env.runs() if r["event"] == "finished"]
    assert len({r["job"] for r in submitted}) == RUNS
    assert sorted(r["run_id"] for r in finished) == sorted(r["run_id"] for r in submitted)
    assert {r["outcome"] for r in finished} == {"succeeded"}
