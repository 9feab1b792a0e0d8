"""Clear errors before any side effect: permissions, unreachable API server, bad kubeconfig/context."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.e2e.k8s.conftest import PRODIGY, CookEnv

pytestmark = pytest.mark.timeout(120)

HELLO = 'name: hello\ncommands:\n  - shell: "echo hi"\n'


def test_restricted_user_gets_a_permission_error_naming_verb_and_resource(cook_env: CookEnv) -> None:
    cook_env.configure(context=cook_env.cluster.restricted_context)
    result = cook_env.cook(cook_env.workflow("hello", HELLO))
    assert result.returncode == 2
    assert "may not create jobs (batch)" in result.stderr
    assert "kubectl auth can-i create jobs.batch" in result.stderr
    assert cook_env.prodigy_objects() == []
    check = cook_env.run([str(PRODIGY), "cluster", "check", "e2e"])
    assert check.returncode == 2 and "FAIL may create jobs.batch" in check.stdout


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kubeconfig_with_server(source: Path, target: Path, server: str) -> Path:
    import yaml  # type: ignore[import-untyped]

    document = yaml.safe_load(source.read_text())
    for entry in document["clusters"]:
        entry["cluster"]["server"] = server
    # Certificate paths are relative to the original file's directory.
    for section, inner in (("clusters", "cluster"), ("users", "user")):
        for entry in document[section]:
            for key in ("certificate-authority", "client-certificate", "client-key"):
                if key in entry[inner] and not Path(entry[inner][key]).is_absolute():
                    entry[inner][key] = str((source.parent / entry[inner][key]).resolve())
    target.write_text(json.dumps(document))
    return target


@pytest.mark.parametrize("server", ["refused", "blackhole"])
def test_unreachable_api_server_fails_clearly_instead_of_hanging(cook_env: CookEnv, tmp_path: Path,
                                                                server: str) -> None:
    address = f"https://127.0.0.1:{_closed_port()}" if server == "refused" else "https://10.255.255.1:6443"
    kubeconfig = _kubeconfig_with_server(cook_env.cluster.kubeconfig, tmp_path / "kubeconfig", address)
    cook_env.configure(kubeconfig_path=str(kubeconfig))
    # The connect timeout bounds the wait: a client that hung would run into this deadline.
    result = cook_env.cook(cook_env.workflow("hello", HELLO), timeout=30)
    assert result.returncode == 1
    assert "unreachable" in result.stderr and "cluster 'e2e'" in result.stderr
    assert "hint:" in result.stderr


def test_unknown_context_is_a_clear_config_error(cook_env: CookEnv) -> None:
    cook_env.configure(context="no-such-context")
    result = cook_env.cook(cook_env.workflow("hello", HELLO))
    assert result.returncode == 2
    assert "context 'no-such-context' is not in" in result.stderr
    assert cook_env.cluster.admin_context in result.stderr          # lists what exists


def test_broken_kubeconfig_is_a_clear_config_error(cook_env: CookEnv, tmp_path: Path) -> None:
    broken = tmp_path / "broken-kubeconfig"
    broken.write_text("clusters: [unterminated\n")
    cook_env.configure(kubeconfig_path=str(broken))
    result = cook_env.cook(cook_env.workflow("hello", HELLO))
    assert result.returncode == 2
    assert f"cannot read kubeconfig {broken}" in result.stderr
    missing = tmp_path / "missing-kubeconfig"
    cook_env.configure(kubeconfig_path=str(missing))
    result = cook_env.cook(cook_env.workflow("hello", HELLO))
    assert result.returncode == 2 and f"no kubeconfig found at {missing}" in result.stderr


def test_unknown_cluster_name_lists_what_is_configured(cook_env: CookEnv) -> None:
    result = cook_env.cook(cook_env.workflow("hello", HELLO), cluster="nope")
    assert result.returncode == 2
    assert "unknown cluster 'nope'" in result.stderr and "e2e" in result.stderr


def test_a_kubeconfig_context_works_as_a_cluster_name_with_defaults(cook_env: CookEnv) -> None:
    # Not in kubernetes.yaml, but a context of $KUBECONFIG: default image/namespace apply; the
    # dry run shows it resolved without contacting the cluster.
    result = cook_env.cook(cook_env.workflow("hello", HELLO), "--dry-run", "--namespace", cook_env.namespace,
                           "--image", "prodigy-agent:e2e", cluster=cook_env.cluster.admin_context)
    assert result.returncode == 0, result.stderr
    assert f"namespace: {cook_env.namespace}" in result.stdout
