"""`kubectl delete job` by someone else while the workflow runs (issue 9): the commits the pod
exported as it was stopped come back, with the same guarantee as Ctrl+C."""

from __future__ import annotations

import re

import pytest

from tests.e2e.k8s.conftest import CookEnv
from testing.repos import git
from testing.waiting import eventually

pytestmark = pytest.mark.timeout(300)


def test_a_job_deleted_mid_run_keeps_the_commits_the_pod_exported(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("deleted", """\
name: deleted
commands:
  - shell: "echo one > one.txt && git add one.txt && git commit -qm 'made before the delete'"
  - shell: "echo waiting-for-the-delete; sleep 600"
  - shell: "echo never-reached"
""")
    with cook_env.popen(cook_env.cook_args(workflow, "-y")) as process:
        assert process.stdout is not None and process.stderr is not None
        seen = []
        for line in process.stdout:
            seen.append(line)
            if "waiting-for-the-delete" in line:
                break
        job = next(r["job"] for r in cook_env.runs() if r["event"] == "submitted")
        cook_env.cluster.kubectl("-n", cook_env.namespace, "delete", "job", job, "--wait=false")
        out, err = process.communicate(timeout=240)
    output = "".join(seen) + out + err
    assert process.returncode == 1, output
    assert "never-reached" not in output
    assert f"Job {job} was deleted outside prodigy while the workflow ran [JobDeleted]" in err
    assert "the pod returned no commits" not in output
    session = re.search(r"Resume with: prodigy resume (session-[0-9a-f-]+)", output)
    assert session is not None, output
    # The commit made before the delete is on the kept session's branch, not merged, not lost.
    branch = f"prodigy-{session.group(1)}"
    assert "made before the delete" in git(cook_env.repo, "log", "--pretty=%s", branch)
    assert "made before the delete" not in git(cook_env.repo, "log", "--pretty=%s", "main")
    eventually(lambda: not cook_env.prodigy_objects(), timeout=60, what="the deleted Job's pod to go")
