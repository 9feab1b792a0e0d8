"""Fixtures for `prodigy cook --cluster` end-to-end tests on the real test control plane.

Every test runs the real CLI (``.venv/bin/prodigy``) as a subprocess, so signals, exit codes,
stdout/stderr separation and the process's own imports are exactly what a user gets. Each
test has its own PRODIGY_HOME (with a kubernetes.yaml pointing at its own namespace) and its
own git repository to run from.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from testing import cluster as clusters
from testing.repos import make_repo
from testing.waiting import eventually

PRODIGY = Path(sys.executable).parent / "prodigy"
APP_SELECTOR = "app=prodigy"


@dataclass
class CookEnv:
    """One test's world: a cluster namespace, a config file, a repository, an environment."""

    cluster: clusters.KubeCluster
    namespace: str
    home: Path
    repo: Path
    env: dict[str, str]
    cluster_name: str = "e2e"
    entries: dict[str, dict[str, Any]] = field(default_factory=dict)

    # --- configuration ----------------------------------------------------------------------

    def configure(self, **entry: Any) -> None:
        """(Re)write kubernetes.yaml with this cluster's entry plus ``entry`` overrides."""
        base: dict[str, Any] = {"kubeconfig_path": str(self.cluster.kubeconfig), "context": self.cluster.admin_context,
                                "namespace": self.namespace, "image": self.cluster.test_image,
                                "image_pull_grace_seconds": 120, "unschedulable_grace_seconds": 300}
        self.entries[self.cluster_name] = {**base, **entry}
        self._write()

    def add_cluster(self, name: str, entry: dict[str, Any]) -> None:
        self.entries[name] = entry
        self._write()

    def _write(self) -> None:
        # JSON is YAML: no quoting surprises in paths or images.
        (self.home / "kubernetes.yaml").write_text(json.dumps({"clusters": self.entries}, indent=2))

    def workflow(self, name: str, text: str) -> Path:
        path = self.repo / f"{name}.yaml"
        path.write_text(text)
        return path

    # --- running the CLI -----------------------------------------------------------------------

    def cook_args(self, workflow: Path, *extra: str, cluster: str | None = None) -> list[str]:
        return [str(PRODIGY), "cook", str(workflow), "--cluster", cluster or self.cluster_name, *extra]

    def run(self, args: list[str], *, timeout: float = 120, env: Mapping[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=self.repo, env={**self.env, **(env or {})}, capture_output=True,
                              text=True, timeout=timeout, check=False)

    def cook(self, workflow: Path, *extra: str, timeout: float = 120, cluster: str | None = None,
             env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return self.run(self.cook_args(workflow, *extra, cluster=cluster), timeout=timeout, env=env)

    def popen(self, args: list[str], env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
        return subprocess.Popen(args, cwd=self.repo, env={**self.env, **(env or {})}, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, bufsize=1)

    # --- looking at the cluster ----------------------------------------------------------------

    def kubectl_json(self, *args: str) -> dict[str, Any]:
        result = self.cluster.kubectl("-n", self.namespace, *args, "-o", "json")
        return dict(json.loads(result.stdout))

    def prodigy_objects(self) -> list[str]:
        """Every Job, pod, ConfigMap and Secret of prodigy runs left in the namespace."""
        names = []
        for kind in ("jobs", "pods", "configmaps", "secrets"):
            # Pods carry the run labels from the template; ConfigMaps/Secrets from the builders.
            listing = self.kubectl_json("get", kind, "-l", APP_SELECTOR)
            names += [f"{kind}/{item['metadata']['name']}" for item in listing.get("items", [])]
        return names

    def wait_until(self, condition: Callable[[], bool], *, timeout: float, what: str) -> None:
        eventually(condition, timeout=timeout, what=what)

    def runs(self) -> list[dict[str, Any]]:
        path = self.home / "runs.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def make_env(cluster: clusters.KubeCluster, namespace: str, tmp_path: Path) -> CookEnv:
    home = tmp_path / "prodigy-home"
    home.mkdir()
    repo = make_repo(tmp_path / "repo")
    env = {k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")}
    env.update({"PRODIGY_HOME": str(home), "KUBECONFIG": str(cluster.kubeconfig), "PYTHONUNBUFFERED": "1",
                "NO_COLOR": "1", "TERM": "dumb"})
    cook_env = CookEnv(cluster, namespace, home, repo, env)
    cook_env.configure()
    return cook_env


@pytest.fixture
def cook_env(kube_cluster: clusters.KubeCluster, kube_namespace: str, tmp_path: Path) -> Iterator[CookEnv]:
    yield make_env(kube_cluster, kube_namespace, tmp_path)


@pytest.fixture
def cook_env_on_process_node(process_cluster: clusters.KubeCluster, process_namespace: str,
                             tmp_path: Path) -> Iterator[CookEnv]:
    """A CookEnv on the process node agent, for tests whose pods must see this machine's files
    (a step waiting for a marker the test creates) or an image only the process node maps.
    Each such test says why."""
    yield make_env(process_cluster, process_namespace, tmp_path)


MULTI_STEP = """\
name: multi-step
commands:
  - shell: "echo step-one-output"
  - shell: "for i in 1 2 3; do echo line-$i; done"
  - shell: "echo step-three-output"
"""
