"""Spec 97: several clusters in one config, image per cluster, --image overrides; --dry-run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from testing import cluster as clusters
from tests.e2e.k8s.conftest import CookEnv

pytestmark = pytest.mark.timeout(240)

HELLO = 'name: hello\ncommands:\n  - shell: "echo hi from $HOSTNAME"\n'


def _job_images(cluster: clusters.KubeCluster, namespace: str) -> list[str]:
    listing = json.loads(cluster.kubectl("-n", namespace, "get", "jobs", "-l", "app=prodigy", "-o", "json").stdout)
    return [job["spec"]["template"]["spec"]["containers"][0]["image"] for job in listing["items"]]


def test_two_clusters_each_get_their_own_runs_with_their_own_image(
        cook_env: CookEnv, second_kube_cluster: clusters.KubeCluster) -> None:
    other_namespace = second_kube_cluster.create_namespace("second-cluster")
    # A real node has only the images loaded into it (as with `kind load docker-image`).
    cook_env.cluster.tag_image(cook_env.cluster.test_image, "prodigy-agent:first")
    second_kube_cluster.tag_image(second_kube_cluster.test_image, "prodigy-agent:second", "prodigy-agent:override")
    try:
        cook_env.configure(image="prodigy-agent:first")
        cook_env.add_cluster("second", {"kubeconfig_path": str(second_kube_cluster.kubeconfig),
                                        "context": second_kube_cluster.admin_context,
                                        "namespace": other_namespace, "image": "prodigy-agent:second"})
        workflow = cook_env.workflow("hello", HELLO)

        first = cook_env.cook(workflow, "--keep")
        second = cook_env.cook(workflow, "--keep", cluster="second")
        override = cook_env.cook(workflow, "--keep", "--image", "prodigy-agent:override", cluster="second")

        assert (first.returncode, second.returncode, override.returncode) == (0, 0, 0), second.stderr
        assert _job_images(cook_env.cluster, cook_env.namespace) == ["prodigy-agent:first"]
        assert sorted(_job_images(second_kube_cluster, other_namespace)) == ["prodigy-agent:override",
                                                                               "prodigy-agent:second"]
        by_cluster = [(r["cluster"], r["image"]) for r in cook_env.runs() if r["event"] == "submitted"]
        assert by_cluster == [("e2e", "prodigy-agent:first"), ("second", "prodigy-agent:second"),
                              ("second", "prodigy-agent:override")]
    finally:
        second_kube_cluster.delete_namespace(other_namespace)


def test_dry_run_prints_the_exact_yaml_without_secrets_and_contacts_no_cluster(
        cook_env: CookEnv, tmp_path: Path) -> None:
    # The kubeconfig's server is unreachable: a dry run must not need it.
    cook_env.configure(kubeconfig_path=str(tmp_path / "does-not-exist"), context="nowhere",
                       secrets={"GITHUB_TOKEN": {"secret": "gh", "key": "token"}})
    secret = "sk-ant-dry-run-secret-value"
    result = cook_env.cook(cook_env.workflow("hello", HELLO), "--dry-run", env={"ANTHROPIC_API_KEY": secret})
    assert result.returncode == 0, result.stderr
    import yaml  # type: ignore[import-untyped]

    documents = list(yaml.safe_load_all(result.stdout))
    kinds = [d["kind"] for d in documents if d.get("kind") in ("Job", "ConfigMap", "Secret")]
    assert kinds[0] == "Job" and "ConfigMap" in kinds and "Secret" in kinds
    assert secret not in result.stdout + result.stderr
    secret_doc = next(d for d in documents if d.get("kind") == "Secret")
    assert set(secret_doc["stringData"]) == {"ANTHROPIC_API_KEY"}
    job = documents[0]
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == cook_env.cluster.test_image
    assert {"name": "GITHUB_TOKEN", "valueFrom": {"secretKeyRef": {"name": "gh", "key": "token"}}} in container["env"]
    assert cook_env.runs() == [] and cook_env.prodigy_objects() == []
