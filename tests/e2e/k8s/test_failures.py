"""Spec 97: failed Jobs give clear error messages — the reason, the exit code's meaning, the fix."""

from __future__ import annotations


import pytest

from tests.e2e.k8s.conftest import CookEnv

pytestmark = pytest.mark.timeout(180)


def test_failing_step_exits_non_zero_naming_the_step_and_its_exit_code(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("fail", """\
name: failing
commands:
  - shell: "echo before-the-failure"
  - shell: "echo about-to-fail; exit 3"
  - shell: "echo never-printed"
""")
    result = cook_env.cook(workflow)

    assert result.returncode == 1
    assert "before-the-failure" in result.stdout and "never-printed" not in result.stdout
    # Reads like the local run: the step and its exit code, then where to resume.
    error = result.stderr
    assert "Error: Step 'shell: echo about-to-fail; exit 3' failed with exit code 3" in error
    # Said once, as locally: the pod's log does not repeat the error the local finish prints.
    assert (result.stdout + error).count("failed with exit code 3") == 1
    assert "Failed: a step failed (exit code 3)" in error         # the status line: the step's code, not the agent's 1
    outcomes = [r for r in cook_env.runs() if r["event"] == "finished"]
    assert [r["outcome"] for r in outcomes] == ["failed"]


def test_unknown_image_is_diagnosed_after_the_pull_grace_and_the_job_removed(cook_env: CookEnv) -> None:
    cook_env.configure(image_pull_grace_seconds=4)
    workflow = cook_env.workflow("hello", 'name: hello\ncommands:\n  - shell: "echo hi"\n')
    # The run must end by itself, soon after the 4 s grace: a run that waited for ever would time out.
    result = cook_env.cook(workflow, "--image", "registry.invalid/nobody/missing:1", timeout=90)

    assert result.returncode == 1
    assert "registry.invalid/nobody/missing:1 cannot be pulled" in result.stderr
    assert "[ImagePull]" in result.stderr
    assert "kind load docker-image" in result.stderr             # the fix
    assert "could not bring the pod's commits back" not in result.stderr   # nothing ran, nothing to collect
    cook_env.wait_until(lambda: not cook_env.prodigy_objects(), timeout=30, what="the stuck Job is deleted")


def test_invalid_image_name_fails_at_once(cook_env: CookEnv) -> None:
    # Valid for our own checks would be rejected; an uppercase repository is caught before submit.
    workflow = cook_env.workflow("hello", 'name: hello\ncommands:\n  - shell: "echo hi"\n')
    result = cook_env.cook(workflow, "--image", "Bad/Image:1")
    assert result.returncode == 2
    assert "--image" in result.stderr and "must be lowercase" in result.stderr
    assert cook_env.runs() == []                                 # nothing was submitted


def test_step_over_its_memory_limit_is_diagnosed_as_out_of_memory(cook_env: CookEnv) -> None:
    cook_env.configure(resources={"requests": {"memory": "32Mi", "cpu": "100m"}, "limits": {"memory": "96Mi"}})
    workflow = cook_env.workflow("hungry", """\
name: hungry
commands:
  - shell: "echo allocating"
  - shell: "python3 -c 'import time; x = bytearray(400 * 1024 * 1024); time.sleep(5)'"
""")
    result = cook_env.cook(workflow)

    assert result.returncode == 1
    assert "allocating" in result.stdout
    assert "ran out of memory" in result.stderr and "137" in result.stderr
    assert "96Mi" in result.stderr
    assert "resources.limits.memory" in result.stderr             # the fix
    assert (result.stdout + result.stderr).count("failed with exit code 137") == 1


def test_deadline_is_diagnosed(cook_env: CookEnv) -> None:
    cook_env.configure(active_deadline_seconds=3)
    workflow = cook_env.workflow("sleepy", 'name: sleepy\ncommands:\n  - shell: "echo waiting; sleep 60"\n')
    result = cook_env.cook(workflow, timeout=90)       # ends at the 3 s deadline, not after the step's 60 s

    assert result.returncode == 1
    assert "exceeded its deadline of 3s" in result.stderr
    assert "active_deadline_seconds" in result.stderr


def test_a_secret_key_missing_from_an_existing_secret_is_diagnosed_not_waited_on(cook_env: CookEnv) -> None:
    # Preflight sees the Secret exists; only the kubelet finds the key missing (CreateContainerConfigError).
    cook_env.cluster.kubectl("-n", cook_env.namespace, "create", "secret", "generic", "app-creds",
                             "--from-literal=other=x")
    cook_env.configure(secrets={"APP_TOKEN": {"secret": "app-creds", "key": "token"}})
    workflow = cook_env.workflow("hello", 'name: hello\ncommands:\n  - shell: "echo never-runs"\n')
    result = cook_env.cook(workflow, timeout=90)       # a short grace, not for ever

    assert result.returncode == 1
    assert "never-runs" not in result.stdout
    error = result.stderr
    assert "Error: workflow failed on cluster" in error
    assert "cannot be configured: couldn't find key token in Secret" in error and "[ContainerConfig]" in error
    # The hint names the env var, the Secret and the key, and both ways to fix it.
    assert "hint: env APP_TOKEN reads key 'token' of Secret 'app-creds', which has no such key" in error
    assert f"kubectl -n {cook_env.namespace} edit secret app-creds" in error and "secrets.APP_TOKEN" in error
    assert "could not bring the pod's commits back" not in error   # the workflow never started: nothing to collect
    assert "Resume with: prodigy resume session-" in result.stdout + error
    assert [r["outcome"] for r in cook_env.runs() if r["event"] == "finished"] == ["failed"]
    cook_env.wait_until(lambda: not cook_env.prodigy_objects(), timeout=30, what="the stuck Job and its objects are deleted")
