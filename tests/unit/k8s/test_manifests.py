from __future__ import annotations

import copy
from typing import Any

import pytest
from ruamel.yaml import YAML

from prodigy.errors import UsageError
from prodigy.k8s import names
from prodigy.k8s.manifests.additions import PodAdditions, add_init_container, add_sidecar, add_volume
from prodigy.k8s.manifests.data import build_configmap, build_secret, run_metadata
from prodigy.k8s.manifests.dry_run import render_manifests_yaml
from prodigy.k8s.manifests.inputs import JobSpecInputs
from prodigy.k8s.manifests.job import build_job
from prodigy.k8s.manifests.metadata import owned_by, run_selector
from prodigy.k8s.manifests.run import RESUME_PATCH, build_run_objects

from .conftest import SUBMITTED_AT, assert_golden, cluster, identity, inputs

EVERYTHING = """\
default_image: registry.example.com/prodigy-agent:1.0
clusters:
  kind-dev:
    kubeconfig_path: /etc/kube/config
    context: kind-dev
    namespace: prodigy-dev
    image: registry.example.com:5000/team/prodigy-agent:1.2.3
    image_pull_policy: Always
    image_pull_secrets: [regcred, other-cred]
    service_account: prodigy-runner
    resources:
      requests: {cpu: 250m, memory: 512Mi}
      limits: {cpu: 4, memory: 8Gi}
    node_selector: {kubernetes.io/arch: amd64, pool: batch}
    tolerations:
      - {key: dedicated, operator: Equal, value: prodigy, effect: NoSchedule}
    env: {LOG_LEVEL: debug, WORKERS: 4}
    secrets:
      GITHUB_TOKEN: {secret: github, key: token}
    ttl_seconds: 600
    backoff_limit: 1
    active_deadline_seconds: 7200
"""
CREDENTIALS = {"ANTHROPIC_API_KEY": "sk-ant-api03-SECRET-VALUE-1234", "CLAUDE_CODE_OAUTH_TOKEN": "oauth-SECRET-5678"}
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Alice", "GIT_AUTHOR_EMAIL": "alice@example.com",
                "GIT_COMMITTER_NAME": "Alice", "GIT_COMMITTER_EMAIL": "alice@example.com"}


def render(spec: JobSpecInputs) -> str:
    return render_manifests_yaml(build_run_objects(spec).in_creation_order())


def test_golden_defaults() -> None:
    assert_golden("defaults.yaml", render(inputs()))


def test_golden_everything_set() -> None:
    spec = inputs(
        EVERYTHING,
        identity=identity(base_sha="0123456789abcdef0123456789abcdef01234567", original_branch="feature/login"),
        credentials=CREDENTIALS,
        git_identity=GIT_IDENTITY,
        agent_args=("--args", "42"),
    )
    assert_golden("everything.yaml", render(spec))


def test_golden_keep() -> None:
    assert_golden("keep.yaml", render(inputs(cluster=cluster(keep=True), credentials={"ANTHROPIC_API_KEY": "k" * 20})))


def test_rendered_yaml_parses_back_to_the_objects_minus_secret_values() -> None:
    objects = build_run_objects(inputs(EVERYTHING, credentials=CREDENTIALS)).in_creation_order()
    parsed = list(YAML(typ="safe").load_all(render_manifests_yaml(objects)))
    assert [o["kind"] for o in parsed] == ["Job", "ConfigMap", "Secret"]
    assert parsed[:2] == objects[:2]
    assert parsed[2]["stringData"] == {"ANTHROPIC_API_KEY": "<redacted>", "CLAUDE_CODE_OAUTH_TOKEN": "<redacted>"}


def test_secret_values_never_appear_in_printed_manifests() -> None:
    text = render(inputs(EVERYTHING, credentials=CREDENTIALS))
    for value in CREDENTIALS.values():
        assert value not in text
    configmap = build_configmap(inputs(EVERYTHING, credentials=CREDENTIALS))
    assert not any(value in str(configmap) for value in CREDENTIALS.values())


def test_the_secret_object_carries_the_values_for_the_api() -> None:
    secret = build_secret(inputs(credentials=CREDENTIALS))
    assert secret is not None
    assert secret["stringData"] == CREDENTIALS
    assert build_secret(inputs()) is None


def job_of(spec: JobSpecInputs) -> dict[str, Any]:
    return build_job(spec)


def agent_of(job: dict[str, Any]) -> dict[str, Any]:
    agent: dict[str, Any] = job["spec"]["template"]["spec"]["containers"][0]
    assert agent["name"] == "prodigy-agent"
    return agent


def env_of(job: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in agent_of(job)["env"]}


def test_job_follows_the_spec_template() -> None:
    job = job_of(inputs())
    meta = job["metadata"]
    assert meta["name"] == "prodigy-implement-k3x9q2m7ab"
    assert {k: meta["labels"][k] for k in ("app", "workflow", "version")} == {
        "app": "prodigy", "workflow": "implement", "version": "0.1.0"}
    assert meta["labels"]["prodigy.io/run-id"] == "k3x9q2m7ab"
    assert meta["annotations"]["prodigy.io/submitted-at"] == "2026-11-27T09:30:00Z"
    assert meta["annotations"]["prodigy.io/workflow-file"] == "workflows/implement.yml"
    assert meta["annotations"]["prodigy.io/submitted-by"] == "alice"
    spec = job["spec"]
    assert (spec["ttlSecondsAfterFinished"], spec["backoffLimit"]) == (3600, 0)
    assert spec["template"]["spec"]["restartPolicy"] == "Never"
    agent = agent_of(job)
    assert agent["args"] == ["prodigy", "agent", "execute", "/config/workflow.yaml"]
    assert "command" not in agent  # keeps the image's tini ENTRYPOINT
    assert agent["resources"] == {"requests": {"cpu": "0.5", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}
    env = env_of(job)
    assert env["PRODIGY_EXECUTION_MODE"] == "kubernetes"
    assert env["WORKFLOW_ID"] == "k3x9q2m7ab"
    assert env["PRODIGY_SESSION_ID"] == identity().session_id
    assert env["PYTHONUNBUFFERED"] == "1"


def test_pod_template_labels_select_the_run() -> None:
    labels = job_of(inputs())["spec"]["template"]["metadata"]["labels"]
    selector = dict(part.split("=") for part in run_selector("k3x9q2m7ab").split(","))
    assert selector.items() <= labels.items()


def test_the_job_starts_suspended_and_resumes_with_the_patch() -> None:
    assert job_of(inputs())["spec"]["suspend"] is True
    assert dict(RESUME_PATCH) == {"spec": {"suspend": False}}


def test_a_failed_workflow_is_never_retried_even_with_a_backoff_limit() -> None:
    job = job_of(inputs("clusters:\n  kind-dev: {backoff_limit: 3}\n"))
    assert job["spec"]["backoffLimit"] == 3
    (rule,) = job["spec"]["podFailurePolicy"]["rules"]
    assert rule == {"action": "FailJob",
                    "onExitCodes": {"containerName": "prodigy-agent", "operator": "NotIn", "values": [0]}}


def test_keep_drops_the_ttl() -> None:
    assert "ttlSecondsAfterFinished" not in job_of(inputs(cluster=cluster(keep=True)))["spec"]


def test_pod_security_defaults() -> None:
    pod = job_of(inputs())["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 1000
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    assert "serviceAccountName" not in pod
    assert pod["enableServiceLinks"] is False
    container = pod["containers"][0]["securityContext"]
    assert container["allowPrivilegeEscalation"] is False
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert pod["containers"][0]["terminationMessagePolicy"] == "FallbackToLogsOnError"


def test_a_service_account_gets_its_token() -> None:
    pod = job_of(inputs("clusters:\n  kind-dev: {service_account: runner}\n"))["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "runner"
    assert pod["automountServiceAccountToken"] is True


def test_workflow_configmap_is_mounted_read_only_at_config_and_workspace_is_writable() -> None:
    spec = inputs()
    job = job_of(spec)
    mounts = {v["mountPath"]: v for v in agent_of(job)["volumeMounts"]}
    assert mounts["/config"] == {"name": "workflow", "mountPath": "/config", "readOnly": True}
    assert mounts["/workspace"] == {"name": "workspace", "mountPath": "/workspace"}
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["workflow"]["configMap"]["name"] == spec.names.configmap
    assert volumes["workspace"] == {"name": "workspace", "emptyDir": {}}
    configmap = build_configmap(spec)
    assert configmap["data"]["workflow.yaml"] == spec.workflow_text
    assert configmap["metadata"]["name"] == "prodigy-workflow-k3x9q2m7ab"


def test_credentials_and_cluster_secrets_are_references_not_values() -> None:
    job = job_of(inputs(EVERYTHING, credentials=CREDENTIALS))
    env = env_of(job)
    assert env["ANTHROPIC_API_KEY"] == {"secretKeyRef": {"name": "prodigy-secrets-k3x9q2m7ab", "key": "ANTHROPIC_API_KEY"}}
    assert env["GITHUB_TOKEN"] == {"secretKeyRef": {"name": "github", "key": "token"}}
    assert env["LOG_LEVEL"] == "debug"


def test_git_identity_is_forwarded() -> None:
    env = env_of(job_of(inputs(git_identity={**GIT_IDENTITY, "UNRELATED": "x"})))
    assert {k: env[k] for k in GIT_IDENTITY} == GIT_IDENTITY
    assert "UNRELATED" not in env


def test_run_metadata_and_optional_annotations() -> None:
    spec = inputs(identity=identity(base_sha="abc123", original_branch="main"))
    annotations = job_of(spec)["metadata"]["annotations"]
    assert annotations["prodigy.io/base-sha"] == "abc123"
    assert annotations["prodigy.io/original-branch"] == "main"
    assert "prodigy.io/base-sha" not in job_of(inputs())["metadata"]["annotations"]
    assert run_metadata(spec)["job"] == spec.names.job


def test_all_generated_names_are_valid_for_a_long_workflow_name() -> None:
    spec = inputs(identity=identity(workflow_name="A" * 200 + " very long workflow name"))
    objects = build_run_objects(spec).in_creation_order()
    for obj in objects:
        assert names.is_dns1123_label(obj["metadata"]["name"])
        assert all(names.is_label_value(v) for v in obj["metadata"]["labels"].values())


def test_naive_timestamps_are_refused() -> None:
    with pytest.raises(ValueError):
        build_job(inputs(identity=identity(submitted_at=SUBMITTED_AT.replace(tzinfo=None))))


def test_oversized_workflow_is_rejected_before_submission() -> None:
    with pytest.raises(UsageError) as info:
        build_configmap(inputs(workflow_text="x" * (1024 * 1024)))
    assert info.value.message.startswith("workflows/implement.yml: the workflow file is")


# --- ownership and composition --------------------------------------------------------------

def test_owned_by_adds_one_owner_reference_without_mutating() -> None:
    configmap = build_configmap(inputs())
    before = copy.deepcopy(configmap)
    owned = owned_by(configmap, "prodigy-implement-k3x9q2m7ab", "uid-1")
    assert configmap == before
    assert owned["metadata"]["ownerReferences"] == [
        {"apiVersion": "batch/v1", "kind": "Job", "name": "prodigy-implement-k3x9q2m7ab", "uid": "uid-1"}]
    assert owned_by(owned, "prodigy-implement-k3x9q2m7ab", "uid-1")["metadata"]["ownerReferences"] == \
        owned["metadata"]["ownerReferences"]


def test_additions_extend_the_pod_and_the_owned_objects() -> None:
    bundle_cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "prodigy-bundle-k3x9q2m7ab-0"},
                 "binaryData": {"chunk-0000": "AAAA"}}
    additions = PodAdditions(
        volumes=({"name": "bundle", "configMap": {"name": "prodigy-bundle-k3x9q2m7ab-0"}},),
        agent_volume_mounts=({"name": "bundle", "mountPath": "/bundle", "readOnly": True},),
        init_containers=({"name": "checkout", "image": "prodigy-agent:dev", "args": ["prodigy", "agent", "checkout"]},),
        agent_env=({"name": "PRODIGY_REPO", "value": "/workspace/repo"},),
        config_maps=(bundle_cm,),
    )
    spec = inputs().with_additions(additions)
    objects = build_run_objects(spec)
    pod = objects.job["spec"]["template"]["spec"]
    assert [v["name"] for v in pod["volumes"]] == ["workflow", "workspace", "bundle"]
    assert [c["name"] for c in pod["initContainers"]] == ["checkout"]
    assert agent_of(objects.job)["volumeMounts"][-1]["mountPath"] == "/bundle"
    assert env_of(objects.job)["PRODIGY_REPO"] == "/workspace/repo"
    assert [o["metadata"]["name"] for o in objects.owned] == ["prodigy-workflow-k3x9q2m7ab", "prodigy-bundle-k3x9q2m7ab-0"]
    assert objects.owned[1]["metadata"]["labels"]["prodigy.io/run-id"] == "k3x9q2m7ab"
    assert "labels" not in bundle_cm["metadata"]  # the caller's object is not mutated


def test_duplicate_additions_are_refused() -> None:
    job = build_job(inputs())
    with pytest.raises(ValueError, match="duplicate volume 'workspace'"):
        add_volume(job, {"name": "workspace", "emptyDir": {}})
    with pytest.raises(ValueError, match="duplicate volume mount '/config'"):
        add_volume(job, {"name": "other", "emptyDir": {}}, mount={"name": "other", "mountPath": "/config"})


def test_add_helpers_return_new_objects() -> None:
    job = build_job(inputs())
    before = copy.deepcopy(job)
    grown = add_sidecar(add_init_container(job, {"name": "init"}), {"name": "side"})
    assert job == before
    assert [c["name"] for c in grown["spec"]["template"]["spec"]["containers"]] == ["prodigy-agent", "side"]
