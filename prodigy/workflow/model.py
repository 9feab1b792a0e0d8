"""The workflow file as data: `Step` and `Workflow`, plus normalised views for the executor.

The step schema is the *superset* described in prodigy-behaviour.md §2.8: every documented option is
accepted and honoured in standard workflows (upstream silently drops several of them, §2.2); the
option schemas live in `prodigy.workflow.step_options`. Unions that users write in several shapes
(``on_failure``, ``validate``, ``merge`` …) are resolved here, once, into small value objects
(`RetryFix`, `Handler`, `Validation`, `Incomplete`, `MergeBlock`), so the executor never
re-interprets raw YAML shapes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

from prodigy.workflow import compat, expressions, step_options
from prodigy.workflow.env_values import ComputedValue, EnvInput, SecretInput, split_env
from prodigy.workflow.step_options import (
    CaptureFormat,
    CaptureStreams,
    checked_expression,
    EnvValue,
    ForeachSpec,
    NonEmptyText,
    OnFailureInput,
    OnFailureSpec,
    OnIncompleteSpec,
    OutputSpec,
    PositiveInt,
    StepKind,
    StrictModel,
    TestSpec,
    ValidateInput,
    ValidateSpec,
    WriteFileSpec,
    capture_streams_value,
    scalar_text,
    shape_tag,
)

__all__ = [
    "CaptureFormat",
    "CaptureStreams",
    "ForeachSpec",
    "Handler",
    "Incomplete",
    "MergeBlock",
    "OnFailureSpec",
    "OnIncompleteSpec",
    "RetryFix",
    "Step",
    "StepKind",
    "ValidateSpec",
    "Validation",
    "Workflow",
    "WorkflowDocument",
    "WriteFileSpec",
]



# ---------------------------------------------------------------------------------------------
# Normalised views (what the executor consumes)
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryFix:
    """Shell retry loop: run the step; on failure run ``claude`` (with ``${shell.output}``) and retry.

    ``max_attempts`` counts runs of the shell command: 3 means up to 3 shell runs and 2 fixes.
    """

    claude: str
    max_attempts: int = 3
    fail_workflow: bool = False
    commit_required: bool = True


@dataclass(frozen=True)
class Handler:
    """Generic failure handler: run ``steps`` (with ``${error.*}``); all succeed -> step recovered.

    If a handler step fails, the original step is re-run up to ``max_retries`` times. With no
    ``steps`` the handler only decides whether the failure stops the workflow (``on_failure: true``).
    """

    steps: tuple[Step, ...] = ()
    fail_workflow: bool = False
    max_retries: int = 0


@dataclass(frozen=True)
class Incomplete:
    """What to do while validation reports less than the threshold."""

    steps: tuple[Step, ...]
    max_attempts: int = 2
    fail_workflow: bool = True
    commit_required: bool = False
    prompt: str | None = None


@dataclass(frozen=True)
class Validation:
    """Run ``steps`` after the step succeeds; read a ValidationResult JSON from ``result_file`` or stdout."""

    steps: tuple[Step, ...]
    threshold: float = 100.0
    timeout: int | None = None
    result_file: str | None = None
    on_incomplete: Incomplete | None = None


def command_step(text: str) -> Step:
    """Upstream's rule for handler strings: ``/name …`` is a Claude slash command, anything else is shell."""
    return Step(claude=text) if text.lstrip().startswith("/") else Step(shell=text)


def _action_steps(claude: str | None, shell: str | None, commands: list[Step] | None) -> tuple[Step, ...]:
    if commands is not None:
        return tuple(commands)
    if claude is not None:
        return (Step(claude=claude),)
    if shell is not None:
        return (Step(shell=shell),)
    return ()


# ---------------------------------------------------------------------------------------------
# Step
# ---------------------------------------------------------------------------------------------

_UNSUPPORTED_KINDS = {
    "goal_seek": "`goal_seek:` steps are not supported (upstream removed them); use a `shell:` or `claude:` step "
    "with `validate:` and `on_incomplete:` instead",
}


class Step(StrictModel):
    """One workflow step: exactly one of ``claude``, ``shell``, ``write_file``, ``foreach`` plus options."""

    claude: NonEmptyText | None = None
    shell: NonEmptyText | None = None
    write_file: WriteFileSpec | None = None
    foreach: ForeachSpec | None = None
    test: TestSpec | None = None

    id: NonEmptyText | None = None
    name: NonEmptyText | None = None
    commit_required: bool = False
    capture_output: Annotated[bool | str, step_options.instance_of("true/false or a variable name", bool, str)] = False
    capture: NonEmptyText | None = None
    capture_format: CaptureFormat = CaptureFormat.STRING
    capture_streams: Annotated[CaptureStreams, BeforeValidator(capture_streams_value)] = CaptureStreams.STDOUT
    output_file: NonEmptyText | None = None
    timeout: PositiveInt | None = None
    when: Annotated[NonEmptyText, BeforeValidator(scalar_text)] | None = None
    env: dict[str, EnvValue] = Field(default_factory=dict)
    working_dir: NonEmptyText | None = None
    on_failure: OnFailureInput | None = None
    on_success: Step | None = None
    validate_: ValidateInput | None = Field(default=None, alias="validate")
    outputs: dict[str, OutputSpec] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _refuse_removed_kinds(cls, data: Any) -> Any:
        # Upstream's other step shapes (plain strings, the older command form, `analyze:`, keys it
        # ignores) become this schema first; see `prodigy.workflow.compat`.
        data = compat.normalise_step(data)
        if isinstance(data, dict):
            for key, message in _UNSUPPORTED_KINDS.items():
                if key in data:
                    raise PydanticCustomError("unsupported", message)
        return data

    @field_validator("when")
    @classmethod
    def _parse_when(cls, value: str | None) -> str | None:
        if value is not None:
            checked_expression(value, expressions.parse, expressions.ExpressionError, "invalid condition: ")
        return value

    @model_validator(mode="after")
    def _exactly_one_kind(self) -> Step:
        kinds = [kind for kind in ("claude", "shell", "write_file", "foreach", "test") if getattr(self, kind) is not None]
        if not kinds:
            raise PydanticCustomError(
                "shape", "a step needs one of `claude`, `shell`, `write_file` or `foreach` (e.g. `- shell: make test`)"
            )
        if len(kinds) > 1:
            raise PydanticCustomError(
                "shape",
                "a step has exactly one of `claude`, `shell`, `write_file` or `foreach`; found {found}. "
                "Split it into separate steps",
                {"found": ", ".join(f"`{kind}`" for kind in kinds)},
            )
        if self.test is not None:
            if self.on_failure is not None:
                raise PydanticCustomError(
                    "shape", "put `on_failure` inside `test:` or convert the step to `shell:`, not both"
                )
            # Deprecated form: behave exactly like `shell:` + `on_failure:` (the loader warns).
            return self.model_copy(update={"shell": self.test.command, "on_failure": self.test.on_failure, "test": None})
        return self

    # -- views ----------------------------------------------------------------------------------

    @property
    def kind(self) -> StepKind:
        if self.claude is not None:
            return StepKind.CLAUDE
        if self.shell is not None:
            return StepKind.SHELL
        if self.write_file is not None:
            return StepKind.WRITE_FILE
        return StepKind.FOREACH

    @property
    def command(self) -> str:
        """The text of a claude/shell step; the path for write_file; the item source for foreach."""
        if self.claude is not None:
            return self.claude
        if self.shell is not None:
            return self.shell
        if self.write_file is not None:
            return self.write_file.path
        assert self.foreach is not None
        items = self.foreach.items
        return items if isinstance(items, str) else ", ".join(items)

    @property
    def display(self) -> str:
        """One-line label for headers and errors: ``shell: cargo test``, ``claude: /x``."""
        if self.name is not None:
            return self.name
        first_line = self.command.strip().splitlines()[0] if self.command.strip() else ""
        more = " …" if "\n" in self.command.strip() else ""
        return f"{self.kind.value}: {first_line}{more}"

    @property
    def capture_name(self) -> str | None:
        """The variable an explicit `capture:` / `capture_output: NAME` stores output into."""
        if self.capture is not None:
            return self.capture
        if isinstance(self.capture_output, str):
            return self.capture_output
        return None

    @property
    def captures_output(self) -> bool:
        """True when output must be kept (``capture_output: true`` stores it as ``<kind>.output``)."""
        return self.capture_output is not False or self.capture is not None

    @property
    def failure(self) -> RetryFix | Handler | None:
        """``on_failure`` as the executor needs it (None = a failure fails the workflow)."""
        spec = self.on_failure
        if spec is None or spec is False:
            return None
        if spec is True:
            return Handler(steps=(), fail_workflow=False)
        if isinstance(spec, str):
            return Handler(steps=(command_step(spec),))
        if isinstance(spec, list):
            return Handler(steps=tuple(command_step(entry) if isinstance(entry, str) else entry for entry in spec))
        nested = spec.on_success is not None or spec.on_failure is not None
        is_retry_loop = (
            self.kind is StepKind.SHELL and spec.claude is not None and spec.max_retries is None and not nested
            and spec.retry_original is None
        )
        if is_retry_loop:
            assert spec.claude is not None
            return RetryFix(
                claude=spec.claude,
                max_attempts=spec.max_attempts if spec.max_attempts is not None else 3,
                fail_workflow=bool(spec.fail_workflow),
                commit_required=spec.commit_required if spec.commit_required is not None else True,
            )
        if spec.max_retries is not None:
            retries = spec.max_retries
        elif spec.max_attempts is not None:
            retries = spec.max_attempts - 1  # attempts count the first run
        else:
            retries = 1 if spec.retry_original else 0   # upstream's default of one re-run, when asked for
        steps = _action_steps(spec.claude, spec.shell, spec.commands)
        if nested and len(steps) == 1:
            # Upstream's handler is a whole step: its own on_success/on_failure apply to it.
            steps = (steps[0].model_copy(update={"on_success": spec.on_success, "on_failure": spec.on_failure}),)
        fail = bool(spec.fail_workflow) if spec.fail_workflow is not None else False
        return Handler(steps=steps, fail_workflow=fail, max_retries=retries)

    @property
    def validation(self) -> Validation | None:
        spec = self.validate_
        if spec is None:
            return None
        if isinstance(spec, list):
            return Validation(steps=tuple(spec))
        return Validation(
            steps=_action_steps(spec.claude, spec.shell, spec.commands),
            threshold=spec.threshold,
            timeout=spec.timeout,
            result_file=spec.result_file,
            on_incomplete=_incomplete(spec.on_incomplete),
        )

    def children(self) -> tuple[Step, ...]:
        """Every step nested in this one (foreach body, handlers, validators, on_success)."""
        nested: list[Step] = []
        if self.foreach is not None:
            nested.extend(self.foreach.steps)
        failure = self.failure
        if isinstance(failure, Handler):
            nested.extend(failure.steps)
        if self.on_success is not None:
            nested.append(self.on_success)
        validation = self.validation
        if validation is not None:
            nested.extend(validation.steps)
            if validation.on_incomplete is not None:
                nested.extend(validation.on_incomplete.steps)
        return tuple(nested)


def _incomplete(spec: list[Step] | OnIncompleteSpec | None) -> Incomplete | None:
    if spec is None:
        return None
    if isinstance(spec, list):
        return Incomplete(steps=tuple(spec))
    return Incomplete(
        steps=_action_steps(spec.claude, spec.shell, spec.commands),
        max_attempts=spec.max_attempts,
        fail_workflow=spec.fail_workflow,
        commit_required=spec.commit_required,
        prompt=spec.prompt,
    )


# ---------------------------------------------------------------------------------------------
# Workflow
# ---------------------------------------------------------------------------------------------


class MergeSpec(StrictModel):
    commands: list[Step] = Field(min_length=1)
    timeout: PositiveInt | None = None


MergeInput = Annotated[
    Annotated[list["Step"], Tag("<list>")] | Annotated[MergeSpec, Tag("<mapping>")],
    Discriminator(
        shape_tag,
        custom_error_type="shape",
        custom_error_message="expected a list of steps or a mapping {commands: [...], timeout: seconds}",
    ),
]


@dataclass(frozen=True)
class MergeBlock:
    """A custom ``merge:`` block: steps run in the worktree with ``${merge.*}`` variables."""

    steps: tuple[Step, ...]
    timeout: int | None = None


def _absolute_directory(value: str) -> str:
    if not (value.startswith(("/", "~"))):
        raise PydanticCustomError(
            "outside_path", "expected an absolute directory (/path or ~/path) outside the worktree, got '{value}'",
            {"value": value})
    return value


# `outside_paths:` the only way a workflow lets write_file, output_file, working_dir and --map reach
# beyond the worktree/repository (prodigy.local.containment); each entry is an absolute directory.
OutsidePath = Annotated[NonEmptyText, AfterValidator(_absolute_directory)]


class WorkflowDocument(StrictModel):
    """The object shape of a workflow file (a bare list of steps is wrapped into ``commands``)."""

    name: NonEmptyText | None = None
    mode: Literal["standard", "mapreduce"] = "standard"
    commands: list[Step] = Field(min_length=1)
    env: dict[str, EnvInput] = Field(default_factory=dict)
    secrets: dict[str, SecretInput] = Field(default_factory=dict)
    outside_paths: list[OutsidePath] = Field(default_factory=list)
    env_files: list[str] = Field(default_factory=list)
    profiles: dict[str, Any] = Field(default_factory=dict)
    merge: MergeInput | None = None


class Workflow(StrictModel):
    """A validated workflow, ready to plan or run."""

    name: str
    steps: list[Step]
    env: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)
    # Structured env/secrets values worked out when the run starts (prodigy.workflow.env_values).
    computed_env: dict[str, ComputedValue] = Field(default_factory=dict)
    outside_paths: tuple[str, ...] = ()
    merge: MergeBlock | None = None
    source: Path | None = None

    @classmethod
    def from_document(cls, document: WorkflowDocument, *, source: Path | None, default_name: str) -> Workflow:
        merge: MergeBlock | None = None
        if isinstance(document.merge, list):
            merge = MergeBlock(steps=tuple(document.merge))
        elif document.merge is not None:
            merge = MergeBlock(steps=tuple(document.merge.commands), timeout=document.merge.timeout)
        env, secrets, computed = split_env(document.env, document.secrets)
        return cls(
            name=document.name or default_name,
            steps=list(document.commands),
            env=env,
            secrets=secrets,
            computed_env=computed,
            outside_paths=tuple(document.outside_paths),
            merge=merge,
            source=source,
        )

    @property
    def all_env(self) -> dict[str, str]:
        """Workflow env for every step: ``env`` plus ``secrets`` (secrets win; mask their values in output)."""
        return {**self.env, **self.secrets}

    def walk(self) -> list[Step]:
        """Every step in the workflow, nested ones included (depth first), merge block last."""
        found: list[Step] = []

        def visit(step: Step) -> None:
            found.append(step)
            for child in step.children():
                visit(child)

        for step in self.steps:
            visit(step)
        if self.merge is not None:
            for step in self.merge.steps:
                visit(step)
        return found

    @property
    def uses_claude(self) -> bool:
        """Whether any step (nested or in the merge block) needs the `claude` CLI."""
        return any(
            step.kind is StepKind.CLAUDE or isinstance(step.failure, RetryFix) for step in self.walk()
        )


# The option schemas refer to `Step` (foreach bodies, handlers, validators); resolve that now.
for _spec in (ForeachSpec, TestSpec, OnFailureSpec, OnIncompleteSpec, ValidateSpec):
    _spec.model_rebuild(_types_namespace={"Step": Step})
Step.model_rebuild()
MergeSpec.model_rebuild()
WorkflowDocument.model_rebuild()
Workflow.model_rebuild()
