"""A MapReduce workflow file as data (``mode: mapreduce``; upstream's `src/config/mapreduce.rs`).

    name: fix-todos
    mode: mapreduce
    setup: [steps] | {commands: [steps], timeout: seconds|$VAR, capture_outputs: {VAR: index}}
    map:
      input: items.json | "<shell command>"
      json_path: "$.items[*]"
      agent_template: [steps] | {commands: [steps]}        # the nested form is deprecated
      max_parallel: 10 | "${MAX_PARALLEL}"
      filter: "score >= 5"        sort_by: "score DESC"      distinct: id
      offset: 0                   max_items: 10              agent_timeout_secs: 600
    reduce: [steps] | {commands: [steps]}
    merge: [steps] | {commands: [steps], timeout: seconds}
    env / secrets / env_files / profiles                      as in standard workflows
    error_policy: {on_item_failure, continue_on_failure, max_failures, failure_threshold,
                   error_collection, retry_config}            or the same keys at the top level

Steps are the standard `Step` schema, so every step option works in every phase. The document
models (`*Spec`, `MapReduceDocument`) are what the user wrote; `MapReduceWorkflow` and its phases
are the normalised view the executor consumes. Pure; no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from prodigy.workflow import item_filter, jsonpath
from prodigy.workflow.item_filter import FilterExpression, SortKey
from prodigy.workflow.item_selection import SelectionSpec
from prodigy.workflow.model import MergeBlock, MergeInput, Step, StepKind, RetryFix, Workflow
from prodigy.workflow.env_values import ComputedValue, EnvInput, SecretInput, split_env
from prodigy.workflow.step_options import NonEmptyText, PositiveInt, StrictModel, checked_expression, shape_tag

__all__ = [
    "DEFAULT_MAX_PARALLEL",
    "ErrorPolicy",
    "ItemFailure",
    "MapPhase",
    "MapReduceDocument",
    "MapReduceWorkflow",
    "SetupPhase",
    "resolve_count",
]

DEFAULT_MAX_PARALLEL = 10
_REFERENCE = re.compile(r"^\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?$")


def _count_text(value: Any) -> Any:
    """An int, a numeric string or a `$VAR`/`${VAR}` reference, kept as text until the run resolves it."""
    if isinstance(value, bool):
        raise PydanticCustomError("shape", "expected a whole number or a variable such as ${MAX_PARALLEL}")
    if isinstance(value, int):
        if value < 1:
            raise PydanticCustomError("shape", "must be at least 1, got {value}", {"value": value})
        return str(value)
    if isinstance(value, str):
        text = value.strip()
        if text.isdigit() and int(text) >= 1:
            return text
        if _REFERENCE.match(text):
            return text
    raise PydanticCustomError("shape", "expected a whole number (at least 1) or a variable such as ${MAX_PARALLEL}, "
                                       "got {value!r}", {"value": value})


CountText = Annotated[str, BeforeValidator(_count_text)]


def resolve_count(text: str, lookup: dict[str, str], *, what: str) -> int:
    """``"10"`` -> 10; ``"${N}"`` -> int(lookup["N"]). ValueError says what could not be resolved."""
    if text.isdigit():
        return int(text)
    match = _REFERENCE.match(text)
    assert match is not None, text
    name = match.group(1)
    if name not in lookup:
        raise ValueError(f"{what}: {text} is not set (define {name} in the workflow's env: or the environment)")
    value = lookup[name].strip()
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{what}: {text} is {lookup[name]!r}, not a whole number of at least 1")
    return int(value)


# ---------------------------------------------------------------------------------------------
# What the user writes
# ---------------------------------------------------------------------------------------------


class CaptureOutputSpec(StrictModel):
    """``capture_outputs: {VAR: {command_index: 0}}`` (upstream's detailed form; extras are not used)."""

    command_index: Annotated[int, Field(ge=0)]
    source: str | None = None
    pattern: str | None = None
    json_path: str | None = None
    max_size: int | None = None
    default: str | None = None
    multiline: str | None = None


CaptureIndex = Annotated[
    Annotated[Annotated[int, Field(ge=0)], Tag("<index>")] | Annotated[CaptureOutputSpec, Tag("<mapping>")],
    Discriminator(
        lambda value: "<index>" if isinstance(value, int) and not isinstance(value, bool) else "<mapping>",
        custom_error_type="shape",
        custom_error_message="expected the index of a setup command (0 = the first) or {command_index: N}",
    ),
]


class SetupSpec(StrictModel):
    commands: list[Step] = Field(min_length=1)
    timeout: CountText | None = None
    capture_outputs: dict[str, CaptureIndex] = Field(default_factory=dict)


SetupInput = Annotated[
    Annotated[list[Step], Tag("<list>")] | Annotated[SetupSpec, Tag("<mapping>")],
    Discriminator(shape_tag, custom_error_type="shape",
                  custom_error_message="expected a list of steps or {commands: [...], timeout, capture_outputs}"),
]


class StepsSpec(StrictModel):
    """The older nested form ``{commands: [...]}`` of `agent_template` and `reduce`."""

    commands: list[Step] = Field(min_length=1)


StepsInput = Annotated[
    Annotated[Annotated[list[Step], Field(min_length=1)], Tag("<list>")] | Annotated[StepsSpec, Tag("<mapping>")],
    Discriminator(shape_tag, custom_error_type="shape",
                  custom_error_message="expected a list of steps (or the older {commands: [...]})"),
]


class TimeoutConfigSpec(StrictModel):
    """``map.timeout_config`` (upstream): only ``agent_timeout_secs`` changes anything here."""

    agent_timeout_secs: CountText | None = None
    command_timeouts: dict[str, int] = Field(default_factory=dict)
    timeout_policy: str | None = None
    cleanup_grace_period_secs: int | None = None
    timeout_action: str | None = None
    enable_monitoring: bool | None = None


class MapSpec(StrictModel):
    input: NonEmptyText
    json_path: str = ""
    agent_template: StepsInput
    max_parallel: CountText = str(DEFAULT_MAX_PARALLEL)
    filter: NonEmptyText | None = None
    sort_by: NonEmptyText | None = None
    max_items: Annotated[int, Field(ge=0)] | None = None
    offset: Annotated[int, Field(ge=0)] | None = None
    distinct: NonEmptyText | None = None
    agent_timeout_secs: CountText | None = None
    timeout_config: TimeoutConfigSpec | None = None
    # Upstream before 0.2: removed there, still in old files.
    timeout_per_agent: PositiveInt | None = None
    retry_on_failure: Any = None

    @field_validator("json_path")
    @classmethod
    def _json_path(cls, value: str) -> str:
        if value.strip():
            checked_expression(value, jsonpath.compile_path, jsonpath.JsonPathError, "invalid json_path: ")
        return value

    @field_validator("filter")
    @classmethod
    def _filter(cls, value: str | None) -> str | None:
        if value is not None:
            checked_expression(value, item_filter.parse_filter, item_filter.FilterError)
        return value

    @field_validator("sort_by")
    @classmethod
    def _sort_by(cls, value: str | None) -> str | None:
        if value is not None:
            checked_expression(value, item_filter.parse_sort, item_filter.FilterError)
        return value


class ItemFailure(StrEnum):
    DLQ = "dlq"
    RETRY = "retry"
    SKIP = "skip"
    STOP = "stop"


def _item_failure(value: Any) -> Any:
    # Upstream maps any other word to a "custom handler" that nothing calls; treat it as `dlq`.
    if isinstance(value, str) and value not in {member.value for member in ItemFailure}:
        return ItemFailure.DLQ.value
    return value


def _error_collection(value: Any) -> Any:
    if isinstance(value, str) and value not in ("aggregate", "immediate") and not re.fullmatch(r"batched:\d+", value):
        raise PydanticCustomError("shape", "expected aggregate, immediate or batched:N, got {value!r}",
                                  {"value": value})
    return value


ErrorCollection = Annotated[str, BeforeValidator(_error_collection)]


class RetryConfigSpec(StrictModel):
    max_attempts: PositiveInt = 3
    backoff: Any = None


class ErrorPolicySpec(StrictModel):
    on_item_failure: Annotated[ItemFailure, BeforeValidator(_item_failure)] | None = None
    continue_on_failure: bool | None = None
    max_failures: Annotated[int, Field(ge=0)] | None = None
    failure_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    error_collection: ErrorCollection | None = None
    circuit_breaker: Any = None
    retry_config: RetryConfigSpec | None = None


class MapReduceDocument(StrictModel):
    """The whole file. Top-level error-policy keys override the same keys under `error_policy:`."""

    name: NonEmptyText
    mode: Literal["mapreduce"] = "mapreduce"
    env: dict[str, EnvInput] = Field(default_factory=dict)
    secrets: dict[str, SecretInput] = Field(default_factory=dict)
    env_files: list[str] = Field(default_factory=list)
    profiles: dict[str, Any] = Field(default_factory=dict)
    setup: SetupInput | None = None
    map: MapSpec
    reduce: StepsInput | None = None
    merge: MergeInput | None = None
    error_policy: ErrorPolicySpec | None = None
    on_item_failure: Annotated[ItemFailure, BeforeValidator(_item_failure)] | None = None
    continue_on_failure: bool | None = None
    max_failures: Annotated[int, Field(ge=0)] | None = None
    failure_threshold: Annotated[float, Field(ge=0, le=1)] | None = None
    error_collection: ErrorCollection | None = None

    @model_validator(mode="after")
    def _capture_indexes(self) -> MapReduceDocument:
        if isinstance(self.setup, SetupSpec):
            count = len(self.setup.commands)
            for name, capture in self.setup.capture_outputs.items():
                index = capture if isinstance(capture, int) else capture.command_index
                if index >= count:
                    raise PydanticCustomError(
                        "shape", "setup.capture_outputs.{name}: command {index} does not exist (setup has {count} "
                        "command{s}, counted from 0)", {"name": name, "index": index, "count": count,
                                                        "s": "" if count == 1 else "s"})
        return self


# ---------------------------------------------------------------------------------------------
# What the executor consumes
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SetupPhase:
    steps: tuple[Step, ...]
    timeout: str | None = None          # seconds or a $VAR reference (resolved when the run starts)


@dataclass(frozen=True)
class MapPhase:
    input: str
    agent_steps: tuple[Step, ...]
    max_parallel: str = str(DEFAULT_MAX_PARALLEL)
    json_path: str | None = None
    filter: FilterExpression | None = None
    sort_by: tuple[SortKey, ...] = ()
    sort_text: str | None = None
    distinct: str | None = None
    offset: int | None = None
    max_items: int | None = None
    agent_timeout: str | None = None    # seconds or a $VAR reference

    @property
    def selection(self) -> SelectionSpec:
        return SelectionSpec(json_path=self.json_path, filter=self.filter, sort_by=self.sort_by,
                             distinct=self.distinct, offset=self.offset, max_items=self.max_items)


@dataclass(frozen=True)
class ErrorPolicy:
    """What a failed work item does to the run (upstream's `WorkflowErrorPolicy`, applied here)."""

    on_item_failure: ItemFailure = ItemFailure.DLQ
    continue_on_failure: bool = True
    max_failures: int | None = None
    failure_threshold: float | None = None
    retry_attempts: int = 3            # attempts per item with on_item_failure: retry

    def attempts_per_item(self) -> int:
        return self.retry_attempts if self.on_item_failure is ItemFailure.RETRY else 1

    def stop_reason(self, *, failed: int, finished: int) -> str | None:
        """Why the map phase must stop scheduling items after this many failures, or None."""
        if failed == 0:
            return None
        if self.on_item_failure is ItemFailure.STOP:
            return "an item failed (on_item_failure: stop)"
        if not self.continue_on_failure:
            return "an item failed (continue_on_failure: false)"
        if self.max_failures is not None and failed > self.max_failures:
            return f"{failed} item{'' if failed == 1 else 's'} failed (max_failures: {self.max_failures})"
        if self.failure_threshold is not None and finished and failed / finished > self.failure_threshold:
            return (f"{failed} of {finished} finished items failed, over the failure_threshold of "
                    f"{self.failure_threshold:g}")
        return None


@dataclass(frozen=True)
class MapReduceWorkflow:
    name: str
    map: MapPhase
    setup: SetupPhase | None = None
    reduce: tuple[Step, ...] = ()
    merge: MergeBlock | None = None
    env: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)
    computed_env: dict[str, ComputedValue] = field(default_factory=dict)
    error_policy: ErrorPolicy = ErrorPolicy()
    source: Path | None = None

    @property
    def all_env(self) -> dict[str, str]:
        return {**self.env, **self.secrets}

    def phase_workflow(self, phase: str, steps: tuple[Step, ...]) -> Workflow:
        """Steps of one phase as a standard `Workflow` (setup and reduce run through the standard engine)."""
        return Workflow(name=f"{self.name} ({phase})", steps=list(steps), env=dict(self.env),
                        secrets=dict(self.secrets), computed_env=dict(self.computed_env), merge=self.merge,
                        source=self.source)

    def for_merge(self) -> Workflow:
        """The parts the end of a session uses (merge block, env) as a standard `Workflow`."""
        return self.phase_workflow("merge", ())

    def walk(self) -> list[Step]:
        steps = [*(self.setup.steps if self.setup else ()), *self.map.agent_steps, *self.reduce]
        return self.phase_workflow("all", tuple(steps)).walk()

    @property
    def uses_claude(self) -> bool:
        # Agents fall back to Claude's merge command on a conflict, like every session merge.
        return any(step.kind is StepKind.CLAUDE or isinstance(step.failure, RetryFix) for step in self.walk())

    @classmethod
    def from_document(cls, document: MapReduceDocument, *, source: Path | None) -> MapReduceWorkflow:
        setup: SetupPhase | None = None
        if isinstance(document.setup, list):
            setup = SetupPhase(tuple(document.setup))
        elif document.setup is not None:
            steps = list(document.setup.commands)
            for name, capture in document.setup.capture_outputs.items():
                index = capture if isinstance(capture, int) else capture.command_index
                # `capture_outputs: {VAR: i}` is `capture: VAR` on command i.
                steps[index] = steps[index].model_copy(update={"capture": name})
            setup = SetupPhase(tuple(steps), document.setup.timeout)
        spec = document.map
        agent_steps = spec.agent_template if isinstance(spec.agent_template, list) else spec.agent_template.commands
        agent_timeout = spec.agent_timeout_secs
        if agent_timeout is None and spec.timeout_config is not None:
            agent_timeout = spec.timeout_config.agent_timeout_secs
        if agent_timeout is None and spec.timeout_per_agent is not None:
            agent_timeout = str(spec.timeout_per_agent)
        map_phase = MapPhase(
            input=spec.input, agent_steps=tuple(agent_steps), max_parallel=spec.max_parallel,
            json_path=spec.json_path.strip() or None,
            filter=item_filter.parse_filter(spec.filter) if spec.filter else None,
            sort_by=item_filter.parse_sort(spec.sort_by) if spec.sort_by else (), sort_text=spec.sort_by,
            distinct=spec.distinct, offset=spec.offset, max_items=spec.max_items, agent_timeout=agent_timeout)
        reduce: tuple[Step, ...] = ()
        if document.reduce is not None:
            reduce = tuple(document.reduce if isinstance(document.reduce, list) else document.reduce.commands)
        merge: MergeBlock | None = None
        if isinstance(document.merge, list):
            merge = MergeBlock(steps=tuple(document.merge))
        elif document.merge is not None:
            merge = MergeBlock(steps=tuple(document.merge.commands), timeout=document.merge.timeout)
        env, secrets, computed = split_env(document.env, document.secrets)
        return cls(name=document.name, map=map_phase, setup=setup, reduce=reduce, merge=merge, env=env,
                   secrets=secrets, computed_env=computed, error_policy=_error_policy(document), source=source)


def _error_policy(document: MapReduceDocument) -> ErrorPolicy:
    nested = document.error_policy or ErrorPolicySpec()

    def pick(name: str) -> Any:
        top = getattr(document, name)
        return top if top is not None else getattr(nested, name)

    defaults = ErrorPolicy()
    action = pick("on_item_failure")
    continue_on_failure = pick("continue_on_failure")
    retry = nested.retry_config
    return ErrorPolicy(
        on_item_failure=action if action is not None else defaults.on_item_failure,
        continue_on_failure=continue_on_failure if continue_on_failure is not None else defaults.continue_on_failure,
        max_failures=pick("max_failures"), failure_threshold=pick("failure_threshold"),
        retry_attempts=retry.max_attempts if retry is not None else defaults.retry_attempts)


for _model in (SetupSpec, StepsSpec, MapSpec, MapReduceDocument):
    _model.model_rebuild()
