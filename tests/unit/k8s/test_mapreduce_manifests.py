"""The map phase's Indexed Job: pinned by golden files, and its retry rules checked one by one."""

from __future__ import annotations

from typing import Any

import pytest

from prodigy.k8s import names
from prodigy.k8s.manifests.contract import AGENT_CONTAINER
from prodigy.k8s.manifests.dry_run import render_manifests_yaml
from prodigy.k8s.manifests.inputs import JobSpecInputs
from prodigy.k8s.manifests.metadata import LABEL_PHASE
from prodigy.k8s.mapreduce.items import ENV_ITEMS_DIR, ITEMS_DIR, plan_items
from prodigy.k8s.mapreduce.manifests import (
    INFRA_RETRIES,
    IndexPolicy,
    indexed,
    items_additions,
    map_job_objects,
)
from prodigy.k8s.transport import podspec
from prodigy.k8s.transport.manifest import Chunk, ShippedFile, TransportManifest

from .conftest import assert_golden, identity, inputs

RUN_ID = "k3x9q2m7ab"
SESSION = "session-6f1c2d3e-0000-4000-8000-000000000001"
BASE = "0123456789abcdef0123456789abcdef01234567"
MR_TEXT = ("name: notes\nmode: mapreduce\nmap:\n  input: notes.json\n  max_parallel: 2\n  agent_template:\n"
           "    - shell: echo ${item}\n")


def map_inputs(**overrides: Any) -> JobSpecInputs:
    manifest = TransportManifest(base_sha=BASE, branch=f"prodigy-{SESSION}", files=(
        ShippedFile("repo.pack", 2048, "f" * 64, (Chunk("chunk-0000", 2048, "e" * 64),)),))
    plan = plan_items([{"id": 1, "title": "install"}, {"id": 4, "title": "rollback"}], [0, 1], total=2,
                      variables={"ARG": "x"})
    base = inputs(identity=identity(workflow_name="notes", phase="map", base_sha=BASE, original_branch="main"),
                  workflow_text=MR_TEXT, agent_args=("--phase", "map", "--timeout", "600"), **overrides)
    return base.with_additions(podspec.bundle_additions(RUN_ID, manifest, image="prodigy-agent:0.1.0",
                                                        pull_policy="IfNotPresent")
                               + items_additions(RUN_ID, plan))


def test_golden_map_job() -> None:
    objects = map_job_objects(map_inputs(), completions=2, parallelism=10)
    assert_golden("mapreduce-map.yaml", render_manifests_yaml(objects.in_creation_order()))


def test_golden_map_job_with_retry_policy() -> None:
    objects = map_job_objects(map_inputs(), completions=2, parallelism=1, policy=IndexPolicy(False, 5))
    assert_golden("mapreduce-map-retry.yaml", render_manifests_yaml([objects.job]))


def job_spec(policy: IndexPolicy = IndexPolicy(), completions: int = 5, parallelism: int = 3) -> dict[str, Any]:
    spec: dict[str, Any] = map_job_objects(map_inputs(), completions=completions, parallelism=parallelism,
                                           policy=policy).job["spec"]
    return spec


def test_one_index_per_item_up_to_max_parallel_at_once_created_suspended() -> None:
    spec = job_spec(completions=5, parallelism=3)
    assert (spec["completionMode"], spec["completions"], spec["parallelism"], spec["suspend"]) == \
        ("Indexed", 5, 3, True)
    assert "backoffLimit" not in spec                 # per index instead of for the whole Job
    assert job_spec(completions=2, parallelism=10)["parallelism"] == 2


def test_agent_failures_fail_their_index_at_once_infrastructure_is_retried() -> None:
    spec = job_spec()
    assert spec["backoffLimitPerIndex"] == INFRA_RETRIES
    ignore, fail_index = spec["podFailurePolicy"]["rules"]
    assert ignore == {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}
    assert fail_index["action"] == "FailIndex"
    # 143: the agent stopped by SIGTERM because its pod was deleted: counted, retried, not the item's fault.
    assert fail_index["onExitCodes"] == {"containerName": AGENT_CONTAINER, "operator": "NotIn", "values": [0, 143]}


def test_on_item_failure_retry_counts_agent_failures_against_the_attempts() -> None:
    spec = job_spec(IndexPolicy(agent_failure_fails_index=False, attempts=5))
    assert spec["backoffLimitPerIndex"] == 4
    assert [rule["action"] for rule in spec["podFailurePolicy"]["rules"]] == ["Ignore"]


def test_every_index_mounts_the_one_shipped_repository_and_the_items() -> None:
    pod = map_job_objects(map_inputs(), completions=2, parallelism=2).job["spec"]["template"]["spec"]
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    assert podspec.REPO_IN_VOLUME in volumes and "prodigy-items" in volumes
    agent = next(c for c in pod["containers"] if c["name"] == AGENT_CONTAINER)
    assert {"name": ENV_ITEMS_DIR, "value": ITEMS_DIR} in agent["env"]
    assert agent["args"][-4:] == ["--phase", "map", "--timeout", "600"]


def test_items_configmaps_are_owned_like_every_dependent_and_carry_the_phase_label() -> None:
    objects = map_job_objects(map_inputs(), completions=2, parallelism=2)
    maps = [obj for obj in objects.owned if obj["metadata"]["name"].startswith("prodigy-items-")]
    assert len(maps) == 2
    for obj in maps:
        assert obj["metadata"]["namespace"] == objects.job["metadata"]["namespace"]
        assert obj["metadata"]["labels"][LABEL_PHASE] == "map"
    assert objects.job["spec"]["template"]["metadata"]["labels"][LABEL_PHASE] == "map"


def test_map_job_names_leave_room_for_the_index_in_pod_hostnames() -> None:
    name = names.job_name("a" * 80, RUN_ID, phase="map")
    assert len(name) + len("-999999") <= names.MAX_NAME
    assert name.endswith(f"-map-{RUN_ID}")
    assert names.job_name("notes", RUN_ID, phase="setup") == f"prodigy-notes-setup-{RUN_ID}"
    assert names.job_name("notes", RUN_ID) == f"prodigy-notes-{RUN_ID}"


def test_an_indexed_job_needs_an_item() -> None:
    with pytest.raises(ValueError):
        indexed(map_job_objects(map_inputs(), completions=1, parallelism=1).job, completions=0, parallelism=1,
                policy=IndexPolicy())
