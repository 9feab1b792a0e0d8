"""Benchmark the agent image build (issue 12's targets) and show what takes the space.

    .venv/bin/python bench/image_build.py [--from-nothing] [--rebuild] [--size]

- ``--from-nothing``: a build into an empty cache (PRODIGY_TESTCLUSTER_CACHE set to a fresh
  temporary directory): downloads, the Debian rootfs, the stand-in bases, the Dockerfile, the
  export and the containerd store (target <= 4 min).
- ``--rebuild``: a copy of this checkout with one line added to prodigy/__init__.py, built
  with the normal (warm) cache: only the layers from ``COPY prodigy`` on are rebuilt
  (target <= 60 s).
- ``--size``: the image's layers, largest first, with the step that made each (target <= 1.2 GB).

Wall-clock times of the whole ``python -m testcluster image build`` process. Needs root and
the Debian packages (scripts/install-node-packages). Not a test: numbers depend on the machine
and on how busy it is.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from testcluster.image import cache as caches  # noqa: E402
from testcluster.image import recipe  # noqa: E402

BUILD_TARGET_S = 240.0
REBUILD_TARGET_S = 60.0
SIZE_TARGET_BYTES = 1.2e9


def timed_build(repo: Path, env: dict[str, str]) -> float:
    began = time.monotonic()
    subprocess.run([sys.executable, "-m", "testcluster", "image", "build"], cwd=repo, check=True,
                   env={**env, "PYTHONPATH": str(repo)}, stdout=subprocess.DEVNULL)
    return time.monotonic() - began


def from_nothing() -> float:
    with tempfile.TemporaryDirectory(prefix="bench-image-cache-") as cache:
        try:
            return timed_build(REPO_ROOT, {**os.environ, "PRODIGY_TESTCLUSTER_CACHE": cache})
        finally:
            subprocess.run(["rm", "-rf", cache], check=False)


def rebuild() -> float:
    timed_build(REPO_ROOT, dict(os.environ))   # the current sources are built (cached) first
    with tempfile.TemporaryDirectory(prefix="bench-image-repo-") as directory:
        copy = Path(directory) / "repo"
        files = subprocess.run(["git", "ls-files", "-z"], cwd=REPO_ROOT, capture_output=True, check=True).stdout
        for name in filter(None, files.decode().split("\0")):
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            if (REPO_ROOT / name).is_file():
                shutil.copy2(REPO_ROOT / name, target)
        init = copy / "prodigy" / "__init__.py"
        init.write_text(init.read_text() + f"# rebuild benchmark {time.time()}\n")
        return timed_build(copy, dict(os.environ))


def layer_sizes() -> list[tuple[int, str]]:
    cache = caches.ImageCache.at(caches.cache_root())
    out = subprocess.run(["buildah", "--root", str(cache.storage), "--runroot", str(cache.runroot),
                          "--storage-driver", "overlay", "inspect", "--type", "image",
                          f"localhost/{recipe.AGENT_IMAGE}"], capture_output=True, text=True, check=True).stdout
    image = json.loads(out)
    layers = json.loads(image["Manifest"])["layers"]
    history = [h for h in image["OCIv1"].get("history", []) if not h.get("empty_layer")]
    steps = [h.get("created_by", "?") for h in history]
    return sorted(((int(layer["size"]), steps[i] if i < len(steps) else "?") for i, layer in enumerate(layers)),
                  reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from-nothing", action="store_true")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--size", action="store_true")
    args = parser.parse_args()
    missed = False
    if args.from_nothing:
        seconds = from_nothing()
        missed |= seconds > BUILD_TARGET_S
        print(f"build from nothing: {seconds:.1f} s (target <= {BUILD_TARGET_S:.0f} s)")
    if args.rebuild:
        seconds = rebuild()
        missed |= seconds > REBUILD_TARGET_S
        print(f"rebuild after a one-line change to prodigy/: {seconds:.1f} s (target <= {REBUILD_TARGET_S:.0f} s)")
    if args.size or not (args.from_nothing or args.rebuild):
        sizes = layer_sizes()
        total = sum(size for size, _ in sizes)
        missed |= total > SIZE_TARGET_BYTES
        print(f"image {recipe.AGENT_IMAGE}: {total / 1e9:.2f} GB uncompressed (target <= 1.2 GB)")
        for size, step in sizes:
            print(f"  {size / 1e6:8.1f} MB  {' '.join(step.split())[:110]}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
