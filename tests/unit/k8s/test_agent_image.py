"""The agent image, its contract file and the Job manifests must describe the same container."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from prodigy.k8s.manifests.contract import AGENT
from prodigy.k8s.manifests.job import build_job

from .conftest import inputs

ROOT = Path(__file__).resolve().parents[3]
DOCKERFILE = ROOT / "docker" / "agent" / "Dockerfile"
CONTRACT = ROOT / "docker" / "agent" / "contract.json"


def final_stage_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile's last stage, continuation lines joined."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    stages: list[list[tuple[str, str]]] = []
    for line in logical:
        word, _, rest = line.partition(" ")
        if word.upper() == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word.upper(), rest.strip()))
    return stages[-1]


def last(instruction: str) -> str:
    values = [args for word, args in final_stage_instructions() if word == instruction]
    assert values, f"the final stage of {DOCKERFILE} has no {instruction}"
    return values[-1]


def image_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, args in final_stage_instructions():
        if word == "ENV":
            for pair in shlex.split(args):
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def test_contract_file_matches_what_the_manifests_use() -> None:
    assert json.loads(CONTRACT.read_text()) == AGENT.to_json_dict()


def test_dockerfile_implements_the_contract() -> None:
    contract = json.loads(CONTRACT.read_text())
    assert json.loads(last("ENTRYPOINT")) == contract["entrypoint"]
    assert json.loads(last("CMD")) == [*contract["command"], contract["workflow_path"]]
    assert last("WORKDIR") == contract["workdir"]
    uid, _, gid = last("USER").partition(":")
    assert (int(uid), int(gid or uid)) == (contract["uid"], contract["gid"])
    env = image_env()
    for key, value in contract["env"].items():
        assert env.get(key) == value, f"Dockerfile ENV {key} should be {value!r}"
    run_lines = " ".join(args for word, args in final_stage_instructions() if word == "RUN")
    assert f"--uid {contract['uid']}" in run_lines and contract["user"] in run_lines
    assert "tini" in run_lines and "git" in run_lines


def test_job_container_runs_the_contract_command_under_the_image_entrypoint() -> None:
    job = build_job(inputs())
    pod = job["spec"]["template"]["spec"]
    agent = pod["containers"][0]
    contract = json.loads(CONTRACT.read_text())
    assert "command" not in agent  # a command would replace the ENTRYPOINT (tini)
    assert agent["args"][: len(contract["command"]) + 1] == [*contract["command"], contract["workflow_path"]]
    assert agent["workingDir"] == contract["workdir"]
    assert agent["terminationMessagePath"] == contract["termination_log"]
    assert pod["securityContext"]["runAsUser"] == contract["uid"]
    assert pod["securityContext"]["runAsGroup"] == contract["gid"]
    env = {e["name"]: e.get("value") for e in agent["env"]}
    assert {k: env[k] for k in contract["env"]} == contract["env"]
    mounts = {v["mountPath"] for v in agent["volumeMounts"]}
    assert {contract["config_dir"], contract["workdir"]} <= mounts
