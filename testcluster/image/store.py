"""Containerd roots that hold the built images: made once per image key, cloned per node."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from testcluster.image.cache import WRITABLE_FILES


def clone(source_root: Path, target_root: Path) -> None:
    """Hard-link copy of a stopped containerd root; its databases become real copies.

    Content blobs and committed snapshots are never written in place (a container's changes
    go to a new upper directory), so sharing their inodes between nodes is safe.
    """
    target_root.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["cp", "-al", str(source_root), str(target_root)], capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f"cp -al {source_root} {target_root}: {result.stderr.strip()}")
    for relative in WRITABLE_FILES:
        source, target = source_root / relative, target_root / relative
        if source.is_file():
            temporary = target.with_name(target.name + ".copy")
            shutil.copyfile(source, temporary)
            temporary.replace(target)
