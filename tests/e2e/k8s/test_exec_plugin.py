"""Exec-plugin credentials (EKS/GKE/AKS style) go through the official client; a failing plugin
is named in the error instead of surfacing as a bare 401/403."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.k8s.conftest import PRODIGY, CookEnv

pytestmark = pytest.mark.timeout(120)


def test_failing_exec_plugin_is_named_with_its_own_message(cook_env: CookEnv, tmp_path: Path) -> None:
    import yaml  # type: ignore[import-untyped]

    plugin = tmp_path / "fake-get-token"
    plugin.write_text("#!/bin/sh\necho 'error: the SSO session has expired; run: fake login' >&2\nexit 1\n")
    plugin.chmod(0o755)
    source = cook_env.cluster.kubeconfig
    document = yaml.safe_load(source.read_text())
    cluster_entry = document["clusters"][0]
    ca = cluster_entry["cluster"].get("certificate-authority")
    if ca and not Path(ca).is_absolute():
        cluster_entry["cluster"]["certificate-authority"] = str((source.parent / ca).resolve())
    document["users"] = [{"name": "sso", "user": {"exec": {
        "apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "args": ["--cluster", "x"],
        "interactiveMode": "Never", "installHint": "install fake-get-token and run `fake login`"}}}]
    document["contexts"] = [{"name": "sso", "context": {"cluster": cluster_entry["name"], "user": "sso"}}]
    document["current-context"] = "sso"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps(document))
    cook_env.configure(kubeconfig_path=str(kubeconfig), context="sso")

    result = cook_env.run([str(PRODIGY), "cluster", "check", "e2e"])

    assert result.returncode != 0
    assert f"exec plugin `{plugin} --cluster x`" in result.stderr
    assert "the SSO session has expired" in result.stderr
    assert "hint: install fake-get-token and run `fake login`" in result.stderr
