"""Workflow `secrets:` never travel in a ConfigMap: the shipped text has `<redacted>`, the run's
Secret has the values, `--dry-run` shows neither (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodigy.errors import UsageError
from prodigy.k8s.manifests.dry_run import render_manifests_yaml
from prodigy.k8s.manifests.run import build_run_objects
from prodigy.k8s.shipped_workflow import PLACEHOLDER, SECRETS_ENV, restore_secrets, ship_workflow
from prodigy.workflow.loader import parse_workflow

from .conftest import inputs

TOKEN = "ghp_workflowSecretValue123"
WORKFLOW = f"""\
name: deploy
# the token below is for the staging API
env:
  STAGE: staging
secrets:
  API_TOKEN: "{TOKEN}"
  DB_PASSWORD: hunter2-but-longer
commands:
  - shell: 'curl -H "Authorization: $API_TOKEN" https://api.example.com/$STAGE'
  - claude: /prodigy-deploy
"""


def ship(text: str, name: str = "deploy.yml") -> tuple[str, dict[str, str]]:
    loaded = parse_workflow(text, Path(name))
    shipped = ship_workflow(text, loaded.workflow, source=name)
    return shipped.text, dict(shipped.secret_env)


def test_secret_values_leave_the_text_and_travel_in_the_secret() -> None:
    text, secret_env = ship(WORKFLOW)

    assert TOKEN not in text and "hunter2-but-longer" not in text
    assert "# the token below is for the staging API" in text        # the rest is the file as written
    assert 'curl -H "Authorization: $API_TOKEN"' in text
    assert json.loads(secret_env[SECRETS_ENV]) == {"API_TOKEN": TOKEN, "DB_PASSWORD": "hunter2-but-longer"}
    shipped = parse_workflow(text, Path("workflow.yaml")).workflow
    assert shipped.secrets == {"API_TOKEN": PLACEHOLDER, "DB_PASSWORD": PLACEHOLDER}
    assert restore_secrets(shipped, secret_env).secrets == {"API_TOKEN": TOKEN, "DB_PASSWORD": "hunter2-but-longer"}
    assert restore_secrets(shipped, {}).secrets == shipped.secrets


def test_no_configmap_and_no_dry_run_output_holds_a_secret_value() -> None:
    text, secret_env = ship(WORKFLOW)
    objects = build_run_objects(inputs(workflow_text=text, credentials={"ANTHROPIC_API_KEY": "sk-ant-local-key",
                                                                          **secret_env}))

    configmaps = [obj for obj in objects.owned if obj["kind"] == "ConfigMap"]
    assert configmaps and all(TOKEN not in json.dumps(obj) for obj in configmaps)
    secret = next(obj for obj in objects.owned if obj["kind"] == "Secret")
    assert set(secret["stringData"]) == {"ANTHROPIC_API_KEY", SECRETS_ENV}
    agent_env = objects.job["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": SECRETS_ENV, "valueFrom": {"secretKeyRef": {"name": secret["metadata"]["name"],
                                                                "key": SECRETS_ENV}}} in agent_env
    rendered = render_manifests_yaml(objects.in_creation_order())
    assert TOKEN not in rendered and "hunter2-but-longer" not in rendered and "sk-ant-local-key" not in rendered


def test_a_workflow_without_secrets_ships_byte_for_byte() -> None:
    text = "- shell: echo hi   # unusual   spacing\n"
    assert ship(text, "wf.yml") == (text, {})


def test_json_workflows_ship_without_their_secrets() -> None:
    source = json.dumps({"secrets": {"API_TOKEN": TOKEN}, "commands": [{"shell": "echo $API_TOKEN"}]})
    text, secret_env = ship(source, "wf.json")
    assert TOKEN not in text and json.loads(secret_env[SECRETS_ENV]) == {"API_TOKEN": TOKEN}
    assert parse_workflow(text, Path("workflow.yaml")).workflow.steps[0].command == "echo $API_TOKEN"


@pytest.mark.parametrize(("text", "line"), [
    (f"secrets:\n  API_TOKEN: {TOKEN}\ncommands:\n  - shell: \"curl -H 'X: {TOKEN}' https://x\"\n", 4),
    (f"secrets:\n  API_TOKEN: {TOKEN}\n# old token: {TOKEN}\ncommands:\n  - shell: echo\n", 3),
])
def test_a_secret_value_copied_elsewhere_is_refused_with_its_line(text: str, line: int) -> None:
    with pytest.raises(UsageError) as caught:
        ship(text, "wf.yml")
    assert caught.value.message.startswith(f"wf.yml:{line}: the value of secret API_TOKEN also appears outside")
    assert TOKEN not in caught.value.message and "$API_TOKEN" in (caught.value.hint or "")


def test_a_yaml_alias_of_a_secret_is_refused() -> None:
    text = f"secrets:\n  API_TOKEN: &token {TOKEN}\nenv:\n  COPY: *token\ncommands:\n  - shell: echo\n"
    with pytest.raises(UsageError, match="the value of secret API_TOKEN also appears outside"):
        ship(text, "wf.yml")


def test_a_forwarded_credential_written_in_the_workflow_is_refused() -> None:
    text = "env:\n  ANTHROPIC_API_KEY: sk-ant-written-in-the-file\ncommands:\n  - shell: echo\n"
    loaded = parse_workflow(text, Path("wf.yml"))
    with pytest.raises(UsageError) as caught:
        ship_workflow(text, loaded.workflow, source="wf.yml",
                      credentials={"ANTHROPIC_API_KEY": "sk-ant-written-in-the-file"})
    assert caught.value.message.startswith("wf.yml:2: the value of ANTHROPIC_API_KEY, which this run forwards")
    assert "sk-ant-written-in-the-file" not in caught.value.message
    assert ship_workflow(text, loaded.workflow, source="wf.yml", credentials={"ANTHROPIC_API_KEY": "other-key"}).text \
        == text
