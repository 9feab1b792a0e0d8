"""Run one Claude Code command the way upstream Prodigy does, and report its progress.

Streaming mode (default):
    claude -p --output-format stream-json --verbose --dangerously-skip-permissions "<command>"
Print mode (``PRODIGY_CLAUDE_STREAMING=false``):
    claude --print --dangerously-skip-permissions "<command>"

Both run with ``PRODIGY_AUTOMATION=true``, empty stdin, cwd = the worktree. In streaming mode
every stdout line is appended to ``$PRODIGY_HOME/logs/claude-streaming/<ts>-<uuid>.jsonl`` and
turned into readable progress (tool uses, the final result, cost) by `prodigy.ui.claude_stream`.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prodigy import paths, redact
from prodigy.local.shell import ProcessResult, run_process
from prodigy.redact import Redactor
from prodigy.ui import claude_stream

CLAUDE_EXECUTABLE = "claude"
# Set in a cluster run's pod (prodigy.k8s.manifests.pod), so a missing CLI is reported with its image.
AGENT_IMAGE_ENV = "PRODIGY_AGENT_IMAGE"
MISSING_EXIT_CODE = 127                  # what a shell reports for a command it cannot find


@dataclass(frozen=True)
class ClaudeResult:
    process: ProcessResult
    output: str                      # the final result text (stream) or stdout (print mode)
    outcome: claude_stream.StreamOutcome
    log_path: Path | None

    @property
    def success(self) -> bool:
        return self.process.success and not self.outcome.is_error

    def failure_message(self, command: str) -> str:
        """Upstream's wording: which stream said why, plus where the full log is."""
        process = self.process
        if process.stderr.strip():
            detail = f"stderr: {process.stderr.strip()}"
        elif self.outcome.is_error and self.outcome.result_text:
            detail = f"result: {self.outcome.result_text.strip()}"
        elif process.stdout.strip() and self.log_path is None:
            detail = f"stdout: {process.stdout.strip()}"
        else:
            detail = f"exit code: {process.exit_code}"
        log = f"\nFull log: {self.log_path}" if self.log_path else ""
        return f"Claude command '{command}' failed: {detail}{log}"


def streaming_enabled(environ: Mapping[str, str]) -> bool:
    return environ.get("PRODIGY_CLAUDE_STREAMING", "true").strip().lower() not in {"false", "0", "no"}


def claude_argv(command: str, *, streaming: bool) -> list[str]:
    if streaming:
        return [CLAUDE_EXECUTABLE, "-p", "--output-format", "stream-json", "--verbose",
                "--dangerously-skip-permissions", command]
    return [CLAUDE_EXECUTABLE, "--print", "--dangerously-skip-permissions", command]


def claude_available(environ: Mapping[str, str]) -> bool:
    return shutil.which(CLAUDE_EXECUTABLE, path=environ.get("PATH")) is not None


def missing_claude_message(command: str, environ: Mapping[str, str]) -> str:
    """The step error when `claude` cannot be found: what is missing, where, and how to fix it."""
    image = environ.get(AGENT_IMAGE_ENV)
    where = f"in the image {image}" if image else "on this machine"
    fix = ("use an image that has it (docker/agent builds one): the cluster's `image:` in kubernetes.yaml, or --image"
           if image else "install Claude Code (npm install -g @anthropic-ai/claude-code)")
    return (f"Claude command '{command}' failed: the Claude Code CLI (`{CLAUDE_EXECUTABLE}`) is not installed "
            f"{where} (not on PATH={environ.get('PATH', '')}); {fix}")


def new_log_path(home: Path | None = None) -> Path:
    stamp = datetime.now().strftime("%Y%m%d_%H%M%S")
    return paths.claude_logs_dir(home) / f"{stamp}-{uuid.uuid4()}.jsonl"


def run_claude(command: str, *, cwd: Path, env: Mapping[str, str], timeout: float | None = None,
               verbosity: int = 0, emit: Callable[[str], None] = print,
               on_stderr: Callable[[str], None] | None = None, home: Path | None = None,
               redactor: Redactor | None = None) -> ClaudeResult:
    """Run `command` through the Claude CLI; `emit` receives one progress line at a time.

    The streaming log is mode 0600 and has secrets masked (``redactor`` plus every workflow secret
    this process has loaded), like everything else prodigy writes.
    """
    mask = (redactor or Redactor()) | redact.known()
    full_env = {**env, "PRODIGY_AUTOMATION": "true"}
    if timeout is not None:
        full_env["PRODIGY_COMMAND_TIMEOUT"] = str(int(timeout))
    streaming = streaming_enabled(full_env)
    echo_raw = verbosity >= 2 or full_env.get("PRODIGY_CLAUDE_CONSOLE_OUTPUT", "").lower() == "true"
    if not streaming:
        process = run_process(claude_argv(command, streaming=False), cwd=cwd, env=full_env, timeout=timeout,
                              on_stdout=lambda line: emit(line.rstrip("\n")), on_stderr=on_stderr)
        return ClaudeResult(process, process.stdout, claude_stream.StreamOutcome(), None)

    log_path = new_log_path(home)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    state = {"outcome": claude_stream.StreamOutcome()}
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(fd, "a", encoding="utf-8", errors="replace") as log:
        def on_line(line: str) -> None:
            log.write(mask.text(line if line.endswith("\n") else line + "\n"))
            log.flush()
            event = claude_stream.parse_line(line)
            if event is None:
                if line.strip():
                    emit(line.rstrip("\n"))
                return
            state["outcome"] = claude_stream.fold(state["outcome"], event)
            if echo_raw:
                emit(line.rstrip("\n"))
            for progress in claude_stream.format_event(event, verbosity):
                emit(progress)

        process = run_process(claude_argv(command, streaming=True), cwd=cwd, env=full_env, timeout=timeout,
                              on_stdout=on_line, on_stderr=on_stderr)
    outcome = state["outcome"]
    if verbosity >= 1:
        emit(f"Claude log: {log_path}")
    return ClaudeResult(process, outcome.result_text or "", outcome, log_path)
