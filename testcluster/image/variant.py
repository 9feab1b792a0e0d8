"""The test variant of the agent image: the built image plus one layer, assembled directly.

Equivalent to building::

    FROM prodigy-agent:dev
    COPY claude /opt/prodigy-test/bin/claude
    ENV PATH=/opt/prodigy-test/bin:<the image's PATH>

but without a second export of the whole image: the new manifest reuses every layer blob of
the agent image and adds one small layer and a new config.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from testcluster.image import oci


@dataclass(frozen=True)
class Blob:
    digest: str
    data: bytes

    @classmethod
    def of(cls, data: bytes) -> Blob:
        return cls("sha256:" + hashlib.sha256(data).hexdigest(), data)


@dataclass(frozen=True)
class Variant:
    manifest: Blob
    config: Blob
    layer: Blob


def with_files(manifest: dict[str, Any], config: dict[str, Any], files: list[oci.File], path_first: str,
               comment: str) -> Variant:
    layer = Blob.of(oci.layer(files))
    new_config = json.loads(json.dumps(config))
    new_config["rootfs"]["diff_ids"] = [*config["rootfs"]["diff_ids"], layer.digest]
    env = [item for item in new_config["config"].get("Env", []) if not item.startswith("PATH=")]
    old_path = next((item[5:] for item in config["config"].get("Env", []) if item.startswith("PATH=")),
                    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    new_config["config"]["Env"] = [*env, f"PATH={path_first}:{old_path}"]
    new_config["history"] = [*config.get("history", []), {"created_by": comment}]
    config_blob = Blob.of(json.dumps(new_config, sort_keys=True).encode())
    new_manifest = json.loads(json.dumps(manifest))
    new_manifest["config"] = {"mediaType": oci.CONFIG_TYPE, "digest": config_blob.digest, "size": len(config_blob.data)}
    new_manifest["layers"] = [*manifest["layers"],
                              {"mediaType": oci.LAYER_TYPE, "digest": layer.digest, "size": len(layer.data)}]
    manifest_blob = Blob.of(json.dumps(new_manifest, sort_keys=True).encode())
    return Variant(manifest_blob, config_blob, layer)
