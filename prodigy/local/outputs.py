"""Pure helpers for what steps produce: captured values, failure texts, validation results.

No I/O here except where a function's name says so (`write_shell_output_file`).
"""

from __future__ import annotations

import fnmatch
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prodigy.errors import UsageError
from prodigy.ui.format import truncate_output
from prodigy.workflow.model import CaptureStreams
from prodigy.workflow.variables import CAPTURE_LIMITS
from prodigy.yaml_input import check_json_depth

# Upstream hands `${shell.output}` to the fix command inline up to this many bytes, else as a file path.
SHELL_OUTPUT_INLINE_LIMIT = 10_000


def declared_output(commits: Sequence[Any], pattern: str) -> str | None:
    """`outputs: {name: {file_pattern}}`: the newest file the step's commits touched that matches."""
    for commit in reversed(commits):
        for name in commit.files:
            if fnmatch.fnmatch(name, pattern) or fnmatch.fnmatch(name.rsplit("/", 1)[-1], pattern):
                return str(name)
    return None


def select_streams(stdout: str, stderr: str, streams: CaptureStreams) -> str:
    if streams is CaptureStreams.STDERR:
        return stderr
    if streams is CaptureStreams.BOTH:
        return stdout + stderr
    return stdout


def shell_output_text(stdout: str, stderr: str) -> str:
    """`${shell.output}` for the fix command when the output is small enough to inline."""
    return f"STDOUT:\n{stdout}\n\nSTDERR:\n{stderr}"


def shell_output_too_big(stdout: str, stderr: str) -> bool:
    return len(stdout.encode()) + len(stderr.encode()) > SHELL_OUTPUT_INLINE_LIMIT


def write_shell_output_file(stdout: str, stderr: str, directory: Path | None = None) -> Path:
    """Large failing output goes to a temp file; `${shell.output}` becomes its path."""
    with tempfile.NamedTemporaryFile("w", prefix="prodigy-shell-output-", suffix=".txt", delete=False,
                                     dir=directory, encoding="utf-8") as fh:
        fh.write(f"=== STDOUT ===\n{stdout}\n=== STDERR ===\n{stderr}\n")
        return Path(fh.name)


def step_failure_message(display: str, exit_code: int, stdout: str, stderr: str) -> str:
    """Upstream's `Step '<display>' failed with exit code N` plus an excerpt of the output."""
    message = f"Step '{display}' failed with exit code {exit_code}"
    if stderr.strip():
        message += f"\n\n=== Error Output (stderr) ===\n{truncate_output(stderr)}"
    elif stdout.strip():
        message += f"\n\n=== Output (stdout) ===\n{truncate_output(stdout)}"
    return message


def no_commits_explanation(display: str) -> list[str]:
    """The block upstream prints when a `commit_required` step made no commit."""
    return [
        f"Workflow stopped: No changes were committed by {display}",
        "The command executed successfully but did not create any git commits.",
        "If this step is not expected to change code, set `commit_required: false` on it;",
        "otherwise make the command (or the Claude slash command) commit its changes.",
        "Alternatively, run with PRODIGY_NO_COMMIT_VALIDATION=true to skip all validation.",
    ]


def no_commits_error(display: str) -> str:
    return f"No commits created by {display}"


@dataclass(frozen=True)
class ValidationResult:
    """Upstream's ValidationResult JSON, tolerant of missing fields."""

    completion_percentage: float
    status: str = "incomplete"
    implemented: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    gaps: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None           # why the result could not be read, if it couldn't

    def passes(self, threshold: float) -> bool:
        return self.problem is None and self.completion_percentage >= threshold

    def variables(self) -> dict[str, object]:
        """`${validation.*}` (upstream's names)."""
        return {
            "validation.completion": self.completion_percentage,
            "validation.completion_percentage": self.completion_percentage,
            "validation.missing": list(self.missing),
            "validation.missing_count": len(self.missing),
            "validation.status": self.status,
            "validation.implemented": list(self.implemented),
            "validation.gaps": dict(self.gaps),
        }


def parse_validation_result(text: str, source: str) -> ValidationResult:
    """Read a ValidationResult; anything unreadable counts as 0% with the reason recorded."""
    try:
        # The result becomes variables that are rendered and checkpointed: keep it shallow.
        check_json_depth(text, Path(source), what="validation result", limits=CAPTURE_LIMITS, error=UsageError)
        data = json.loads(text)
    except UsageError:
        return ValidationResult(0.0, "failed", problem=f"{source} is JSON nested too deeply to read")
    except ValueError:
        return ValidationResult(0.0, "failed", problem=f"{source} is not JSON")
    if not isinstance(data, Mapping) or not isinstance(data.get("completion_percentage"), int | float):
        return ValidationResult(0.0, "failed", problem=f"{source} has no numeric completion_percentage")

    def strings(key: str) -> tuple[str, ...]:
        value = data.get(key)
        return tuple(str(item) for item in value) if isinstance(value, list) else ()

    gaps = data.get("gaps")
    return ValidationResult(
        completion_percentage=float(data["completion_percentage"]),
        status=str(data.get("status", "incomplete")),
        implemented=strings("implemented"), missing=strings("missing"),
        gaps=gaps if isinstance(gaps, Mapping) else {},
    )


def format_validation(result: ValidationResult, threshold: float) -> str:
    if result.problem:
        return f"Validation failed: {result.problem}"
    word = "passed" if result.passes(threshold) else "incomplete"
    return f"Validation {word}: {result.completion_percentage:.1f}% complete (threshold: {threshold:.1f}%)"
