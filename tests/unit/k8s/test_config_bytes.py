"""kubernetes.yaml and kubeconfigs with bytes no YAML file should hold: exit 2 naming the file, not a crash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prodigy.errors import ConfigError
from prodigy.k8s.clients import read_kubeconfig
from prodigy.k8s.config.loader import load_kubernetes_config
from prodigy.k8s.errors import KubeconfigError

VALID = b"clusters:\n  dev:\n    context: kind-dev\n"


@pytest.mark.parametrize(("data", "expected"), [
    (VALID.replace(b"kind-dev", b"kind\x00dev"), "contains a NUL byte at line 3, column 18"),
    (VALID.replace(b"kind-dev", b"kind-d\xe9v"), "is not UTF-8 text: byte 0xe9 at line 3, column 20"),
    (VALID + b"    x: " + b"[" * 40 + b"]" * 40 + b"\n", "nested more than 32 levels deep"),
    (VALID + b"    x: \x07\n", "special characters are not allowed"),
])
def test_kubernetes_yaml_with_bad_bytes(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "kubernetes.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as caught:
        load_kubernetes_config(path)
    assert caught.value.exit_code == 2 and str(path) in caught.value.message and expected in caught.value.message


def test_kubernetes_yaml_that_is_a_fifo(tmp_path: Path) -> None:
    path = tmp_path / "kubernetes.yaml"
    os.mkfifo(path)
    with pytest.raises(ConfigError, match="is a FIFO"):
        load_kubernetes_config(path)


KUBECONFIG = b"""apiVersion: v1
current-context: dev
contexts:
- name: dev
  context: {cluster: dev, user: dev}
clusters:
- name: dev
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: dev
  user: {token: abc}
"""


@pytest.mark.parametrize(("data", "expected"), [
    (KUBECONFIG.replace(b"token: abc", b"token: a\x00c"), "contains a NUL byte at line 11"),
    (KUBECONFIG.replace(b"token: abc", b"token: \xffbc"), "is not UTF-8 text: byte 0xff at line 11"),
    (KUBECONFIG + b"x: " + b"[" * 100 + b"]" * 100 + b"\n", "nested more than 32 levels deep"),
    (b"- just\n- a list\n", "is not a mapping"),
])
def test_kubeconfigs_with_bad_bytes(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "config"
    path.write_bytes(data)
    with pytest.raises(KubeconfigError) as caught:
        read_kubeconfig(path)
    assert caught.value.exit_code == 2 and str(path) in caught.value.message and expected in caught.value.message


def test_kubeconfig_entries_of_the_wrong_shape_are_ignored(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_bytes(b"current-context: [x]\ncontexts: 5\nusers:\n- name: [a]\n- name: ok\n  user: 7\n")
    view = read_kubeconfig(path)
    assert view.current_context is None and dict(view.contexts) == {} and dict(view.users) == {"ok": {}}
