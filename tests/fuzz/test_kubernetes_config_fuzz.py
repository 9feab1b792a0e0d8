"""Fuzz kubernetes.yaml and kubeconfig reading: only ConfigError/KubeconfigError (exit 2) may come out."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from ruamel.yaml import YAML

from prodigy.cli import main
from prodigy.errors import ConfigError
from prodigy.k8s.clients import read_kubeconfig
from prodigy.k8s.config.loader import load_kubernetes_config, parse_kubernetes_config
from prodigy.k8s.errors import KubeconfigError

from .conftest import FUZZ

KEYS = ["clusters", "default_image", "default_namespace", "context", "kubeconfig_path", "namespace", "image",
        "image_pull_policy", "resources", "requests", "limits", "cpu", "memory", "env", "secrets", "secret", "key",
        "repo", "mode", "remote_url", "service_account", "node_selector", "tolerations", "keep", "ttl",
        "active_deadline_seconds", "backoff_limit", "current-context", "contexts", "users", "name", "user",
        "cluster", "exec", "command", "args"]
DOCUMENTS = st.recursive(
    st.one_of(st.text(max_size=20), st.integers(-3, 10**6), st.booleans(), st.none(),
              st.sampled_from(["dev", "~/.kube/config", "../x", "Always", "remote", "file:///x", "-x", "500m"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=6)), inner, max_size=4)),
    max_leaves=30,
)


def _yaml(document: Any) -> str:
    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(document, out)
    return out.getvalue()


@FUZZ
@given(st.one_of(DOCUMENTS.map(_yaml), st.text(max_size=300)))
def test_kubernetes_yaml_text_gives_a_config_or_a_config_error(text: str) -> None:
    try:
        parse_kubernetes_config(text, Path("kubernetes.yaml"))
    except ConfigError as error:
        assert error.exit_code == 2 and error.message


@FUZZ
@given(st.one_of(st.binary(max_size=300), DOCUMENTS.map(lambda doc: _yaml(doc).encode())))
def test_kubernetes_yaml_bytes_through_the_cli(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="prodigy-fuzz-") as scratch:
        path = Path(scratch) / "kubernetes.yaml"
        path.write_bytes(data)
        try:
            load_kubernetes_config(path)
        except ConfigError as error:
            assert error.exit_code == 2
        import os

        previous = os.environ.get("PRODIGY_HOME")
        os.environ["PRODIGY_HOME"] = scratch
        try:
            assert main(["cluster", "list"]) in (0, 2)
        finally:
            if previous is not None:
                os.environ["PRODIGY_HOME"] = previous


@FUZZ
@given(st.one_of(st.binary(max_size=300), DOCUMENTS.map(lambda doc: _yaml(doc).encode())))
def test_kubeconfig_bytes_give_a_view_or_a_kubeconfig_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory(prefix="prodigy-fuzz-") as scratch:
        path = Path(scratch) / "config"
        path.write_bytes(data)
        try:
            view = read_kubeconfig(path)
        except KubeconfigError as error:
            assert error.exit_code == 2
        else:
            assert all(isinstance(name, str) for name in view.contexts)
            assert view.current_context is None or isinstance(view.current_context, str)
