"""Remote mode on the test cluster: a hostile workflow cannot get the push credentials (issue 10).

The run clones from and pushes to a local bare repository over file:// (as the parity tests do),
with a credentials Secret mounted into the init and results containers. The workflow plants a
pre-push hook, a credential helper, an insteadOf/pushInsteadOf that would send the push (and so
the credentials) to an HTTP server the test listens on, and fsmonitor/sshCommand/askPass programs,
all in the workspace repository the results container pushes from. The unit tests
(tests/unit/transport/test_credential_isolation.py) show a plain push from that repository
hands the token to these traps; here the real pod must spring none of them and still deliver
the commits.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodigy.k8s.transport.podspec import CREDENTIALS_DIR, CREDENTIALS_VOLUME, RESULTS_CONTAINER
from testing.credential_traps import credential_observer, sprung, trap_script
from testing.repos import git
from tests.e2e.k8s.conftest import CookEnv

pytestmark = pytest.mark.timeout(300)

TOKEN = "tok-e2e-push-credential-91c2"


def test_a_workflow_that_plants_hooks_helpers_and_insteadof_never_sees_the_push_credentials(
        cook_env_on_process_node: CookEnv, tmp_path: Path) -> None:
    # On the process node: the pod must reach the remote repository and the credential-recording
    # HTTP server on this machine, which a real node's pods (no network beyond the pod) cannot.
    cook_env = cook_env_on_process_node
    bare = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(cook_env.repo), str(bare))
    remote_url = f"file://{bare}"
    cook_env.cluster.kubectl("-n", cook_env.namespace, "create", "secret", "generic", "git-creds",
                             "--from-literal=username=robot", f"--from-literal=password={TOKEN}")
    cook_env.configure(repo={"mode": "remote", "remote_url": remote_url, "credentials_secret": "git-creds"})
    records = tmp_path / "traps" / "records"
    with credential_observer() as observer:
        plant = tmp_path / "plant.sh"
        plant.write_text(trap_script(record_dir=records, remote_url=remote_url, observer_url=observer.url,
                                     credentials_dir=CREDENTIALS_DIR))
        workflow = cook_env.workflow("hostile", f"""\
name: hostile
commands:
  - shell: "test ! -e {CREDENTIALS_DIR} && echo 'no credentials in the workflow container'"
  - shell: "echo made in the pod > pod.txt && git add pod.txt && git commit -qm 'commit from the pod'"
  - shell: "sh {plant} && echo 'traps planted'"
""")
        result = cook_env.cook(workflow, "-y", timeout=240)

        output = result.stdout + result.stderr
        assert result.returncode == 0, output
        assert "no credentials in the workflow container" in output and "traps planted" in output
        assert observer.requests == []                      # the insteadOf was not obeyed
    caught = sprung(records)
    assert "pre-push" not in caught and "credential-helper" not in caught and "askpass" not in caught, caught
    assert all(TOKEN not in text for text in caught.values()), caught
    # The credentials were there to take: mounted into the results container, which pushed.
    job = cook_env.kubectl_json("get", "jobs", "-l", "app=prodigy")["items"][0]
    results = next(c for c in job["spec"]["template"]["spec"]["containers"] if c["name"] == RESULTS_CONTAINER)
    assert {"name": CREDENTIALS_VOLUME, "mountPath": CREDENTIALS_DIR, "readOnly": True} in results["volumeMounts"]
    pushed = git(bare, "branch", "--list", "prodigy-session-*", "--format=%(refname:short)").split()
    assert len(pushed) == 1
    assert git(bare, "log", "-1", "--format=%s", pushed[0]).strip() == "commit from the pod"
    assert git(cook_env.repo, "log", "-1", "--format=%s", "main").strip().startswith("Merge")
    assert (cook_env.repo / "pod.txt").read_text() == "made in the pod\n"
    assert json.dumps(cook_env.runs()).count(TOKEN) == 0
