"""What a user asked for on the command line, as plain data shared by the local and cluster paths."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class RunOptions:
    """`prodigy cook|run WORKFLOW ...` after flag parsing (paths made absolute)."""

    workflow_path: Path
    repo_path: Path                      # -p/--path, default the current directory
    yes: bool = False                    # -y/--yes: merge without asking
    args: tuple[str, ...] = ()           # --args (repeatable): one iteration each, ${ARG}
    map_globs: tuple[str, ...] = ()      # --map GLOB (repeatable)
    max_iterations: int = 1              # -n/--max-iterations
    verbosity: int = 0                   # -v count; -q gives -1
    dry_run: bool = False
    resume_session: str | None = None    # --resume SESSION
    # Kubernetes (spec 97). cluster=None means a local run, unchanged.
    cluster: str | None = None
    namespace: str | None = None
    image: str | None = None
    image_pull_policy: str | None = None
    keep: bool = False                   # --keep: no ttlSecondsAfterFinished
    detach: bool = False                 # --detach: submit, print how to find the run, exit
    extra: dict[str, str] = field(default_factory=dict)


def test_mode(environ: Mapping[str, str]) -> bool:
    """PRODIGY_TEST_MODE=true: upstream's switch for runs that neither merge nor need Claude."""
    return environ.get("PRODIGY_TEST_MODE", "").lower() == "true"
