"""Pure helpers for the variables a step sees, and for turning captured output into a value.

The executor owns the live variable map; these functions only build and parse values so that the
rules (names, formats, errors) are in one tested place.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from prodigy.errors import UsageError
from prodigy.redact import MASK, Redactor
from prodigy.yaml_input import Limits, check_json_depth
from prodigy.workflow.model import CaptureFormat, StepKind

__all__ = [
    "CaptureError",
    "MASK",
    "arg_from_map_path",
    "mask_secrets",
    "output_variable",
    "parse_capture",
    "standard_variables",
]



CAPTURE_LIMITS = Limits(max_depth=64)


class CaptureError(ValueError):
    """Captured output does not match the step's ``capture_format``."""


def standard_variables(
    *,
    project_root: Path | str,
    worktree: Path | str | None = None,
    arg: str | None = None,
    iteration: int = 1,
    env: Mapping[str, str] | None = None,
) -> dict[str, object]:
    """The variables every step starts with.

    ``ARG`` is the current ``--args``/``--map`` input and ``ARG_1``…``ARG_n`` its whitespace-separated
    words. ``PROJECT_ROOT`` is the directory steps run in (the worktree), ``WORKTREE`` its name.
    Workflow ``env`` values are visible as ``$NAME`` too, so a step can say ``${NAME}``.
    """
    variables: dict[str, object] = dict(env or {})
    root = str(project_root)
    variables["PROJECT_ROOT"] = root
    variables["WORKTREE"] = Path(str(worktree)).name if worktree is not None else Path(root).name
    variables["ITERATION"] = str(iteration)
    if arg is not None:
        variables["ARG"] = arg
        for index, word in enumerate(arg.split(), start=1):
            variables[f"ARG_{index}"] = word
    return variables


def arg_from_map_path(path: Path | str) -> str:
    """Upstream's ``--map`` rule: ARG is the file stem up to the first ``-`` (``65-cook.md`` -> ``65``)."""
    stem = Path(str(path)).stem
    return stem.split("-", 1)[0] or stem


def output_variable(kind: StepKind) -> str:
    """Where ``capture_output: true`` stores output: ``shell.output``, ``claude.output`` …"""
    return f"{kind.value}.output"


_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_TRUE = frozenset({"true", "yes", "1", "y", "on"})
_FALSE = frozenset({"false", "no", "0", "n", "off", ""})


def parse_capture(output: str, capture_format: CaptureFormat | str = CaptureFormat.STRING) -> object:
    """Turn a step's captured text into the value stored in its variable.

    ``string``: the text without trailing newlines (like ``$(...)`` in a shell);
    ``json``: the parsed document; ``lines``: a list of the non-empty lines;
    ``number``: an int when it is one, else a float; ``boolean``: true/yes/1/on vs false/no/0/off/empty.
    """
    fmt = CaptureFormat(capture_format)
    if fmt is CaptureFormat.STRING:
        return output.rstrip("\r\n")
    if fmt is CaptureFormat.LINES:
        return [line for line in output.splitlines() if line.strip()]
    text = output.strip()
    if fmt is CaptureFormat.JSON:
        try:
            # Python's JSON parser recurses: deeply nested output would exhaust the stack.
            check_json_depth(text, Path("output"), what="captured", limits=CAPTURE_LIMITS, error=UsageError)
            return json.loads(text)
        except UsageError:
            raise CaptureError(f"output is JSON nested more than {CAPTURE_LIMITS.max_depth} levels deep: "
                               f"{_clip(text)}") from None
        except json.JSONDecodeError as error:
            raise CaptureError(f"output is not valid JSON ({error.msg} at line {error.lineno}): {_clip(text)}") from None
    if fmt is CaptureFormat.NUMBER:
        if not _NUMBER.fullmatch(text):
            raise CaptureError(f"output is not a number: {_clip(text)}")
        number = float(text)
        return int(number) if number.is_integer() and re.fullmatch(r"[+-]?\d+", text) else number
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise CaptureError(f"output is not a boolean (true/false): {_clip(text)}")


def _clip(text: str, limit: int = 80) -> str:
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def mask_secrets(text: str, secrets: Iterable[str]) -> str:
    """Replace every occurrence of a secret value in ``text`` (the rule is `prodigy.redact.Redactor`)."""
    return Redactor.of(secrets).text(text)
