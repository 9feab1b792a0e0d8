"""Where ``build.sh`` keeps the control plane binaries, and building them on request."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from pathlib import Path

BUILD_SCRIPT = Path(__file__).resolve().parent / "build.sh"
NAMES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kubelet")


class BinariesMissing(RuntimeError):
    pass


def _run(args: list[str], env: Mapping[str, str] | None, capture_stderr: bool) -> Path:
    result = subprocess.run([str(BUILD_SCRIPT), *args], stdout=subprocess.PIPE, text=True, check=False,
                            stderr=subprocess.PIPE if capture_stderr else None,
                            env=None if env is None else dict(env))
    if result.returncode != 0:
        detail = (result.stderr or "").strip() or f"{BUILD_SCRIPT.name} {' '.join(args)} exited {result.returncode}"
        raise BinariesMissing(detail)
    bin_dir = Path(result.stdout.strip().splitlines()[-1])
    missing = [name for name in NAMES if not (bin_dir / name).is_file()]
    if missing:
        raise BinariesMissing(f"{', '.join(missing)} missing in {bin_dir}")
    return bin_dir


def locate(env: Mapping[str, str] | None = None) -> Path:
    """The bin directory if the binaries are built; never builds. ``env`` decides HOME and the cache."""
    return _run(["--locate"], env, capture_stderr=True)


def build(env: Mapping[str, str] | None = None) -> Path:
    """Build the binaries unless cached (progress on stderr) and return the bin directory."""
    return _run([], env, capture_stderr=False)
