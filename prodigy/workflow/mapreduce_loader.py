"""Read a ``mode: mapreduce`` file into a validated `MapReduceWorkflow`, and load either kind of file.

    load_any(path)     -> LoadedWorkflow | LoadedMapReduce      (what `validate` and `cook` use)
    parse_mapreduce(text, path)

Errors name the file, line and key exactly like standard workflows (`prodigy.workflow.loader`
does the formatting). Upstream ignores keys it does not know; here an unknown top-level key that
looks like a typo of a real one is an error with a did-you-mean, and any other is a warning that
it is ignored. Keys upstream accepts but does nothing with (or removed) load with one warning each
that says so. Pure apart from reading the one file.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from prodigy.errors import WorkflowFileError
from prodigy.workflow.loader import (
    LoadedWorkflow,
    deprecated_step_warnings,
    format_errors,
    is_mapreduce_document,
    parse_workflow,
    position_of,
    read_document,
    read_workflow_text,
)
from prodigy.workflow.mapreduce import MapReduceDocument, MapReduceWorkflow
from prodigy.workflow.shell_lint import unquoted_outside_warnings

__all__ = ["LoadedMapReduce", "is_mapreduce_file", "load_any", "load_mapreduce", "parse_any", "parse_mapreduce"]


@dataclass(frozen=True)
class LoadedMapReduce:
    """A MapReduce workflow as read once for a run, with the exact text it came from (a
    cluster run ships this text, so its pods run what was validated)."""

    workflow: MapReduceWorkflow
    warnings: list[str] = field(default_factory=list)
    text: str = ""


def load_any(path: Path) -> LoadedWorkflow | LoadedMapReduce:
    """Read ``path`` and validate it as whichever kind of workflow it is."""
    return parse_any(read_workflow_text(path), path)


def parse_any(text: str, path: Path) -> LoadedWorkflow | LoadedMapReduce:
    data, tree = read_document(text, path)
    if is_mapreduce_document(data):
        return _validate(data, tree, path, text)
    return parse_workflow(text, path)


def load_mapreduce(path: Path) -> LoadedMapReduce:
    loaded = load_any(path)
    if not isinstance(loaded, LoadedMapReduce):
        raise WorkflowFileError(f"{path} is not a MapReduce workflow (it has no `mode: mapreduce`)")
    return loaded


def parse_mapreduce(text: str, path: Path) -> LoadedMapReduce:
    data, tree = read_document(text, path)
    if not is_mapreduce_document(data):
        raise WorkflowFileError(f"{path} is not a MapReduce workflow (it has no `mode: mapreduce`)")
    return _validate(data, tree, path, text)


def is_mapreduce_file(path: Path) -> bool:
    """Whether ``path`` is a MapReduce workflow (False when it cannot be read or parsed at all)."""
    try:
        data, _ = read_document(read_workflow_text(path), path)
    except WorkflowFileError:
        return False
    return is_mapreduce_document(data)


_KNOWN = {info.alias or name for name, info in MapReduceDocument.model_fields.items()}


def _validate(data: dict[str, Any], tree: Any, path: Path, text: str) -> LoadedMapReduce:
    warnings: list[str] = []
    kept: dict[str, Any] = {}
    for key, value in data.items():
        if key in _KNOWN:
            kept[key] = value
            continue
        suggestion = difflib.get_close_matches(str(key), sorted(_KNOWN), n=1, cutoff=0.75)
        where = _where(tree, (key,), path)
        if suggestion:
            raise WorkflowFileError(f"Invalid workflow {where}: {key}: unknown key `{key}` "
                                    f"(did you mean `{suggestion[0]}`?)")
        warnings.append(f"{where}: unknown top-level key `{key}` is ignored")
    try:
        document = MapReduceDocument.model_validate(kept)
    except ValidationError as error:
        raise WorkflowFileError(format_errors(error.errors(), tree, path, root=MapReduceDocument)) from None
    workflow = MapReduceWorkflow.from_document(document, source=path)
    # Work items are outside values too: `${item.field}` pasted into a shell command is shell code.
    return LoadedMapReduce(workflow, warnings + deprecated_step_warnings(tree, path)
                           + _compatibility_warnings(document, data, tree, path)
                           + unquoted_outside_warnings(tree if tree is not None else data, workflow, path), text)


def _where(tree: Any, loc: Sequence[int | str], path: Path) -> str:
    position = position_of(tree, loc, key_error=True)
    return f"{path}:{position.line}" if position else str(path)


def _compatibility_warnings(document: MapReduceDocument, data: dict[str, Any], tree: Any, path: Path) -> list[str]:
    """One warning per key that loads but does not do what its name says (see the module docstring)."""
    found: list[str] = []

    def warn(loc: tuple[int | str, ...], message: str) -> None:
        found.append(f"{_where(tree, loc, path)}: {message}")

    spec = document.map
    raw_map = data.get("map") if isinstance(data.get("map"), dict) else {}
    assert isinstance(raw_map, dict)
    if isinstance(raw_map.get("agent_template"), dict):
        warn(("map", "agent_template"), "`agent_template: {commands: [...]}` is the older form; list the steps "
                                        "directly under `agent_template:`")
    if isinstance(data.get("reduce"), dict):
        warn(("reduce",), "`reduce: {commands: [...]}` is the older form; list the steps directly under `reduce:`")
    if spec.timeout_per_agent is not None:
        warn(("map", "timeout_per_agent"), "`timeout_per_agent` was renamed `agent_timeout_secs`"
             + ("; it is used as that" if spec.agent_timeout_secs is None else " and is ignored here, "
                "because `agent_timeout_secs` is set"))
    if "retry_on_failure" in raw_map:
        warn(("map", "retry_on_failure"), "`retry_on_failure` has no effect (upstream removed it); "
                                          "use `on_item_failure: retry`")
    if spec.timeout_config is not None:
        ignored = sorted(set(raw_map.get("timeout_config") or {}) - {"agent_timeout_secs"})
        if ignored:
            verb = "has" if len(ignored) == 1 else "have"
            warn(("map", "timeout_config"), f"timeout_config: {', '.join(ignored)} {verb} no effect "
                                            "(only agent_timeout_secs is used)")
    raw_setup = data.get("setup")
    if isinstance(raw_setup, dict) and isinstance(raw_setup.get("capture_outputs"), dict):
        for name, capture in raw_setup["capture_outputs"].items():
            if isinstance(capture, dict) and set(capture) - {"command_index"}:
                extras = ", ".join(sorted(set(capture) - {"command_index"}))
                warn(("setup", "capture_outputs", name), f"capture_outputs.{name}: {extras} ha"
                     f"{'s' if ',' not in extras else 've'} no effect (the command's whole output is captured)")
    policy = data.get("error_policy") if isinstance(data.get("error_policy"), dict) else {}
    assert isinstance(policy, dict)
    for source, loc in ((data, ()), (policy, ("error_policy",))):
        action = source.get("on_item_failure")
        if isinstance(action, str) and action not in ("dlq", "retry", "skip", "stop"):
            warn((*loc, "on_item_failure"), f"on_item_failure: {action!r} is not dlq, retry, skip or stop; "
                                            "failed items go to the dead-letter queue (dlq)")
        collection = source.get("error_collection")
        if isinstance(collection, str) and collection != "aggregate":
            warn((*loc, "error_collection"), f"error_collection: {collection} has no effect (failures are shown as "
                                             "they happen and summed up at the end)")
    if "circuit_breaker" in policy:
        warn(("error_policy", "circuit_breaker"), "error_policy.circuit_breaker has no effect; use max_failures "
                                                  "or failure_threshold")
    if isinstance(policy.get("retry_config"), dict) and "backoff" in policy["retry_config"]:
        warn(("error_policy", "retry_config", "backoff"), "retry_config.backoff has no effect (items are retried "
                                                          "right away)")
    if document.env_files:
        warn(("env_files",), "`env_files` is not supported yet and is ignored; put the variables in `env:`")
    if document.profiles:
        warn(("profiles",), "`profiles` are not supported yet and are ignored")
    return found
