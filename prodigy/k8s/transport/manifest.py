"""The transport manifest: which chunks make up which file, and the checksums that prove it.

Plain data shared by the CLI (which writes it next to the chunks) and the pod's init container
(which trusts nothing it cannot verify against it). JSON on the wire, frozen dataclasses in code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from prodigy.errors import ProdigyError

FORMAT_VERSION = 1
MANIFEST_KEY = "manifest.json"
# Well below the 1 MiB a ConfigMap may hold (the apiserver counts binaryData's decoded bytes),
# leaving room for object metadata in etcd's 1.5 MiB request limit.
DEFAULT_CHUNK_BYTES = 900 * 1024
REPO_PACK = "repo.pack"          # the base commit and its full tree, as one self-contained pack
STATE_TAR = "state.tar"          # the checkpoint a resumed run continues from


class TransportError(ProdigyError):
    """The shipped repository or the returned result is incomplete or corrupt."""


MIB = 1024 * 1024


@dataclass(frozen=True)
class Chunk:
    path: str          # file name inside the mounted volume, e.g. "chunk-0003"
    size: int
    sha256: str


@dataclass(frozen=True)
class ShippedFile:
    name: str          # REPO_PACK or STATE_TAR
    size: int
    sha256: str
    chunks: tuple[Chunk, ...]


@dataclass(frozen=True)
class TransportManifest:
    """What the pod needs to rebuild the repository at `base_sha` on branch `branch`."""

    base_sha: str
    branch: str
    files: tuple[ShippedFile, ...]
    # The oldest commit sent, whose parents are absent: the base itself for a new run; the
    # session's first base for a resumed one, which also carries the session's own commits.
    shallow_sha: str = ""
    version: int = FORMAT_VERSION

    @property
    def boundary(self) -> str:
        return self.shallow_sha or self.base_sha

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)

    @property
    def chunks(self) -> tuple[Chunk, ...]:
        return tuple(c for f in self.files for c in f.chunks)

    def size_text(self) -> str:
        """What was shipped, for people: "1.3 MiB in 2 chunks", "3 KiB in 1 chunk"."""
        size = self.total_bytes
        amount = f"{size / MIB:.1f} MiB" if size >= MIB else f"{max(1, round(size / 1024))} KiB"
        count = len(self.chunks)
        return f"{amount} in {count} chunk{'' if count == 1 else 's'}"

    def file(self, name: str) -> ShippedFile | None:
        return next((f for f in self.files if f.name == name), None)

    def to_json(self) -> str:
        return json.dumps({
            "version": self.version,
            "base_sha": self.base_sha,
            "branch": self.branch,
            # The pod marks the repository shallow here: these commits' parents were deliberately not sent.
            "shallow": [self.boundary],
            "files": [
                {"name": f.name, "size": f.size, "sha256": f.sha256,
                 "chunks": [{"path": c.path, "size": c.size, "sha256": c.sha256} for c in f.chunks]}
                for f in self.files
            ],
        }, indent=1, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TransportManifest:
        try:
            raw: dict[str, Any] = json.loads(text)
            if raw.get("version") != FORMAT_VERSION:
                raise TransportError(
                    f"transport manifest version {raw.get('version')!r} is not supported (expected {FORMAT_VERSION})",
                    hint="use the same prodigy version on your machine and in the agent image",
                )
            files = tuple(
                ShippedFile(f["name"], int(f["size"]), f["sha256"],
                            tuple(Chunk(c["path"], int(c["size"]), c["sha256"]) for c in f["chunks"]))
                for f in raw["files"]
            )
            shallow = raw.get("shallow") or [raw["base_sha"]]
            return cls(base_sha=raw["base_sha"], branch=raw["branch"], files=files, shallow_sha=shallow[0])
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError(f"transport manifest is malformed: {exc}") from exc
