"""The agent image contract (docker/agent/contract.json) is what the Job and the pod actually use."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodigy.k8s.manifests.contract import AGENT
from tests.e2e.k8s.conftest import CookEnv

pytestmark = pytest.mark.timeout(120)

CONTRACT = Path(__file__).resolve().parents[3] / "docker" / "agent" / "contract.json"


def test_the_pod_sees_the_contract_workdir_env_and_workflow_path(cook_env: CookEnv) -> None:
    contract = json.loads(CONTRACT.read_text())
    assert contract == AGENT.to_json_dict()          # the manifests are built from the same contract
    workflow = cook_env.workflow("contract", """\
name: contract
commands:
  - shell: "echo workdir=$(cd .. && pwd)"
  - shell: "echo unbuffered=$PYTHONUNBUFFERED"
  - shell: "test -r /config/workflow.yaml && echo workflow-file-present"
  - shell: "echo mode=$PRODIGY_EXECUTION_MODE"
""")
    result = cook_env.cook(workflow, "--keep")
    assert result.returncode == 0, result.stderr
    assert f"workdir={contract['workdir']}" in result.stdout
    assert f"unbuffered={contract['env']['PYTHONUNBUFFERED']}" in result.stdout
    assert "workflow-file-present" in result.stdout and contract["workflow_path"] == "/config/workflow.yaml"
    assert "mode=kubernetes" in result.stdout
    job = cook_env.kubectl_json("get", "jobs", "-l", "app=prodigy")["items"][0]
    pod = job["spec"]["template"]["spec"]
    agent = next(c for c in pod["containers"] if c["name"] == "prodigy-agent")
    assert "command" not in agent                     # the image's ENTRYPOINT (tini) stays in charge
    assert agent["args"][:4] == [*contract["command"], contract["workflow_path"]]
    assert agent["workingDir"] == contract["workdir"]
    assert pod["securityContext"]["runAsUser"] == contract["uid"]
    assert agent["terminationMessagePath"] == contract["termination_log"]
