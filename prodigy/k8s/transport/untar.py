"""Writing one regular file out of a tar archive, safely, on every Python 3.11.

``TarFile.extract(..., filter="data")`` exists only from Python 3.11.4; Debian 12's python3
is 3.11.2, and an agent image built on it failed every resume with a TypeError. The checks
here are the "data" filter's for regular files, done by hand: no absolute path, no path that
leaves ``dest``, no setuid/setgid/sticky bit, no group/other write bit, no ownership change.
"""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

from prodigy.k8s.transport.manifest import TransportError


def extract_regular_file(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> Path:
    """Write ``member`` (a regular file) under ``dest``; refuse names that would leave it."""
    name = PurePosixPath(member.name)
    root = dest.resolve()
    target = (root / name).resolve()
    if name.is_absolute() or ".." in name.parts or not target.is_relative_to(root) or target == root:
        raise TransportError(f"archive member {member.name!r} would be written outside {dest}")
    source = tar.extractfile(member)
    if source is None:
        raise TransportError(f"archive member {member.name!r} is not a regular file")
    target.parent.mkdir(parents=True, exist_ok=True)
    with source, target.open("wb") as sink:
        shutil.copyfileobj(source, sink)
    os.chmod(target, member.mode & 0o755)
    return target
