"""Spec 97: completed Jobs are cleaned up automatically (TTL); --keep and `cluster gc` for the rest."""

from __future__ import annotations

import pytest

from tests.e2e.k8s.conftest import PRODIGY, CookEnv

pytestmark = pytest.mark.timeout(180)

HELLO = 'name: hello\ncommands:\n  - shell: "echo hi"\n'


def test_ttl_removes_the_job_and_everything_it_owns(cook_env: CookEnv) -> None:
    cook_env.configure(ttl_seconds=2)
    result = cook_env.cook(cook_env.workflow("hello", HELLO), env={"ANTHROPIC_API_KEY": "sk-ant-ttl-test-value"})
    assert result.returncode == 0, result.stderr
    # The TTL controller deletes the Job; the garbage collector then removes its pods,
    # ConfigMaps and the Secret through their ownerReferences.
    cook_env.wait_until(lambda: not cook_env.prodigy_objects(), timeout=90,
                        what="TTL and garbage collection remove the run's objects")


def test_keep_disables_the_ttl_and_gc_removes_the_kept_job(cook_env: CookEnv) -> None:
    cook_env.configure(ttl_seconds=2)
    result = cook_env.cook(cook_env.workflow("hello", HELLO), "--keep")
    assert result.returncode == 0, result.stderr
    jobs = cook_env.kubectl_json("get", "jobs", "-l", "app=prodigy")["items"]
    assert len(jobs) == 1 and "ttlSecondsAfterFinished" not in jobs[0]["spec"]

    dry = cook_env.run([str(PRODIGY), "cluster", "gc", "e2e", "--older-than", "0s", "--dry-run"])
    assert dry.returncode == 0 and f"would delete job {cook_env.namespace}/{jobs[0]['metadata']['name']}" in dry.stdout
    assert cook_env.kubectl_json("get", "jobs", "-l", "app=prodigy")["items"]        # dry run deleted nothing

    real = cook_env.run([str(PRODIGY), "cluster", "gc", "e2e", "--older-than", "0s"])
    assert real.returncode == 0, real.stderr
    assert "deleted 1 Job(s)" in real.stdout
    cook_env.wait_until(lambda: not cook_env.prodigy_objects(), timeout=60, what="gc removes the kept run")


def test_every_submission_is_in_the_run_index(cook_env: CookEnv) -> None:
    cook_env.cook(cook_env.workflow("hello", HELLO))
    records = cook_env.runs()
    submitted = next(r for r in records if r["event"] == "submitted")
    finished = next(r for r in records if r["event"] == "finished")
    assert submitted["run_id"] == finished["run_id"]
    assert submitted["namespace"] == cook_env.namespace and submitted["job"].startswith("prodigy-hello-")
    assert submitted["workflow"] == "hello" and finished["outcome"] == "succeeded"
    listing = cook_env.run([str(PRODIGY), "cluster", "runs"])
    assert submitted["run_id"] in listing.stdout and "succeeded" in listing.stdout
