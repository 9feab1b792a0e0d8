"""Prodigy: run AI-assisted development workflows in isolated git worktrees, locally or on Kubernetes."""

from __future__ import annotations

__version__ = "0.1.0"
