"""What the transport adds to the Job: pure dicts, checked the way the API server would see them."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from prodigy.k8s.manifests.contract import AGENT_CONTAINER
from prodigy.k8s.manifests.run import build_run_objects
from prodigy.k8s.transport import podspec
from prodigy.k8s.transport.cluster_io import chunk_configmaps
from prodigy.k8s.transport.run import git_identity
from prodigy.k8s.transport.spool import spool_commit

from ..k8s.conftest import inputs
from .conftest import commit_all, run_git

RUN_ID = "k3x9q2m7ab"


def pod_of(job: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = job["spec"]["template"]["spec"]
    return pod


def test_bundle_mode_pod_has_repo_init_container_results_container_and_chunk_volume(
        user_repo: Path, tmp_path: Path) -> None:
    (user_repo / "noise.bin").write_bytes(os.urandom(100 * 1024))
    base = commit_all(user_repo, "noise")
    manifest = spool_commit(user_repo, base, "prodigy-session-x", tmp_path / "spool", max_bytes=1 << 26,
                            chunk_bytes=40 * 1024)
    additions = podspec.bundle_additions(RUN_ID, manifest, image="prodigy-agent:1", pull_policy="IfNotPresent")
    job = build_run_objects(inputs(additions=additions)).job
    pod = pod_of(job)

    init = {c["name"]: c for c in pod["initContainers"]}[podspec.INIT_CONTAINER]
    assert init["args"][:3] == ["prodigy", "agent", "fetch-repo"]
    names = [c["name"] for c in pod["containers"]]
    assert names == [AGENT_CONTAINER, podspec.RESULTS_CONTAINER]
    volume = {v["name"]: v for v in pod["volumes"]}[podspec.REPO_IN_VOLUME]
    projected = [s["configMap"]["name"] for s in volume["projected"]["sources"]]
    assert projected == [podspec.manifest_configmap_name(RUN_ID)] + [
        podspec.chunk_configmap_name(RUN_ID, i) for i in range(len(manifest.chunks))]
    agent_env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert agent_env[podspec.ENV_BASE_SHA] == base
    assert agent_env[podspec.ENV_REPO_DIR] == podspec.REPO_DIR
    # The agent's exit code alone decides the Job: the pod failure policy names the agent container.
    assert job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["containerName"] == AGENT_CONTAINER

    created = list(chunk_configmaps(RUN_ID, "ns", {"app": "prodigy"}, manifest, tmp_path / "spool"))
    assert [c["metadata"]["name"] for c in created] == projected
    assert all(c["immutable"] for c in created)
    assert max(len(c.get("binaryData", {}).get("chunk", "")) for c in created) < 1024 * 1024


def test_remote_mode_credentials_reach_only_the_clone_and_push_containers() -> None:
    source = podspec.RemoteSource("https://git.example.com/org/repo.git", "git-creds", "refs/heads/main")
    additions = podspec.remote_additions(source, base_sha="a" * 40, branch="prodigy-session-x",
                                         image="prodigy-agent:1", pull_policy="IfNotPresent")
    pod = pod_of(build_run_objects(inputs(additions=additions)).job)

    def mounts(container: dict[str, Any]) -> set[str]:
        return {v["name"] for v in container.get("volumeMounts", [])}

    containers = {c["name"]: c for c in pod["containers"] + pod["initContainers"]}
    assert podspec.CREDENTIALS_VOLUME in mounts(containers[podspec.INIT_CONTAINER])
    assert podspec.CREDENTIALS_VOLUME in mounts(containers[podspec.RESULTS_CONTAINER])
    assert podspec.CREDENTIALS_VOLUME not in mounts(containers[AGENT_CONTAINER])
    secret_volume = {v["name"]: v for v in pod["volumes"]}[podspec.CREDENTIALS_VOLUME]
    assert secret_volume["secret"]["secretName"] == "git-creds"
    assert all("git-creds" not in str(e) for c in containers.values() for e in c.get("env", []))


def test_results_container_mounts_the_workspace_read_only() -> None:
    source = podspec.RemoteSource("file:///srv/repo.git", None)
    additions = podspec.remote_additions(source, base_sha="a" * 40, branch="b", image="i:1", pull_policy="Never")
    results = additions.sidecars[0]
    assert all(mnt.get("readOnly") for mnt in results["volumeMounts"])


def test_pod_commits_get_the_identity_a_local_commit_would_get(user_repo: Path) -> None:
    run_git(user_repo, "config", "user.name", "Repo Local")
    run_git(user_repo, "config", "user.email", "local@example.com")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_AUTHOR", "GIT_COMMITTER"))}
    env["GIT_COMMITTER_NAME"] = "Env Committer"

    identity = git_identity(user_repo, env)

    assert identity == {"GIT_AUTHOR_NAME": "Repo Local", "GIT_AUTHOR_EMAIL": "local@example.com",
                        "GIT_COMMITTER_NAME": "Env Committer", "GIT_COMMITTER_EMAIL": "local@example.com"}


def test_every_container_prodigy_adds_has_requests_and_limits_small_by_default_and_configurable() -> None:
    source = podspec.RemoteSource("https://git.example.com/org/repo.git", None, "refs/heads/main")
    default = pod_of(build_run_objects(inputs(additions=podspec.remote_additions(
        source, base_sha="a" * 40, branch="b", image="i:1", pull_policy="Never"))).job)
    for container in [*default["initContainers"], *default["containers"]]:
        # A ResourceQuota on requests.* and limits.* refuses a pod with any container lacking one.
        for kind in ("requests", "limits"):
            assert set(container["resources"][kind]) == {"cpu", "memory"}, (container["name"], kind)
    plumbing = [c for c in [*default["initContainers"], *default["containers"]] if c["name"] != AGENT_CONTAINER]
    assert {c["name"] for c in plumbing} == {podspec.INIT_CONTAINER, podspec.RESULTS_CONTAINER}
    assert all(c["resources"] == {"requests": {"cpu": "50m", "memory": "64Mi"},
                                  "limits": {"cpu": "500m", "memory": "512Mi"}} for c in plumbing)

    configured = {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}}
    pod = pod_of(build_run_objects(inputs(additions=podspec.remote_additions(
        source, base_sha="a" * 40, branch="b", image="i:1", pull_policy="Never", resources=configured))).job)
    assert [c["resources"] for c in [*pod["initContainers"], *pod["containers"]] if c["name"] != AGENT_CONTAINER] \
        == [configured, configured]


def test_the_pods_plumbing_processes_load_no_configuration_models() -> None:
    """fetch-repo and emit-results start in every pod (one per item in a map Job): they must
    not pay for pydantic and the cluster configuration models."""
    import subprocess
    import sys

    from prodigy.k8s.manifests.contract import AGENT
    from prodigy.k8s.transport import podenv

    assert podenv.WORKDIR == AGENT.workdir
    code = "import sys, prodigy.cli.agent_transport, prodigy.k8s.transport.pod; print('pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
