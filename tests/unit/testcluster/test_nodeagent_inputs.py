"""Image references, the image map, and container environment rules of the node agent."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from testcluster.nodeagent.envvars import (
    ContainerConfigError,
    command_line,
    container_env,
    expand,
    field_value,
    parse_quantity,
)
from testcluster.nodeagent.images import InvalidImageName, apply_default_tag, load_map
from testcluster.nodeagent.volumes import VolumeError, materialise

PLACEHOLDERS = {"venv": "/opt/venv", "python": "/opt/shims"}


@pytest.mark.parametrize(
    ("image", "defaulted"),
    [
        ("busybox", "busybox:latest"),
        ("busybox:1.36", "busybox:1.36"),
        ("localhost:5000/team/app", "localhost:5000/team/app:latest"),
        ("ghcr.io/org/app@sha256:" + "a" * 64, "ghcr.io/org/app@sha256:" + "a" * 64),
        ("prodigy-agent:dev", "prodigy-agent:dev"),
    ],
)
def test_default_tag_like_the_kubelet(image: str, defaulted: str) -> None:
    assert apply_default_tag(image) == defaulted


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        ("Busybox", "invalid reference format: repository name (library/Busybox) must be lowercase"),
        ("busy box", "invalid reference format"),
        ("busybox:", "invalid reference format"),
        ("a" * 64, "cannot specify 64-byte hexadecimal strings"),
    ],
)
def test_invalid_image_names(image: str, reason: str) -> None:
    with pytest.raises(InvalidImageName) as error:
        apply_default_tag(image)

    assert str(error.value).startswith(f'Failed to apply default image tag "{image}": couldn\'t parse image name "{image}": ')
    assert reason in str(error.value)


def test_built_in_map_knows_the_agent_busybox_and_python() -> None:
    images = load_map(None, PLACEHOLDERS)

    agent = images.resolve("prodigy-agent:0.1.0")
    assert agent is not None and agent.path == ("/opt/venv/bin",)
    assert (agent.entrypoint, agent.cmd) == ((), ("prodigy", "agent", "execute", "/config/workflow.yaml"))
    assert agent.env["PYTHONUNBUFFERED"] == "1"
    assert images.resolve("docker.io/library/busybox:1.36") is not None
    python = images.resolve("python:3.11-slim")
    assert python is not None and python.path == ("/opt/shims",)
    assert images.resolve("nginx:latest") is None


def test_image_map_file_replaces_the_default(tmp_path: Path) -> None:
    mapped = tmp_path / "images.yaml"
    mapped.write_text('images:\n  - pattern: "example.com/tool:*"\n    path: ["{venv}/bin", /extra]\n    entrypoint: [tool]\n    cmd: [--help]\n')
    images = load_map(mapped, PLACEHOLDERS)

    rule = images.resolve("example.com/tool:2")
    assert rule is not None and rule.path == ("/opt/venv/bin", "/extra")
    assert (rule.entrypoint, rule.cmd) == (("tool",), ("--help",))
    assert images.resolve("busybox:latest") is None


def test_image_map_errors_name_the_file_and_rule(tmp_path: Path) -> None:
    mapped = tmp_path / "images.json"
    mapped.write_text('{"images": [{"pattern": "x", "colour": "red"}]}')

    with pytest.raises(ValueError, match=r"images\.json: images\[0\]: unknown keys \['colour'\]"):
        load_map(mapped, PLACEHOLDERS)


def test_variable_expansion() -> None:
    env = {"A": "1", "B": "two"}

    assert expand("$(A)-$(B)", env) == "1-two"
    assert expand("$(MISSING) stays", env) == "$(MISSING) stays"
    assert expand("$$(A) is escaped, $$ too", env) == "$(A) is escaped, $ too"


def test_quantities() -> None:
    assert parse_quantity("64Mi") == 64 * 1024 * 1024
    assert parse_quantity("1G") == 10**9
    assert parse_quantity("500m") * 1000 == 500


POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "ns", "uid": "u-1", "labels": {"app": "demo"}, "annotations": {}},
    "spec": {"nodeName": "node-a", "containers": [{"name": "c", "resources": {"limits": {"memory": "128Mi"}}}]},
    "status": {},
}
OBJECTS: dict[tuple[str, str], Mapping[str, str]] = {
    ("ConfigMap", "settings"): {"greeting": "hello", "mode": "fast"},
    ("Secret", "creds"): {"token": "s3cret"},
}


def lookup(kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
    assert namespace == "ns"
    return OBJECTS.get((kind, name))


def test_env_from_then_env_with_value_from_and_expansion() -> None:
    container = {
        "name": "c",
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}, {"secretRef": {"name": "creds"}}],
        "env": [
            {"name": "G", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}},
            {"name": "T", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "token"}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "APP", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
            {"name": "MSG", "value": "$(G) from $(POD)"},
            {"name": "PATH", "value": "/custom:$(PATH)"},
        ],
    }
    env = container_env(POD, container, {"PATH": "/bin"}, lookup, {"memory": "1Gi"})

    assert env == {
        "PATH": "/custom:/bin", "CFG_greeting": "hello", "CFG_mode": "fast", "token": "s3cret", "G": "hello",
        "T": "s3cret", "POD": "p", "APP": "demo", "MEM": "128", "MSG": "hello from p",
    }


def test_missing_config_map_or_key_is_a_config_error_unless_optional() -> None:
    missing_object = {"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k"}}}]}
    missing_key = {"name": "c", "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "k"}}}]}
    optional = {"name": "c", "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "k", "optional": True}}}]}

    with pytest.raises(ContainerConfigError, match='configmap "nope" not found'):
        container_env(POD, missing_object, {}, lookup, {})
    with pytest.raises(ContainerConfigError, match="couldn't find key k in Secret ns/creds"):
        container_env(POD, missing_key, {}, lookup, {})
    assert "X" not in container_env(POD, optional, {}, lookup, {})


def test_downward_fields() -> None:
    assert field_value(POD, "spec.nodeName") == "node-a"
    assert field_value(POD, "metadata.uid") == "u-1"
    assert field_value(POD, "status.podIP") == "127.0.0.1"
    assert field_value(POD, "metadata.labels") == 'app="demo"'


def test_command_line_combines_image_entrypoint_and_cmd_like_kubernetes() -> None:
    env = {"NAME": "world"}
    tini, cmd = ["tini", "--"], ["prodigy", "agent"]

    assert command_line({}, tini, cmd, env) == ["tini", "--", "prodigy", "agent"]
    assert command_line({"args": ["echo", "$(NAME)"]}, tini, cmd, env) == ["tini", "--", "echo", "world"]
    assert command_line({"command": ["echo"]}, tini, cmd, env) == ["echo"]
    assert command_line({"command": ["echo"], "args": ["$(NAME)"]}, tini, cmd, env) == ["echo", "world"]


def test_volumes_are_written_with_modes_items_and_binary_data(tmp_path: Path) -> None:
    objects = {
        ("ConfigMap", "cfg"): {"data": {"a": "1", "b": "2"}, "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()}},
        ("Secret", "sec"): {"data": {"token": base64.b64encode(b"s3cret").decode()}},
    }
    pod = {
        **POD,
        "spec": {
            **POD["spec"],
            "volumes": [
                {"name": "all", "configMap": {"name": "cfg"}},
                {"name": "some", "configMap": {"name": "cfg", "items": [{"key": "b", "path": "dir/b.txt", "mode": 0o600}]}},
                {"name": "sec", "secret": {"secretName": "sec", "defaultMode": 0o400}},
                {"name": "scratch", "emptyDir": {}},
                {"name": "info", "downwardAPI": {"items": [{"path": "ns", "fieldRef": {"fieldPath": "metadata.namespace"}}]}},
            ],
        },
    }
    paths = materialise(pod, tmp_path, lambda kind, ns, name: objects.get((kind, name)), {})

    assert sorted(p.name for p in paths["all"].iterdir()) == ["a", "b", "bin"]
    assert (paths["all"] / "bin").read_bytes() == b"\x00\x01"
    assert (paths["some"] / "dir" / "b.txt").read_text() == "2"
    assert (paths["some"] / "dir" / "b.txt").stat().st_mode & 0o777 == 0o600
    assert (paths["sec"] / "token").read_text() == "s3cret"
    assert (paths["sec"] / "token").stat().st_mode & 0o777 == 0o400
    assert paths["scratch"].stat().st_mode & 0o777 == 0o777
    assert (paths["info"] / "ns").read_text() == "ns"


def test_missing_config_map_volume_is_a_mount_failure(tmp_path: Path) -> None:
    pod = {**POD, "spec": {**POD["spec"], "volumes": [{"name": "v", "configMap": {"name": "absent"}}]}}

    with pytest.raises(VolumeError, match='MountVolume.SetUp failed for volume "v" : configmap "absent" not found'):
        materialise(pod, tmp_path, lambda kind, ns, name: None, {})


def test_launch_spec_puts_the_image_path_first_and_resolves_sub_paths(tmp_path: Path) -> None:
    from testcluster.nodeagent.images import ImageRule
    from testcluster.nodeagent.launchspec import launch_spec

    rule = ImageRule("prodigy-agent:*", path=("/opt/venv/bin",), env={"PYTHONUNBUFFERED": "1"}, cmd=("prodigy", "agent"))
    container = {
        "name": "c", "args": ["run", "$(HOSTNAME)"], "workingDir": "/workspace",
        "resources": {"limits": {"memory": "64Mi"}},
        "volumeMounts": [{"name": "work", "mountPath": "/workspace"},
                         {"name": "work", "mountPath": "/cache", "subPath": "cache", "readOnly": True}],
    }
    spec = launch_spec(POD, container, rule, {"work": tmp_path}, lookup, {}, ("127.0.0.1", 6443))

    assert spec.argv == ["run", "p"]
    assert spec.env["PATH"].startswith("/opt/venv/bin:/usr/local/sbin:")
    assert (spec.env["PYTHONUNBUFFERED"], spec.env["KUBERNETES_SERVICE_PORT"]) == ("1", "6443")
    assert [(m.source, m.target, m.read_only) for m in spec.mounts] == [
        (tmp_path, "/workspace", False), (tmp_path / "cache", "/cache", True)]
    assert (spec.memory_limit, spec.working_dir, spec.termination_message_path) == (64 * 2**20, "/workspace", "/dev/termination-log")
    with pytest.raises(ContainerConfigError, match='cannot find volume "work"'):
        launch_spec(POD, container, rule, {}, lookup, {}, ("127.0.0.1", 6443))
