"""``--map GLOB``: the files a run iterates over, found inside the repository (before anything runs).

Each matching file becomes one input, ``ARG`` = its stem up to the first ``-`` (upstream's rule,
`prodigy.workflow.variables.arg_from_map_path`). The glob is relative to the repository; a glob
or a match that leads outside it (``../*``, ``/etc/*``, a symlink out of the repository) is refused
unless the workflow lists the directory under ``outside_paths:`` (`prodigy.local.containment`).
The directory part before the first wildcard is checked *before* globbing, so ``/**`` never walks
the whole disk. Every problem is a `UsageError` (exit 2): nothing has been created yet.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePath

from prodigy.errors import UsageError
from prodigy.local.containment import OUTSIDE_PATHS_HINT, Roots

__all__ = ["map_matches"]

_WILDCARDS = frozenset("*?[")
_SHOWN = 3


def _literal_prefix(pattern: PurePath) -> tuple[Path, str]:
    """Split ``a/b/*.md`` into the directory ``a/b`` and the glob ``*.md`` below it."""
    parts = pattern.parts
    literal: list[str] = []
    for part in parts:
        if _WILDCARDS & set(part):
            break
        literal.append(part)
    if len(literal) == len(parts):        # no wildcard: the last part is the file itself
        literal = literal[:-1]
    rest = parts[len(literal):]
    return Path(*literal) if literal else Path(), str(PurePath(*rest))


def map_matches(pattern: str, repo: Path, outside_paths: Sequence[str] = ()) -> list[Path]:
    """The regular files ``pattern`` matches, sorted; `UsageError` if none or any lies outside."""
    if not pattern.strip():
        raise UsageError("--map was given an empty pattern", hint="give a glob relative to the repository, "
                                                                  "e.g. --map 'specs/*.md'")
    if "\x00" in pattern:
        raise UsageError(f"--map {pattern!r} contains a NUL byte")
    roots = Roots.of((repo,), outside_paths, label="the repository")
    expanded = os.path.expanduser(pattern)
    directory, below = _literal_prefix(PurePath(expanded))
    start = directory if directory.is_absolute() else repo / directory
    if not roots.allows(os.path.realpath(start)):
        raise UsageError(f"--map {pattern!r} looks outside the repository {repo} (in {os.path.realpath(start)})",
                         hint=f"use a glob relative to the repository; {OUTSIDE_PATHS_HINT}")
    try:
        found = sorted(match for match in start.glob(below) if match.is_file()) if below != "." else []
    except (ValueError, NotImplementedError, OSError) as exc:
        raise UsageError(f"--map {pattern!r} is not a usable glob: {exc}",
                         hint="give a glob relative to the repository, e.g. --map 'specs/*.md'") from None
    if not found:
        raise UsageError(f"--map {pattern!r} matched no files in {repo}")
    outside = [match for match in found if not roots.allows(os.path.realpath(match))]
    if outside:
        shown = ", ".join(f"{match} -> {os.path.realpath(match)}" for match in outside[:_SHOWN])
        more = f" and {len(outside) - _SHOWN} more" if len(outside) > _SHOWN else ""
        raise UsageError(f"--map {pattern!r} matches files that lead outside the repository {repo}: {shown}{more}",
                         hint=f"symlinked files count by where they lead; {OUTSIDE_PATHS_HINT}")
    return found
