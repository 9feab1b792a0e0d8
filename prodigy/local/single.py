"""`prodigy exec`: one command turned into a one-step workflow file (upstream's generator)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from prodigy import paths
from prodigy.errors import UsageError


def parse_exec_command(text: str) -> tuple[str, str]:
    """("claude"|"shell", command) from "claude: /x", "shell: make", "/x" or "make"."""
    stripped = text.strip()
    for kind in ("claude", "shell"):
        if stripped.startswith(f"{kind}:"):
            command = stripped[len(kind) + 1:].strip()
            if not command:
                raise UsageError(f"`{text}` has no command after `{kind}:`")
            return kind, command
    if not stripped:
        raise UsageError("exec needs a command, e.g. prodigy exec \"shell: make test\"")
    return ("claude" if stripped.startswith("/") else "shell"), stripped


def single_step_workflow(command: str, *, retry: int = 1, timeout: int | None = None) -> dict[str, object]:
    kind, text = parse_exec_command(command)
    step: dict[str, object] = {kind: text}
    if timeout is not None:
        step["timeout"] = timeout
    if retry > 1:
        # A handler without commands: re-run the step up to retry-1 more times, then fail.
        step["on_failure"] = {"max_attempts": retry, "fail_workflow": True}
    return {"name": f"exec {kind}", "commands": [step]}


def write_single_step_workflow(command: str, *, retry: int = 1, timeout: int | None = None,
                               home: Path | None = None) -> Path:
    """Write the workflow under $PRODIGY_HOME/exec/ so `prodigy resume` can find it later."""
    document = single_step_workflow(command, retry=retry, timeout=timeout)
    directory = paths.require_writable_home(home) / "exec"   # exit 2 naming PRODIGY_HOME if it cannot be
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"exec-{int(time.time() * 1000)}.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
