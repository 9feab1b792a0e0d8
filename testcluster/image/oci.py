"""OCI image pieces written by hand: layers, configs, manifests, index entries.

The pause image (one static binary) and the test variant's extra layer need no build tool:
a layer tar, a config and a manifest, in the OCI image layout that ``ctr images import`` reads.
Fixed mtimes and sorted JSON keys: the same inputs make the same digests.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
EPOCH = 0


@dataclass(frozen=True)
class File:
    path: str          # inside the image, without the leading slash
    data: bytes
    mode: int = 0o755


@dataclass(frozen=True)
class ImageBlobs:
    manifest_digest: str
    manifest_size: int
    blobs: tuple[tuple[str, bytes], ...]   # (digest, data): layer, config, manifest


def hex_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest(data: bytes) -> str:
    return "sha256:" + hex_of(data)


def _directories(path: str) -> list[str]:
    parts = path.split("/")[:-1]
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def layer(files: Sequence[File]) -> bytes:
    """An uncompressed layer tar with ``files`` and their parent directories (0755, root)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as archive:
        seen: set[str] = set()
        for file in files:
            for directory in _directories(file.path):
                if directory not in seen:
                    seen.add(directory)
                    info = tarfile.TarInfo(directory)
                    info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, EPOCH
                    archive.addfile(info)
            info = tarfile.TarInfo(file.path)
            info.size, info.mode, info.mtime = len(file.data), file.mode, EPOCH
            archive.addfile(info, io.BytesIO(file.data))
    return out.getvalue()


def image_blobs(name: str, files: Sequence[File], config: Mapping[str, Any]) -> ImageBlobs:
    """A one-layer image: its blobs and its manifest's digest (``name`` is for the history only)."""
    layer_data = layer(files)
    config_data = json.dumps({
        "architecture": "amd64", "os": "linux", "config": dict(config),
        "rootfs": {"type": "layers", "diff_ids": [digest(layer_data)]},
        "history": [{"created_by": f"testcluster: {name}"}],
    }, sort_keys=True).encode()
    manifest_data = json.dumps({
        "schemaVersion": 2, "mediaType": MANIFEST_TYPE,
        "config": {"mediaType": CONFIG_TYPE, "digest": digest(config_data), "size": len(config_data)},
        "layers": [{"mediaType": LAYER_TYPE, "digest": digest(layer_data), "size": len(layer_data)}],
    }, sort_keys=True).encode()
    return ImageBlobs(digest(manifest_data), len(manifest_data), (
        (digest(layer_data), layer_data), (digest(config_data), config_data), (digest(manifest_data), manifest_data)))


def descriptor(manifest_digest: str, size: int, name: str) -> dict[str, Any]:
    """An index entry; containerd names the imported image after ``io.containerd.image.name``."""
    return {"mediaType": MANIFEST_TYPE, "digest": manifest_digest, "size": size,
            "annotations": {"io.containerd.image.name": name, "org.opencontainers.image.ref.name": name}}


def add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, EPOCH
    archive.addfile(info, io.BytesIO(data))
