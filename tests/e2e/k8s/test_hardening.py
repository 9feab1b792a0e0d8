"""Issue 10 on a cluster: secrets stay out of ConfigMaps, a missing `claude` or an agent crash is
reported with its reason, remote_url cannot smuggle options, --dry-run contacts nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from testing.credential_traps import credential_observer
from testing.repos import git
from tests.e2e.k8s.conftest import CookEnv

pytestmark = pytest.mark.timeout(300)

SECRET_VALUE = "tok-e2e-workflow-secret-7f3a"


def test_workflow_secrets_reach_the_steps_but_no_configmap(cook_env: CookEnv) -> None:
    digest = hashlib.sha256(SECRET_VALUE.encode()).hexdigest()      # the file may not hold the value itself
    workflow = cook_env.workflow("secretive", f"""\
name: secretive
secrets:
  API_TOKEN: "{SECRET_VALUE}"
commands:
  - shell: 'printf %s "$API_TOKEN" | sha256sum | grep -q {digest} && echo "the step got $API_TOKEN"'
""")
    dry = cook_env.cook(workflow, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert SECRET_VALUE not in dry.stdout + dry.stderr

    result = cook_env.cook(workflow, "-y")

    assert result.returncode == 0, result.stdout + result.stderr
    assert SECRET_VALUE not in result.stdout + result.stderr      # masked, as in a local run
    assert "the step got ***REDACTED***" in result.stdout, result.stdout
    configmaps = cook_env.kubectl_json("get", "configmaps")["items"]
    assert any("workflow.yaml" in (cm.get("data") or {}) for cm in configmaps)
    assert all(SECRET_VALUE not in json.dumps(cm) for cm in configmaps)
    secrets = cook_env.kubectl_json("get", "secrets", "-l", "app=prodigy")["items"]
    assert [sorted(s.get("data") or {}) for s in secrets] == [["PRODIGY_WORKFLOW_SECRETS"]]
    owner = secrets[0]["metadata"]["ownerReferences"][0]
    assert owner["kind"] == "Job"


def test_a_claude_step_on_an_image_without_claude_fails_naming_what_is_missing_and_where(
        cook_env_on_process_node: CookEnv) -> None:
    # The process node maps `prodigy-agent:no-claude` to this checkout without a `claude` on PATH.
    cook_env = cook_env_on_process_node
    # The node agent maps prodigy-agent:* to this checkout's venv; nothing puts a `claude` on PATH.
    cook_env.configure(image="prodigy-agent:no-claude")
    workflow = cook_env.workflow("needs-claude", """\
name: needs-claude
commands:
  - shell: "echo one > one.txt && git add one.txt && git commit -qm 'step one'"
  - claude: /prodigy-lint
""")
    result = cook_env.cook(workflow)

    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert ("Error: Claude command '/prodigy-lint' failed: the Claude Code CLI (`claude`) is not installed in "
            "the image prodigy-agent:no-claude") in result.stderr
    assert "Error: None" not in output and "Traceback" not in output
    assert "Resume with: prodigy resume session-" in output
    branch = git(cook_env.repo, "branch", "--list", "prodigy-session-*", "--format=%(refname:short)").strip()
    assert git(cook_env.repo, "log", "-1", "--format=%s", branch).strip() == "step one"   # step 1's commit came back


def test_an_agent_crash_reaches_the_user_as_its_message_and_the_pods_last_lines(
        cook_env_on_process_node: CookEnv, tmp_path: Path) -> None:
    # On the process node: the pod's python reads a sitecustomize from this machine's files.
    cook_env = cook_env_on_process_node
    # A bug in the agent, simulated: the pod's python imports this sitecustomize, which breaks the executor.
    hooks = tmp_path / "crash-hook"
    hooks.mkdir()
    (hooks / "sitecustomize.py").write_text(
        "import prodigy.local.executor as executor\n\n\n"
        "def execute(*args, **kwargs):\n"
        "    raise RuntimeError('simulated agent bug')\n\n\n"
        "executor.execute = execute\n")
    cook_env.configure(env={"PYTHONPATH": str(hooks)})
    result = cook_env.cook(cook_env.workflow("crash", 'name: crash\ncommands:\n  - shell: "echo hi"\n'))

    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Error: the agent crashed: RuntimeError: simulated agent bug" in result.stderr, output
    assert "last lines of its log:" in result.stderr and "in execute" in result.stderr
    assert "Error: None" not in output
    assert "Resume with: prodigy resume session-" in output


def test_dry_run_in_remote_mode_contacts_neither_the_cluster_nor_the_git_remote(
        cook_env: CookEnv, tmp_path: Path) -> None:
    with credential_observer() as remote:
        cook_env.configure(kubeconfig_path=str(tmp_path / "does-not-exist"), context="nowhere",
                           repo={"mode": "remote", "remote_url": remote.url, "push_base_ref": True})
        result = cook_env.cook(cook_env.workflow("hello", 'name: hello\ncommands:\n  - shell: "echo hi"\n'),
                               "--dry-run")

        assert result.returncode == 0, result.stderr
        assert remote.requests == []
        assert f"value: {remote.url}" in result.stdout          # the init container would clone from it
    assert cook_env.runs() == [] and cook_env.prodigy_objects() == []


def test_a_remote_url_git_would_read_as_an_option_is_refused_before_anything_runs(
        cook_env: CookEnv, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    cook_env.configure(repo={"mode": "remote", "remote_url": f"--upload-pack=touch {marker};"})
    workflow = cook_env.workflow("hello", 'name: hello\ncommands:\n  - shell: "echo hi"\n')

    for extra in ((), ("--dry-run",)):
        result = cook_env.cook(workflow, *extra)
        assert result.returncode == 2, result.stdout + result.stderr
        config = cook_env.home / "kubernetes.yaml"
        line = next(n for n, text in enumerate(config.read_text().splitlines(), 1) if "remote_url" in text)
        assert f"{config}:{line}: clusters.e2e.repo.remote_url: " in result.stderr
        assert "begins with '-', which git would read as an option" in result.stderr
    assert not marker.exists()
    assert cook_env.prodigy_objects() == [] and cook_env.runs() == []
    assert git(cook_env.repo, "branch", "--list", "prodigy-session-*").strip() == ""
    assert not (cook_env.home / "worktrees").exists()
