"""Read a workflow file into a validated `Workflow`, or fail with errors that name file, line and key.

``.yml``/``.yaml`` files are parsed as YAML 1.2 with ruamel's round-trip loader, which remembers the
line and column of every node; anything else is JSON (the same schema; positions come from parsing
the JSON text as YAML, which it is). Validation is pydantic (`prodigy.workflow.model`); each
pydantic error location is mapped back to the node's line so the message reads
``wf.yml:7:20: commands[2].on_failure.max_attempts: expected a whole number, got 'three'``.

Everything here is pure apart from reading the one file (through `prodigy.yaml_input`, which also
bounds its size, nesting and alias expansion) and remembering its secrets for masking
(`prodigy.redact`); nothing is printed. Deprecations, ignored keys and shell commands that paste
outside values in unquoted (`prodigy.workflow.shell_lint`) are returned as `LoadedWorkflow.warnings`
for the caller to show.
"""

from __future__ import annotations

import difflib
import json
import types
import typing
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from prodigy import redact, yaml_input
from prodigy.errors import WorkflowFileError
from prodigy.workflow import compat
from prodigy.workflow.model import Workflow, WorkflowDocument
from prodigy.workflow.shell_lint import unquoted_outside_warnings

__all__ = ["LoadedWorkflow", "MAX_REPORTED_ERRORS", "deprecated_step_warnings", "format_errors", "is_mapreduce_document",
           "load_workflow",
           "parse_workflow", "position_of", "read_document", "read_workflow_text"]

MAX_REPORTED_ERRORS = 10
_STEPS_HINT = (
    "a workflow is a list of steps (or a mapping with `commands:`), e.g.\n  - shell: make test\n  - claude: /prodigy-lint"
)
YAML_SUFFIXES = (".yml", ".yaml")
_HIDDEN_KEYS = frozenset({"test"})  # still accepted (deprecated), never suggested


@dataclass(frozen=True)
class LoadedWorkflow:
    """A workflow as read once for a run: the validated model, and the exact text it came from
    (a cluster run ships this text, so the pod runs what was validated, whatever happens to the
    file meanwhile)."""

    workflow: Workflow
    warnings: list[str] = field(default_factory=list)
    text: str = ""


@dataclass(frozen=True)
class _Position:
    line: int  # 1-based
    column: int  # 1-based


def load_workflow(path: Path) -> LoadedWorkflow:
    """Read and validate ``path``; raises WorkflowFileError (exit 2) for anything wrong with it."""
    loaded = parse_workflow(read_workflow_text(path), path, limits=yaml_input.workflow_limits())
    # Remembered for the whole process: crash logs and the run index mask these values too.
    redact.remember(loaded.workflow.secrets.values())
    return loaded


def read_workflow_text(path: Path) -> str:
    """The text of a workflow file; WorkflowFileError (exit 2) when it cannot be read."""
    limits = yaml_input.workflow_limits()
    try:
        return yaml_input.read_text_file(path, what="Workflow file", limits=limits, error=WorkflowFileError)
    except FileNotFoundError:
        raise WorkflowFileError(f"Workflow file not found: {path}", hint=_nearby_workflows_hint(path)) from None
    except IsADirectoryError:
        raise WorkflowFileError(f"Workflow path is a directory, not a file: {path}",
                                hint=_nearby_workflows_hint(path / "workflow.yml")) from None
    except OSError as error:
        raise WorkflowFileError(f"Cannot read workflow file {path}: {error.strerror or error}") from None


def _nearby_workflows_hint(path: Path, limit: int = 5) -> str:
    """Name the workflow files next to ``path`` (and in ``.prodigy/``) so a typo is easy to fix."""
    folders = [path.parent, path.parent / ".prodigy"]
    found = sorted({candidate for folder in folders if folder.is_dir()
                    for suffix in (*YAML_SUFFIXES, ".json") for candidate in folder.glob(f"*{suffix}")})
    if not found:
        return "check the path; `prodigy init` creates .prodigy/workflow.yml"
    names = ", ".join(str(candidate) for candidate in found[:limit])
    more = f" (and {len(found) - limit} more)" if len(found) > limit else ""
    return f"workflow files nearby: {names}{more}"


def read_document(text: str, path: Path, *, limits: yaml_input.Limits | None = None) -> tuple[Any, Any]:
    """Parse ``text`` (YAML or JSON by the suffix of ``path``): plain data plus a tree with positions.
    Nesting depth and alias expansion are checked on the parser's events first (``limits``)."""
    limits = limits or yaml_input.Limits()
    if path.suffix.lower() in YAML_SUFFIXES:
        yaml_input.check_yaml_structure(text, path, what="Workflow file", limits=limits, error=WorkflowFileError)
        tree = _parse_yaml(text, path)
        data = _plain(tree)
    else:
        yaml_input.check_json_depth(text, path, what="Workflow file", limits=limits, error=WorkflowFileError)
        data, tree = _parse_json(text, path)
    if data is None or (isinstance(data, str) and not data.strip()):
        raise WorkflowFileError(f"Workflow file {path} is empty", hint=_STEPS_HINT)
    return data, tree


def is_mapreduce_document(data: Any) -> bool:
    """``mode: mapreduce`` at the top level (upstream tests the raw text; a parsed key is exact)."""
    return isinstance(data, dict) and data.get("mode") == "mapreduce"


def parse_workflow(text: str, path: Path, *, limits: yaml_input.Limits | None = None) -> LoadedWorkflow:
    """Validate standard-workflow ``text`` as if read from ``path`` (the suffix picks YAML or JSON)."""
    data, tree = read_document(text, path, limits=limits)
    if is_mapreduce_document(data):
        raise WorkflowFileError(
            f"{path} is a MapReduce workflow (`mode: mapreduce`); this command takes a standard workflow",
            hint="run it with: prodigy cook " + str(path),
        )
    if not isinstance(data, list | dict):
        raise WorkflowFileError(
            f"{path}: a workflow must be a list of steps or a mapping with `commands:`, not {_describe(data)}",
            hint=_STEPS_HINT,
        )
    bare_list = isinstance(data, list)
    steps = data if isinstance(data, list) else data.get("commands")
    if isinstance(steps, list) and not steps:
        raise WorkflowFileError(f"Workflow file {path} has no steps", hint=_STEPS_HINT)
    if isinstance(data, dict) and "commands" not in data and "steps" in data:
        position = position_of(tree, ("steps",), key_error=True)
        line = position.line if position else 1
        raise WorkflowFileError(
            f"Invalid workflow {path}:{line}: `steps:` is not a workflow key; list the steps under `commands:`",
            hint=_STEPS_HINT,
        )
    ignored: list[str] = []
    known = {info.alias or name for name, info in WorkflowDocument.model_fields.items()}
    if isinstance(data, dict) and "commands" in data:
        # Upstream ignores unknown top-level keys (real workflows carry `config:` blocks), so next to
        # `commands:` an unknown key is a warning; without `commands:` it is reported as the likely typo.
        ignored = [str(key) for key in data if key not in known]
        data = {key: value for key, value in data.items() if key in known}
    try:
        document = WorkflowDocument.model_validate({"commands": data} if bare_list else data)
    except ValidationError as error:
        raise WorkflowFileError(format_errors(error.errors(), tree, path, bare_list=bare_list)) from None
    workflow = Workflow.from_document(document, source=path, default_name=path.stem)
    warnings = [_ignored_key_warning(tree, key, known, path) for key in ignored]
    warnings += _warnings(tree, document, path)
    warnings += unquoted_outside_warnings(tree if tree is not None else data, workflow, path)
    return LoadedWorkflow(workflow=workflow, warnings=warnings, text=text)


def _ignored_key_warning(tree: Any, key: str, known: set[str], path: Path) -> str:
    position = position_of(tree, (key,), key_error=True)
    where = f"{path}:{position.line}" if position else str(path)
    suggestion = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    hint = f" (did you mean `{suggestion[0]}`?)" if suggestion else ""
    return f"{where}: unknown top-level key `{key}` is ignored{hint}"


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------


def _parse_yaml(text: str, path: Path) -> Any:
    yaml = YAML(typ="rt")
    try:
        return yaml.load(text)
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or error.context or "invalid YAML"
        if mark is None:
            raise WorkflowFileError(f"Invalid YAML in {path}: {problem}") from None
        context = ""
        start = error.context_mark
        if error.context and start is not None and start is not mark:
            # e.g. an unclosed quote: the problem is at the end of the file, the cause where it began.
            context = f" ({error.context}, which starts at line {start.line + 1}, column {start.column + 1})"
        raise WorkflowFileError(
            f"Invalid YAML in {path} at line {mark.line + 1}, column {mark.column + 1}: {problem}{context}\n"
            + _caret(text, mark.line, mark.column),
            hint=_yaml_hint(problem),
        ) from None
    except YAMLError as error:
        raise WorkflowFileError(f"Invalid YAML in {path}: {error}") from None


def _yaml_hint(problem: str) -> str | None:
    if "mapping values are not allowed" in problem:
        return "quote the value if it contains ': ' (e.g. shell: \"echo a: b\")"
    if "found character '\\t'" in problem:
        return "YAML does not allow tabs for indentation; use spaces"
    if "duplicate key" in problem:
        return "each key may appear once per mapping"
    return None


def _parse_json(text: str, path: Path) -> tuple[Any, Any]:
    """The JSON document, plus a ruamel tree of the same text that knows every node's line (or None)."""
    try:
        data = json.loads(text) if text.strip() else None
    except json.JSONDecodeError as error:
        raise WorkflowFileError(
            f"Invalid JSON in {path} at line {error.lineno}, column {error.colno}: {error.msg}\n"
            + _caret(text, error.lineno - 1, error.colno - 1),
            hint="workflow files that do not end in .yml/.yaml are read as JSON",
        ) from None
    # Valid JSON is (nearly always) valid YAML 1.2, so parsing it again as YAML gives every node its
    # position. Values still come from `json`: YAML reads an escaped surrogate pair as two code points.
    try:
        tree = YAML(typ="rt").load(text)
    except YAMLError:
        tree = None
    return data, tree


def _caret(text: str, line: int, column: int) -> str:
    lines = text.splitlines() or [""]
    line = min(max(line, 0), len(lines) - 1)
    number = f"{line + 1} | "
    return f"  {number}{lines[line]}\n  {' ' * len(number)}{' ' * column}^"


def _plain(node: Any) -> Any:
    """ruamel's round-trip types (CommentedMap, ScalarString, ScalarFloat …) as plain Python values."""
    if isinstance(node, dict):
        return {_plain(key): _plain(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_plain(item) for item in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


# ---------------------------------------------------------------------------------------------
# Error reporting
# ---------------------------------------------------------------------------------------------


def format_errors(errors: Sequence[ErrorDetails], tree: Any, path: Path, *, bare_list: bool = False,
                  root: type[BaseModel] = WorkflowDocument) -> str:
    """Pydantic errors as ``file:line:col: key.path: message`` lines (``root`` is the validated model)."""
    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for error in errors:
        loc = _strip_tags(error["loc"])
        shown_loc = loc[1:] if bare_list and loc[:1] == ("commands",) else loc
        message = _describe_error(error, loc, root)
        position = position_of(tree, shown_loc, key_error=error["type"] in ("extra_forbidden", "unsupported"))
        field_path = _render_path(shown_loc) or "(top level)"
        key = (field_path, message)
        if key in seen:
            continue
        seen.add(key)
        where = f"{path}:{position.line}:{position.column}" if position else str(path)
        problems.append(f"{where}: {field_path}: {message}")
    shown = problems[:MAX_REPORTED_ERRORS]
    if len(problems) > len(shown):
        shown.append(f"… and {len(problems) - len(shown)} more")
    if len(problems) == 1:
        return f"Invalid workflow {shown[0]}"
    return f"Invalid workflow {path} ({len(problems)} problems):\n" + "\n".join(f"  {line}" for line in shown)


def _strip_tags(loc: tuple[int | str, ...]) -> tuple[int | str, ...]:
    # Union tags (see model.py) and pydantic's dict-key marker are not part of the user's file.
    return tuple(
        segment
        for segment in loc
        if not (isinstance(segment, str) and segment.startswith("<") and segment.endswith(">"))
        and segment != "[key]"
    )


def _render_path(loc: Sequence[int | str]) -> str:
    text = ""
    for segment in loc:
        if isinstance(segment, int):
            text += f"[{segment}]"
        else:
            text += f".{segment}" if text else str(segment)
    return text


def position_of(tree: Any, loc: Sequence[int | str], *, key_error: bool) -> _Position | None:
    """Line/column of the deepest node on ``loc`` that exists in the file."""
    node = tree
    position: _Position | None = _Position(1, 1)
    for index, segment in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, CommentedMap) and segment in node:
            marks = node.lc.data.get(segment)
            if marks is None:  # a key merged in from an anchor (`<<: *defaults`) has no marks of its own
                return position
            key_line, key_column, value_line, value_column = marks
            if last and key_error:
                return _Position(key_line + 1, key_column + 1)
            position = _Position(value_line + 1, value_column + 1)
            node = node[segment]
        elif isinstance(node, CommentedSeq) and isinstance(segment, int) and 0 <= segment < len(node):
            line, column = node.lc.data[segment]
            position = _Position(line + 1, column + 1)
            node = node[segment]
        else:
            break
    return position


_TYPE_WORDS = {
    "string_type": "expected a string",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "list_type": "expected a list",
    "dict_type": "expected a mapping (key: value pairs)",
    "model_type": "expected a mapping (key: value pairs)",
    "model_attributes_type": "expected a mapping (key: value pairs)",
}


def _describe_error(error: ErrorDetails, loc: tuple[int | str, ...], root: type[BaseModel]) -> str:
    kind = error["type"]
    value = error.get("input")
    if kind == "extra_forbidden":
        key = loc[-1] if loc else "?"
        message = f"unknown key `{key}`"
        suggestion = difflib.get_close_matches(str(key), _keys_at(loc[:-1], root), n=1, cutoff=0.6)
        if suggestion:
            message += f" (did you mean `{suggestion[0]}`?)"
        else:
            allowed = _keys_at(loc[:-1], root)
            if allowed:
                message += f"; allowed keys: {', '.join(allowed)}"
        return message
    if kind == "missing":
        key = loc[-1] if loc else "?"
        return f"missing required key `{key}`"
    if kind in ("too_short",) and isinstance(value, list) and not value:
        return "must not be empty"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in _TYPE_WORDS:
        return f"{_TYPE_WORDS[kind]}, got {_describe(value)}"
    if kind in ("literal_error", "enum"):
        expected = str(error.get("ctx", {}).get("expected", "")).replace("'", "")
        return f"expected one of {expected}, got {_describe(value)}"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, ") :]
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        return f"{message[0].lower()}{message[1:]}, got {_describe(value)}"
    return message


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _keys_at(loc: Sequence[int | str], root: type[BaseModel] = WorkflowDocument) -> list[str]:
    """The keys the model at ``loc`` accepts (used for did-you-mean), or [] if not a model."""
    annotation: Any = root
    for segment in loc:
        annotation = _descend(annotation, segment)
        if annotation is None:
            return []
    model = _model_of(annotation)
    if model is None:
        return []
    keys = [info.alias or name for name, info in model.model_fields.items()]
    return [key for key in keys if key not in _HIDDEN_KEYS]


def _members(annotation: Any) -> Iterator[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        yield from _members(typing.get_args(annotation)[0])
    elif origin is typing.Union or origin is types.UnionType:
        for member in typing.get_args(annotation):
            yield from _members(member)
    else:
        yield annotation


def _model_of(annotation: Any) -> type[BaseModel] | None:
    for member in _members(annotation):
        if isinstance(member, type) and issubclass(member, BaseModel):
            return member
    return None


def _descend(annotation: Any, segment: int | str) -> Any:
    if isinstance(segment, int):
        for member in _members(annotation):
            if typing.get_origin(member) is list:
                return typing.get_args(member)[0]
        return None
    model = _model_of(annotation)
    if model is not None:
        for name, info in model.model_fields.items():
            if segment in (name, info.alias):
                return info.annotation
        return None
    for member in _members(annotation):
        if typing.get_origin(member) is dict:
            return typing.get_args(member)[1]
    return None


# ---------------------------------------------------------------------------------------------
# Warnings
# ---------------------------------------------------------------------------------------------


def deprecated_step_warnings(tree: Any, path: Path) -> list[str]:
    """One warning per deprecated step form anywhere in the file (`test:`), and one per key that
    loads the way upstream loads it but does nothing (see `prodigy.workflow.compat`)."""
    warnings = [
        f"{path}:{line}: `test:` is deprecated; it runs as `shell:` with `on_failure:` "
        "(write `shell: <command>` and move `on_failure` up to the step)"
        for line in _deprecated_test_lines(tree)
    ]
    data = _plain(tree) if tree is not None else None
    notes = list(compat.no_effect_notes(data)) + list(_validate_notes(data))
    for loc, note in notes:
        position = position_of(tree, loc, key_error=True)
        warnings.append(f"{path}:{position.line}: {note}" if position else f"{path}: {note}")
    return warnings


def _validate_notes(node: Any, loc: tuple[int | str, ...] = ()) -> Iterator[tuple[tuple[int | str, ...], str]]:
    if isinstance(node, dict):
        spec = node.get("validate")
        if isinstance(spec, dict):
            if "claude" in spec and "shell" in spec:
                yield (*loc, "validate", "shell"), ("`validate:` has both `claude` and `shell`; the claude command "
                                                     "validates and the shell one is ignored (as upstream)")
            if "expected_schema" in spec:
                yield (*loc, "validate", "expected_schema"), ("`validate.expected_schema` has no effect (upstream "
                                                               "parses it but never checks it)")
        for key, value in node.items():
            yield from _validate_notes(value, (*loc, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _validate_notes(value, (*loc, index))


def _warnings(tree: Any, document: WorkflowDocument, path: Path) -> list[str]:
    warnings = deprecated_step_warnings(tree, path)
    if document.env_files:
        warnings.append(f"{path}: `env_files` is not supported yet and is ignored; put the variables in `env:`")
    if document.profiles:
        warnings.append(f"{path}: `profiles` are not supported yet and are ignored")
    return warnings


def _deprecated_test_lines(node: Any) -> Iterator[int]:
    if isinstance(node, CommentedMap):
        for key, value in node.items():
            if key == "test" and isinstance(value, dict):
                marks = node.lc.data.get(key)
                yield marks[0] + 1 if marks else node.lc.line + 1
            yield from _deprecated_test_lines(value)
    elif isinstance(node, CommentedSeq):
        for item in node:
            yield from _deprecated_test_lines(item)
