"""Materialise a pod's volumes into directories under the agent's state dir.

Each volume becomes ``<pod dir>/volumes/<name>`` (hostPath volumes are the host path
itself); the sandbox then bind-mounts them at each container's ``mountPath``. Files are
written once when the pod starts: later ConfigMap/Secret edits are not propagated.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from testcluster.nodeagent.envvars import field_value, resource_value

# (kind, namespace, name) -> the raw API object, or None when it does not exist
Fetch = Callable[[str, str, str], Mapping[str, Any] | None]


class VolumeError(Exception):
    """FailedMount: the pod stays ContainerCreating and the agent retries."""


def _source_files(kind: str, obj: Mapping[str, Any] | None) -> dict[str, bytes]:
    if obj is None:
        return {}
    if kind == "Secret":
        return {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
    files = {k: v.encode() for k, v in (obj.get("data") or {}).items()}
    files.update({k: base64.b64decode(v) for k, v in (obj.get("binaryData") or {}).items()})
    return files


def _object_files(
    kind: str, source: Mapping[str, Any], namespace: str, fetch: Fetch, volume: str, default_mode: int
) -> list[tuple[str, bytes, int]]:
    name = source.get("name") or source.get("secretName") or ""
    obj = fetch(kind, namespace, name)
    if obj is None and not source.get("optional"):
        raise VolumeError(f'MountVolume.SetUp failed for volume "{volume}" : {kind.lower()} "{name}" not found')
    files = _source_files(kind, obj)
    items = source.get("items")
    if not items:
        return [(key, data, default_mode) for key, data in files.items()]
    chosen = []
    for item in items:
        if item["key"] not in files:
            if obj is None or source.get("optional"):
                continue
            raise VolumeError(
                f'MountVolume.SetUp failed for volume "{volume}" : '
                f"configmap references non-existent config key: {item['key']}"
            )
        chosen.append((item["path"], files[item["key"]], item.get("mode", default_mode)))
    return chosen


def _downward_files(
    pod: Mapping[str, Any], source: Mapping[str, Any], default_mode: int, allocatable: Mapping[str, str]
) -> list[tuple[str, bytes, int]]:
    files = []
    for item in source.get("items") or ():
        if "fieldRef" in item:
            value = field_value(pod, item["fieldRef"]["fieldPath"])
        else:
            ref = item["resourceFieldRef"]
            value = resource_value(pod, ref.get("containerName", ""), ref, allocatable)
        files.append((item["path"], value.encode(), item.get("mode", default_mode)))
    return files


def volume_files(
    pod: Mapping[str, Any], volume: Mapping[str, Any], fetch: Fetch, allocatable: Mapping[str, str]
) -> list[tuple[str, bytes, int]] | None:
    """(relative path, content, mode) for a file-backed volume; None for emptyDir-like ones."""
    namespace = pod["metadata"]["namespace"]
    name = volume["name"]
    if "configMap" in volume:
        source = volume["configMap"]
        return _object_files("ConfigMap", source, namespace, fetch, name, source.get("defaultMode", 0o644))
    if "secret" in volume:
        source = volume["secret"]
        return _object_files("Secret", source, namespace, fetch, name, source.get("defaultMode", 0o644))
    if "downwardAPI" in volume:
        source = volume["downwardAPI"]
        return _downward_files(pod, source, source.get("defaultMode", 0o644), allocatable)
    if "projected" in volume:
        projected = volume["projected"]
        mode = projected.get("defaultMode", 0o644)
        files: list[tuple[str, bytes, int]] = []
        for source in projected.get("sources") or ():
            if "configMap" in source:
                files += _object_files("ConfigMap", source["configMap"], namespace, fetch, name, mode)
            elif "secret" in source:
                files += _object_files("Secret", source["secret"], namespace, fetch, name, mode)
            elif "downwardAPI" in source:
                files += _downward_files(pod, source["downwardAPI"], mode, allocatable)
            # serviceAccountToken / clusterTrustBundle sources: no token issuing here.
        return files
    return None


def materialise(
    pod: Mapping[str, Any], pod_dir: Path, fetch: Fetch, allocatable: Mapping[str, str]
) -> dict[str, Path]:
    """Write every volume; returns volume name -> host directory (or file, for hostPath)."""
    paths: dict[str, Path] = {}
    for volume in pod["spec"].get("volumes") or ():
        name = volume["name"]
        if "hostPath" in volume:
            host = Path(volume["hostPath"]["path"])
            if volume["hostPath"].get("type") in ("DirectoryOrCreate",) and not host.exists():
                host.mkdir(parents=True, exist_ok=True)
            paths[name] = host
            continue
        target = pod_dir / "volumes" / name
        files = volume_files(pod, volume, fetch, allocatable)
        if target.exists() and files is None:
            paths[name] = target  # an emptyDir survives container restarts
            continue
        target.mkdir(parents=True, exist_ok=True)
        if files is None:
            # emptyDir (and unsupported kinds): world-writable like the kubelet's emptyDir.
            target.chmod(0o777)
        else:
            for relative, content, mode in files:
                path = target / relative
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
                os.chmod(path, mode)
        paths[name] = target
    return paths
