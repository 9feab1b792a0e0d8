"""Parity: the same workflow, from the same commit, run locally and on the test cluster.

Each side gets its own clone of one template repository (so both start from the same base
commit id), its own PRODIGY_HOME and its own fake `claude` call log. How the cluster side reaches
the fake `claude`: on a real node the Job runs the test image (the agent image with
testing/fake_claude first on PATH) and the cluster entry's `env:` carries the scenario itself
(FAKE_CLAUDE_SCENARIO_JSON) and a call log inside the pod; the process node agent runs pods as
host processes, so there `env:` puts testing/fake_claude first on the pod's PATH and names the
host's scenario file and call log.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testing import cluster as clusters
from testing.repos import FAKE_CLAUDE_DIR, FakeClaude, git, make_repo
from testing.waiting import eventually

PRODIGY = Path(sys.executable).parent / "prodigy"
SESSION_ID = re.compile(r"session-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
APP_SELECTOR = "app=prodigy"
# Where the fake `claude` logs its calls inside a pod of a real node (the pod's own /tmp).
POD_CALL_LOG = "/tmp/fake-claude-calls.jsonl"


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    repo: Path
    home: Path
    base: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def history(self, ref: str) -> list[str]:
        """What a user compares: author, committer, subject and tree of every commit after the base."""
        out = git(self.repo, "log", "--reverse", "--format=%an <%ae>|%cn <%ce>|%s|%T", f"{self.base}..{ref}")
        # Session ids differ between the two runs by design (the merge commit names its session).
        return [SESSION_ID.sub("session-<id>", line) for line in out.splitlines()]

    def session_branch(self) -> str:
        names = git(self.repo, "branch", "--format=%(refname:short)", "--list", "prodigy-session-*").split()
        assert len(names) == 1, names
        return names[0]

    def tree(self, ref: str) -> str:
        return git(self.repo, "rev-parse", f"{ref}^{{tree}}").strip()


@dataclass(frozen=True)
class Prepared:
    repo: Path
    home: Path
    env: dict[str, str]
    command: list[str]
    base: str


@dataclass
class Parity:
    cluster: clusters.KubeCluster
    namespace: str
    root: Path
    template: Path

    def run_both(self, workflow: str, *, scenario: Sequence[Mapping[str, Any]] = (),
                 repo_entry: Mapping[str, Any] | None = None, args: Sequence[str] = ("-y",),
                 timeout: float = 180) -> tuple[Outcome, Outcome]:
        return (self.run("local", workflow, scenario=scenario, args=args, timeout=timeout),
                self.run("cluster", workflow, scenario=scenario, args=args, repo_entry=repo_entry, timeout=timeout))

    def run(self, side: str, workflow: str, *, scenario: Sequence[Mapping[str, Any]] = (),
            args: Sequence[str] = ("-y",), repo_entry: Mapping[str, Any] | None = None,
            timeout: float = 180) -> Outcome:
        prepared = self.prepare(side, workflow, scenario=scenario, args=args, repo_entry=repo_entry)
        proc = subprocess.run(prepared.command, cwd=prepared.repo, env=prepared.env, capture_output=True, text=True,
                              timeout=timeout, check=False)
        return Outcome(proc.returncode, proc.stdout, proc.stderr, prepared.repo, prepared.home, prepared.base)

    def prepare(self, side: str, workflow: str, *, scenario: Sequence[Mapping[str, Any]] = (),
                args: Sequence[str] = ("-y",), repo_entry: Mapping[str, Any] | None = None) -> Prepared:
        """A clone, a PRODIGY_HOME, a fake `claude` and the `prodigy cook` command line for one side."""
        where = self.root / side
        repo = where / "repo"
        git(self.root, "clone", "-q", str(self.template), str(repo))
        home = where / "home"
        home.mkdir(parents=True)
        fake = FakeClaude(where / "fake-claude")
        fake.scenario(list(scenario))
        (repo / "wf.yml").write_text(workflow)
        env = fake.env({k: v for k, v in os.environ.items() if k not in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")})
        env.update({"PRODIGY_HOME": str(home), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "TERM": "dumb"})
        command = [str(PRODIGY), "cook", "wf.yml", *args]
        if side == "cluster":
            self._configure(home, fake, repo_entry)
            env["KUBECONFIG"] = str(self.cluster.kubeconfig)
            command += ["--cluster", "parity"]
        return Prepared(repo, home, env, command, git(repo, "rev-parse", "HEAD").strip())

    def pod_phases(self) -> list[str]:
        listing = json.loads(self.cluster.kubectl("-n", self.namespace, "get", "pods", "-l", APP_SELECTOR,
                                                  "-o", "json").stdout)
        return [item.get("status", {}).get("phase", "") for item in listing.get("items", [])]

    def wait_until(self, condition: Callable[[], bool], *, timeout: float, what: str) -> None:
        eventually(condition, timeout=timeout, what=what)

    def _configure(self, home: Path, fake: FakeClaude, repo_entry: Mapping[str, Any] | None) -> None:
        if self.cluster.node_kind == "process":
            pod_path = os.pathsep.join([str(FAKE_CLAUDE_DIR), str(Path(sys.executable).parent), "/usr/local/bin",
                                        "/usr/bin", "/bin"])
            env = {"PATH": pod_path, "FAKE_CLAUDE_SCENARIO": str(fake.scenario_file),
                   "FAKE_CLAUDE_LOG": str(fake.log_file)}
        else:
            env = {"FAKE_CLAUDE_SCENARIO_JSON": fake.scenario_file.read_text(), "FAKE_CLAUDE_LOG": POD_CALL_LOG}
        entry: dict[str, Any] = {
            "kubeconfig_path": str(self.cluster.kubeconfig), "context": self.cluster.admin_context,
            "namespace": self.namespace, "image": self.cluster.test_image, "env": env,
        }
        if repo_entry is not None:
            entry["repo"] = dict(repo_entry)
        (home / "kubernetes.yaml").write_text(json.dumps({"clusters": {"parity": entry}}, indent=2))

    def prodigy_objects(self) -> list[str]:
        names = []
        for kind in ("jobs", "pods", "configmaps", "secrets"):
            listing = json.loads(self.cluster.kubectl("-n", self.namespace, "get", kind, "-l", APP_SELECTOR,
                                                      "-o", "json").stdout)
            names += [f"{kind}/{item['metadata']['name']}" for item in listing.get("items", [])]
        return names


@pytest.fixture
def parity(kube_cluster: clusters.KubeCluster, kube_namespace: str, tmp_path: Path) -> Parity:
    return _parity(kube_cluster, kube_namespace, tmp_path)


@pytest.fixture
def parity_on_process_node(process_cluster: clusters.KubeCluster, process_namespace: str, tmp_path: Path) -> Parity:
    """Parity on the process node agent, for tests whose pods must reach the test machine's files."""
    return _parity(process_cluster, process_namespace, tmp_path)


def _parity(kube_cluster: clusters.KubeCluster, kube_namespace: str, tmp_path: Path) -> Parity:
    template = make_repo(tmp_path / "template", {"README.md": "# project\n", "src/app.txt": "v1\n",
                                                 "src/old_name.txt": "to be renamed\n", "doomed.txt": "bye\n"})
    tool = template / "tool.sh"
    tool.write_text("#!/bin/sh\necho tool\n")
    tool.chmod(0o755)
    os.symlink("README.md", template / "readme-link")
    git(template, "add", "-A")
    git(template, "commit", "-q", "-m", "modes and links")
    return Parity(kube_cluster, kube_namespace, tmp_path, template)
