"""Where the image build keeps its state, under the test cluster's cache root.

``<cache>/image/``: buildah's storage (the stand-in bases and every layer, so a rebuild reuses
them), downloads, and ``stores/<key>/``: a containerd root holding the built images, unpacked.
A node clones a store with hard links in about a second instead of importing 1 GB.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# Bolt databases are rewritten in place: a node gets its own copies, never hard links.
WRITABLE_FILES = ("io.containerd.metadata.v1.bolt/meta.db", "io.containerd.snapshotter.v1.overlayfs/metadata.db")
KEEP_STORES = 3


def cache_root(env: dict[str, str] | None = None) -> Path:
    source = os.environ if env is None else env
    configured = source.get("PRODIGY_TESTCLUSTER_CACHE")
    return Path(configured) if configured else Path(source.get("HOME", str(Path.home()))) / ".cache" / "prodigy-testcluster"


@dataclass(frozen=True)
class ImageCache:
    root: Path

    @classmethod
    def at(cls, cache: Path) -> ImageCache:
        return cls(cache / "image")

    @property
    def storage(self) -> Path:
        return self.root / "buildah" / "storage"

    @property
    def runroot(self) -> Path:
        return self.root / "buildah" / "run"

    @property
    def runc_root(self) -> Path:
        return self.root / "buildah" / "runc"

    @property
    def blob_info_cache(self) -> Path:
        return self.root / "buildah" / "containers"

    @property
    def downloads(self) -> Path:
        return self.root / "downloads"

    @property
    def bases(self) -> Path:
        return self.root / "bases"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def stores(self) -> Path:
        return self.root / "stores"

    def store(self, key: str) -> Path:
        return self.stores / key

    @property
    def build_lock(self) -> Path:
        return self.root / ".build.lock"

    @property
    def stores_lock(self) -> Path:
        return self.root / ".stores.lock"


@contextmanager
def locked(path: Path, *, shared: bool = False) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_SH if shared else fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def finished_stores(cache: ImageCache) -> list[Path]:
    """Complete stores, newest first."""
    if not cache.stores.is_dir():
        return []
    done = [path for path in cache.stores.iterdir() if (path / "images.json").is_file()]
    return sorted(done, key=lambda path: (path / "images.json").stat().st_mtime, reverse=True)
