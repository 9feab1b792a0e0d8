"""Builders shared by the k8s unit tests: literal inputs, no cluster, no clock."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from prodigy.k8s.config.loader import parse_kubernetes_config
from prodigy.k8s.config.resolve import ClusterOverrides, ResolvedCluster, resolve_cluster
from prodigy.k8s.config.schema import KubernetesConfig
from prodigy.k8s.manifests.inputs import JobSpecInputs, RunIdentity

GOLDEN = Path(__file__).parent / "golden"
SUBMITTED_AT = datetime(2026, 11, 27, 9, 30, 0, tzinfo=UTC)
WORKFLOW_TEXT = "name: implement\ncommands:\n  - shell: echo hello\n  - claude: /prodigy-implement-spec $ARG\n"


def identity(**overrides: object) -> RunIdentity:
    values: dict[str, object] = {
        "run_id": "k3x9q2m7ab",
        "session_id": "session-6f1c2d3e-0000-4000-8000-000000000001",
        "workflow_name": "implement",
        "workflow_file": "workflows/implement.yml",
        "submitted_by": "alice",
        "submitted_at": SUBMITTED_AT,
        "prodigy_version": "0.1.0",
    }
    values.update(overrides)
    return RunIdentity(**values)  # type: ignore[arg-type]


def cluster(yaml_text: str = "", name: str = "kind-dev", **flags: object) -> ResolvedCluster:
    config = parse_kubernetes_config(yaml_text, Path("kubernetes.yaml")) if yaml_text else KubernetesConfig()
    return resolve_cluster(config, name, ClusterOverrides(**flags), [name])  # type: ignore[arg-type]


def inputs(yaml_text: str = "", **overrides: object) -> JobSpecInputs:
    values: dict[str, object] = {
        "identity": identity(),
        "cluster": cluster(yaml_text),
        "workflow_text": WORKFLOW_TEXT,
    }
    values.update(overrides)
    return JobSpecInputs(**values)  # type: ignore[arg-type]


def assert_golden(name: str, text: str) -> None:
    """Compare with tests/unit/k8s/golden/<name>; PRODIGY_UPDATE_GOLDEN=1 rewrites it."""
    path = GOLDEN / name
    if os.environ.get("PRODIGY_UPDATE_GOLDEN") == "1":
        path.write_text(text)
    assert path.exists(), f"missing golden file {path}; run with PRODIGY_UPDATE_GOLDEN=1 and review the diff"
    assert text == path.read_text(), f"{path} differs; if the change is intended, PRODIGY_UPDATE_GOLDEN=1 and review"


@pytest.fixture
def golden() -> object:
    return assert_golden
