"""``python -m testcluster image build``: the agent image, cached by the hash of its inputs.

The key covers the Dockerfile's context (pyproject.toml, uv.lock, README.md, prodigy/), the
stand-in base recipe, the fake ``claude`` of the test variant and this package's own code. A
finished build is a containerd root under ``<cache>/image/stores/<key>/`` that nodes clone.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from testcluster.image import cache as caches
from testcluster.image import recipe

REPO_ROOT = Path(__file__).resolve().parents[2]
TOOLS = ("buildah", "mmdebstrap", "containerd", "ctr", "runc", "gcc", "npm")


class ImageBuildError(RuntimeError):
    """The image could not be built; the message says what is missing or which step failed."""


@dataclass(frozen=True)
class BuiltImages:
    store: Path
    key: str
    images: tuple[str, ...]
    size: int

    @property
    def containerd_root(self) -> Path:
        return self.store / "containerd" / "root"


def image_key(repo: Path = REPO_ROOT) -> str:
    own = sorted((repo / "testcluster" / "image").glob("*.py")) + [repo / "testcluster" / "realnode" / "config.py",
                                                                    repo / "testing" / "fake_claude" / "claude",
                                                                    repo / "testcluster" / "gomod" / "k8s" / "go.mod"]
    pieces = recipe.context_pieces(repo) + [("bases", recipe.base_recipe().encode())]
    pieces += [(path.relative_to(repo).as_posix(), path.read_bytes()) for path in own]
    return recipe.Digest.of(pieces).short


def _loaded(store: Path) -> BuiltImages:
    record = json.loads((store / "images.json").read_text())
    return BuiltImages(store=store, key=record["key"], images=tuple(record["images"]),
                       size=sum(record.get("sizes", {}).values()))


def missing_tools(path: str | None = None) -> list[str]:
    from shutil import which

    return [tool for tool in TOOLS if which(tool, path=path) is None]


def locate(repo: Path = REPO_ROOT, env: Mapping[str, str] | None = None) -> BuiltImages | None:
    """The finished build for the current inputs, or None; never builds."""
    store = caches.ImageCache.at(caches.cache_root(dict(env) if env is not None else None)).store(image_key(repo))
    return _loaded(store) if (store / "images.json").is_file() else None


def build(repo: Path = REPO_ROOT, env: Mapping[str, str] | None = None) -> BuiltImages:
    """Build unless the store for the current inputs exists (progress on stderr)."""
    environment = dict(os.environ if env is None else env)
    cache = caches.ImageCache.at(caches.cache_root(environment))
    key = image_key(repo)
    store = cache.store(key)
    if (store / "images.json").is_file():
        return _loaded(store)
    if os.geteuid() != 0:
        raise ImageBuildError("building the agent image needs root (buildah, mmdebstrap and containerd run as root)")
    missing = missing_tools(environment.get("PATH"))
    if missing:
        raise ImageBuildError(f"missing {', '.join(missing)}: run scripts/install-node-packages "
                              "(Debian: buildah containerd runc mmdebstrap containernetworking-plugins gcc npm)")
    with caches.locked(cache.build_lock):
        if (store / "images.json").is_file():   # built by someone else while we waited
            return _loaded(store)
        environment["PYTHONPATH"] = os.pathsep.join(p for p in (str(repo), environment.get("PYTHONPATH", "")) if p)
        result = subprocess.run([sys.executable, "-m", "testcluster.image.builder", str(repo), str(cache.root.parent), key],
                                env=environment, stdin=subprocess.DEVNULL, check=False)
        if result.returncode != 0 or not (store / "images.json").is_file():
            raise ImageBuildError(f"the image build failed (exit {result.returncode}); its output is above")
    return _loaded(store)
