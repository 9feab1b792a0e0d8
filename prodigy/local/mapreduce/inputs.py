"""Load a MapReduce run's work items: read the input file or run the input command, then select.

Upstream's rule for `map.input`: an existing file (relative to the session worktree) is read as
JSON; anything else is a shell command run in the session worktree (5 minute limit). The input is
interpolated first with the workflow's env and the variables setup captured.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prodigy.errors import WorkflowFailed
from prodigy.local.shell import run_shell
from prodigy.workflow.interpolate import interpolate
from prodigy.workflow.item_selection import (
    InputError,
    Selection,
    items_from_command_output,
    parse_json_input,
    select_items,
)
from prodigy.workflow.mapreduce import MapPhase

__all__ = ["LoadedItems", "load_items"]

INPUT_COMMAND_TIMEOUT = 300
_LOOKS_LIKE_FILE = re.compile(r"^[\w./~-]+\.(json|jsonl)$")


@dataclass(frozen=True)
class LoadedItems:
    items: list[object]
    selection: Selection
    source: str                # "items.json" or "command `find ...`"

    def describe(self, spec: MapPhase) -> list[str]:
        lines = [f"{self.selection.found} item{'s' if self.selection.found != 1 else ''} from {self.source}"]
        lines.extend(self.selection.describe(spec.selection))
        return lines


def load_items(spec: MapPhase, *, workdir: Path, env: Mapping[str, str],
               variables: Mapping[str, object]) -> LoadedItems:
    text = interpolate(spec.input, variables).strip()
    path = Path(text).expanduser()
    path = path if path.is_absolute() else workdir / path
    if path.is_file():
        try:
            document = parse_json_input(path.read_text(encoding="utf-8"), text)
        except (InputError, UnicodeDecodeError) as error:
            raise WorkflowFailed(f"map input: {error}", hint="setup must write a JSON document there") from None
        source = text
    else:
        if _LOOKS_LIKE_FILE.match(text):
            raise WorkflowFailed(f"map input {text} does not exist in the session worktree {workdir}",
                                 hint="create it in `setup:` (or commit it), or give a command that prints "
                                      "the items")
        ran = run_shell(text, cwd=workdir, env=env, timeout=INPUT_COMMAND_TIMEOUT)
        if not ran.success:
            detail = (ran.stderr or ran.stdout).strip().splitlines()
            raise WorkflowFailed(f"map input command `{text}` failed with exit code {ran.exit_code}"
                                 + (f": {detail[-1]}" if detail else ""))
        document = items_from_command_output(ran.stdout)
        source = f"command `{text}`"
    selection = select_items(document, spec.selection)
    return LoadedItems(list(selection.items), selection, source)
