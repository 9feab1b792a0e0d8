"""Keep the paths steps write (and ``--map`` reads) inside the worktree or repository.

``write_file``, ``output_file`` and ``working_dir`` are interpolated, so an ``--args`` value or a
captured line such as ``../../.bashrc`` could otherwise point a write anywhere the user can write.
A path is accepted when, with every symlink that exists resolved (``os.path.realpath``), it lies
inside one of the given roots: the worktree (or, for ``--map``, the repository), or a directory
the workflow lists under ``outside_paths:`` — the one explicit way out::

    outside_paths: [/tmp/reports, ~/shared-specs]

``..``, absolute paths and symlinked directories are all judged by where they lead, not how they
are spelled. (A step could still swap a checked directory for a symlink before prodigy writes;
containment guards against values, not against the workflow's own commands, which run as the user.)
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = ["OUTSIDE_PATHS_HINT", "PathRefused", "Roots", "contain"]

OUTSIDE_PATHS_HINT = ("keep it inside, or list the directory under `outside_paths:` in the workflow "
                      "(e.g. outside_paths: [/tmp/reports])")


class PathRefused(ValueError):
    """A path that leads outside the allowed roots (or cannot be a path at all)."""


@dataclass(frozen=True)
class Roots:
    """Where paths may lead: ``inside`` (worktree / repository) plus the workflow's ``outside_paths``."""

    inside: tuple[Path, ...]
    outside: tuple[Path, ...] = ()
    label: str = "the worktree"

    @classmethod
    def of(cls, inside: Iterable[Path], outside_paths: Iterable[str] = (), *, label: str = "the worktree") -> Roots:
        return cls(tuple(inside), tuple(Path(os.path.expanduser(entry)) for entry in outside_paths), label)

    def allows(self, real: str) -> bool:
        for root in (*self.inside, *self.outside):
            base = os.path.realpath(root)
            if real == base or real.startswith(base.rstrip(os.sep) + os.sep):
                return True
        return False


def contain(base: Path, text: str, roots: Roots, *, what: str) -> Path:
    """``text`` (relative to ``base``, or absolute) as a path, if it leads inside ``roots``."""
    if "\x00" in text:
        raise PathRefused(f"{what} {text!r} contains a NUL byte")
    if not text.strip():
        raise PathRefused(f"{what} is empty")
    target = Path(text) if os.path.isabs(text) else base / text
    real = os.path.realpath(target)
    if not roots.allows(real):
        raise PathRefused(f"{what} {text!r} leads outside {roots.label} (to {real}); {OUTSIDE_PATHS_HINT}")
    return target
