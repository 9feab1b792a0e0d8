"""The errors prodigy expects, and the exit code each one means.

    ProdigyError                 exit 1 unless a subclass says otherwise
    ├── UsageError               exit 2: bad flags, bad input files, bad config (before any side effect)
    │   ├── WorkflowFileError    a workflow file that cannot be parsed or validated
    │   └── ConfigError          ~/.prodigy/kubernetes.yaml and similar
    ├── WorkflowFailed           exit 1: a step failed; the worktree is kept for `prodigy resume`
    ├── GitError                 exit 1: a git command failed
    └── Interrupted              exit 130 (SIGINT) or 143 (SIGTERM)

Every error carries a message (what happened) and an optional hint (what to do next).
The CLI's one error handler prints them as ``Error: <message>`` and ``hint: <hint>``.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class ProdigyError(Exception):
    """An expected failure, shown to the user without a traceback."""

    exit_code = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class UsageError(ProdigyError):
    exit_code = EXIT_USAGE


class WorkflowFileError(UsageError):
    """A workflow file is invalid; the message names the file, line and key."""


class ConfigError(UsageError):
    """A configuration file or flag is invalid; the message names the file and key path."""


class WorkflowFailed(ProdigyError):
    exit_code = EXIT_FAILURE


class GitError(ProdigyError):
    exit_code = EXIT_FAILURE


class Interrupted(ProdigyError):
    def __init__(self, message: str = "interrupted", *, signal_exit_code: int = EXIT_SIGINT,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.exit_code = signal_exit_code
