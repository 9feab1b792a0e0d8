"""Spec 97: up to 10 concurrent workflows on one cluster, none interfering with another; all of
them (and local runs beside them) merge into the one repository they started from (issue 9)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.k8s.conftest import PRODIGY, CookEnv
from testing.repos import git

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


def _committing(directory: Path, index: int) -> Path:
    # Outside the repository, so the checkout's state is the user's alone.
    path = directory / f"commit-{index}.yml"
    path.write_text(f"name: commit-{index}\ncommands:\n  - shell: \"echo {index} > file-{index}.txt && "
                    f"git add file-{index}.txt && git commit -qm 'add file {index}'\"\n")
    return path


def _assert_all_merged(repo: Path, runs: int, before: str) -> None:
    subjects = git(repo, "log", "--pretty=%s", "main").splitlines()
    assert sorted(s for s in subjects if s.startswith("add file")) == sorted(f"add file {i}" for i in range(runs))
    assert len([s for s in subjects if s.startswith("Merge worktree")]) == runs
    for i in range(runs):
        assert (repo / f"file-{i}.txt").read_text() == f"{i}\n"
    assert git(repo, "status", "--porcelain") == before          # changed only through the merges
    assert git(repo, "branch", "--format=%(refname:short)").split() == ["main"]
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_ten_concurrent_committing_cluster_runs_in_one_repository_all_merge(cook_env: CookEnv,
                                                                             tmp_path: Path) -> None:
    before = git(cook_env.repo, "status", "--porcelain")
    workflows = [_committing(tmp_path, i) for i in range(RUNS)]
    processes = [cook_env.popen(cook_env.cook_args(w, "-y")) for w in workflows]
    results = [p.communicate(timeout=280) + (p.returncode,) for p in processes]
    for i, (_, err, code) in enumerate(results):
        assert code == 0, f"run {i} failed:\n{err}"
    _assert_all_merged(cook_env.repo, RUNS, before)


def test_local_and_cluster_runs_at_once_in_one_repository_all_merge(cook_env: CookEnv, tmp_path: Path) -> None:
    before = git(cook_env.repo, "status", "--porcelain")
    workflows = [_committing(tmp_path, i) for i in range(6)]
    processes = [cook_env.popen(cook_env.cook_args(w, "-y")) if i % 2 else
                 cook_env.popen([str(PRODIGY), "cook", str(w), "-y"]) for i, w in enumerate(workflows)]
    results = [p.communicate(timeout=280) + (p.returncode,) for p in processes]
    for i, (_, err, code) in enumerate(results):
        assert code == 0, f"run {i} ({'cluster' if i % 2 else 'local'}) failed:\n{err}"
    _assert_all_merged(cook_env.repo, 6, before)
