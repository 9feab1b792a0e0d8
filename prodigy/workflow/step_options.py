"""What a step may say besides its command: the option schemas (pydantic, user-written input).

`prodigy.workflow.model` defines `Step` itself and resolves the forward references to it here
(the schema is recursive: handlers, validators and foreach bodies are steps again).

Unions that users write in several shapes (``on_failure``, ``validate`` …) are *tagged*: a
function picks the one member that matches the input's shape, so a wrong value produces one error
in words instead of one error per union member. Tags are written ``<like-this>``; the loader drops
them from error paths.
"""

from __future__ import annotations

import re
from enum import StrEnum
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, field_validator, model_validator
from pydantic_core import PydanticCustomError

if TYPE_CHECKING:
    from prodigy.workflow.model import Step

__all__ = [
    "CaptureFormat",
    "CaptureStreams",
    "EnvValue",
    "ForeachSpec",
    "NonEmptyText",
    "OnFailureInput",
    "OnFailureSpec",
    "OnIncompleteInput",
    "OnIncompleteSpec",
    "OutputSpec",
    "PositiveInt",
    "StepKind",
    "StrictModel",
    "TestSpec",
    "ValidateInput",
    "ValidateSpec",
    "WriteFileSpec",
    "capture_streams_value",
    "instance_of",
    "scalar_text",
    "shape_tag",
]


class StepKind(StrEnum):
    CLAUDE = "claude"
    SHELL = "shell"
    WRITE_FILE = "write_file"
    FOREACH = "foreach"


class CaptureFormat(StrEnum):
    STRING = "string"
    JSON = "json"
    LINES = "lines"
    NUMBER = "number"
    BOOLEAN = "boolean"


class CaptureStreams(StrEnum):
    STDOUT = "stdout"
    STDERR = "stderr"
    BOTH = "both"


_STREAM_WORDS = frozenset({"stdout", "stderr", "both", "exit_code", "success", "duration"})


def capture_streams_value(value: Any) -> Any:
    """``capture_streams`` as upstream's files write it: ``stdout``/``stderr``/``both``, a list such as
    ``"stdout,stderr,exit_code"``, or the mapping ``{stdout: true, stderr: true, exit_code: true}``.
    Exit code, success and duration are always recorded (``${name.exit_code}`` ...), so only the
    text streams decide anything."""
    if isinstance(value, dict):
        words = {str(key) for key, flag in value.items() if flag}
        unknown = {str(key) for key in value} - _STREAM_WORDS
    elif isinstance(value, str):
        words = {word for word in re.split(r"[\s,+|]+", value.strip().lower()) if word}
        unknown = words - _STREAM_WORDS
    else:
        return value
    if unknown:
        raise PydanticCustomError("shape", "unknown stream {unknown}; use stdout, stderr or both (exit_code, success "
                                           "and duration are always recorded)", {"unknown": ", ".join(sorted(unknown))})
    if "both" in words or {"stdout", "stderr"} <= words:
        return CaptureStreams.BOTH.value
    return CaptureStreams.STDERR.value if "stderr" in words else CaptureStreams.STDOUT.value


class StrictModel(BaseModel):
    """Unknown keys are errors (typos get a did-you-mean); parsed workflows are immutable values."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


def _shape_error(expected: str) -> PydanticCustomError:
    return PydanticCustomError("shape", "expected {expected}", {"expected": expected})


def scalar_text(value: Any) -> Any:
    """YAML turns `PORT: 8080` or `DEBUG: true` into numbers/booleans; env values are text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


EnvValue = Annotated[str, BeforeValidator(scalar_text)]
PositiveInt = Annotated[int, Field(ge=1)]
NonEmptyText = Annotated[str, Field(min_length=1)]


def instance_of(expected: str, *types: type) -> BeforeValidator:
    """Reject anything that isn't one of ``types`` with one message (instead of one per union member)."""

    def check(value: Any) -> Any:
        if not isinstance(value, types):
            raise _shape_error(expected)
        return value

    return BeforeValidator(check)


# ---------------------------------------------------------------------------------------------
# Nested specs
# ---------------------------------------------------------------------------------------------


class WriteFileSpec(StrictModel):
    """``write_file: {path, content, format, mode, create_dirs}``; path and content are interpolated."""

    path: NonEmptyText
    content: str
    format: Literal["text", "json", "yaml"] = "text"
    mode: str = "0644"
    create_dirs: bool = False

    @field_validator("mode", mode="before")
    @classmethod
    def _octal_mode(cls, value: Any) -> Any:
        # YAML 1.2 reads an unquoted 0644 as the decimal number 644; the digits are what the user meant.
        if isinstance(value, int) and not isinstance(value, bool):
            value = f"0{value}"
        if isinstance(value, str) and not re.fullmatch(r"0?[0-7]{3,4}", value):
            raise _shape_error('an octal file mode such as "0644"')
        return value

    @property
    def mode_bits(self) -> int:
        return int(self.mode, 8)


class ForeachSpec(StrictModel):
    """``foreach: {foreach: <command or list>, do: [steps], parallel, continue_on_error, max_items}``."""

    items: Annotated[str | list[str], instance_of("a shell command (string) or a list of strings", str, list)] = Field(
        alias="foreach"
    )
    steps: list[Step] = Field(alias="do", min_length=1)
    parallel: Annotated[bool | int, instance_of("true/false or a number of parallel items", bool, int)] = False
    continue_on_error: bool = False
    max_items: PositiveInt | None = None

    @property
    def max_parallel(self) -> int:
        """How many items run at once (1 = sequential)."""
        if self.parallel is True:
            return 4
        if self.parallel is False:
            return 1
        return max(1, self.parallel)


class OutputSpec(StrictModel):
    """``outputs: {name: {file_pattern: glob}}``: ``${<step id>.<name>}`` is the path of the newest file
    the step's commits touched that matches the pattern (upstream's structured-command outputs)."""

    file_pattern: NonEmptyText


class TestSpec(StrictModel):
    """Deprecated ``test: {command, on_failure}``; converted to ``shell`` + ``on_failure`` on load."""

    __test__ = False  # not a pytest test class, despite the name

    command: NonEmptyText
    on_failure: OnFailureSpec | None = None


class OnFailureSpec(StrictModel):
    """The mapping form of ``on_failure``.

    Two upstream shapes share it: the retry loop ``{claude, max_attempts=3, fail_workflow=false,
    commit_required=true}`` (on shell steps) and the handler ``{shell?|claude?|commands?,
    fail_workflow=false, max_attempts|max_retries}``. `Step.failure` tells them apart.
    """

    claude: NonEmptyText | None = None
    shell: NonEmptyText | None = None
    commands: list[Step] | None = None
    fail_workflow: bool | None = None
    max_attempts: PositiveInt | None = None
    max_retries: Annotated[int, Field(ge=0)] | None = None
    commit_required: bool | None = None
    # Upstream's full-step handler: the handler command's own handlers, and the older retry switch.
    on_success: Step | None = None
    on_failure: OnFailureInput | None = None
    retry_original: bool | None = None

    @model_validator(mode="after")
    def _one_action(self) -> OnFailureSpec:
        given = [name for name in ("claude", "shell", "commands") if getattr(self, name) is not None]
        if len(given) > 1:
            raise PydanticCustomError(
                "shape", "use only one of `claude`, `shell` or `commands` (found {found})", {"found": ", ".join(given)}
            )
        if self.max_attempts is not None and self.max_retries is not None:
            raise PydanticCustomError("shape", "use either `max_attempts` or `max_retries`, not both")
        return self


class OnIncompleteSpec(StrictModel):
    """``on_incomplete: {claude?|shell?|commands?, max_attempts=2, fail_workflow=true, commit_required=false, prompt?}``."""

    claude: NonEmptyText | None = None
    shell: NonEmptyText | None = None
    commands: list[Step] | None = None
    prompt: str | None = None
    max_attempts: PositiveInt = 2
    fail_workflow: bool = True
    commit_required: bool = False

    @model_validator(mode="after")
    def _one_action(self) -> OnIncompleteSpec:
        _require_one_action(self.claude, self.shell, self.commands)
        return self


class ValidateSpec(StrictModel):
    """``validate: {claude?|shell?|commands?, threshold=100, timeout?, result_file?, on_incomplete?}``.

    Like upstream: with only ``result_file`` it reads the file the step itself wrote; with both
    ``claude`` and ``shell`` the claude command is the validator (the loader warns about the shell one).
    """

    claude: NonEmptyText | None = None
    shell: NonEmptyText | None = None
    commands: list[Step] | None = None
    threshold: Annotated[float, Field(ge=0, le=100)] = 100.0
    timeout: PositiveInt | None = None
    result_file: NonEmptyText | None = None
    on_incomplete: OnIncompleteInput | None = None
    expected_schema: Any = None        # upstream parses it and never uses it (the loader warns)

    @model_validator(mode="after")
    def _one_action(self) -> ValidateSpec:
        if self.commands is not None and (self.claude is not None or self.shell is not None):
            raise PydanticCustomError("shape", "use `commands:` or `claude:`/`shell:`, not both")
        if self.commands is None and self.claude is None and self.shell is None and self.result_file is None:
            raise PydanticCustomError("shape", "needs `claude`, `shell` or `commands` to run, or a `result_file` "
                                               "written by the step itself")
        return self


def _require_one_action(claude: str | None, shell: str | None, commands: list[Step] | None) -> None:
    given = [name for name, value in (("claude", claude), ("shell", shell), ("commands", commands)) if value is not None]
    if len(given) != 1:
        raise PydanticCustomError(
            "shape",
            "needs exactly one of `claude`, `shell` or `commands` (found {found})",
            {"found": ", ".join(given) or "none"},
        )


def shape_tag(value: Any) -> str | None:
    if isinstance(value, bool):
        return "<bool>"
    if isinstance(value, str):
        return "<command>"
    if isinstance(value, list):
        return "<list>"
    if isinstance(value, dict | BaseModel):
        return "<mapping>"
    return None


OnFailureInput = Annotated[
    Annotated[bool, Tag("<bool>")]
    | Annotated[NonEmptyText, Tag("<command>")]
    | Annotated[list[Union[NonEmptyText, "Step"]], Tag("<list>")]
    | Annotated[OnFailureSpec, Tag("<mapping>")],
    Discriminator(
        shape_tag,
        custom_error_type="shape",
        custom_error_message="expected true/false, a command, a list of commands or steps, or a mapping such as "
        "{claude: '/fix ${shell.output}', max_attempts: 3}",
    ),
]

OnIncompleteInput = Annotated[
    Annotated[list["Step"], Tag("<list>")] | Annotated[OnIncompleteSpec, Tag("<mapping>")],
    Discriminator(
        shape_tag,
        custom_error_type="shape",
        custom_error_message="expected a list of steps or a mapping such as {claude: '/complete ${validation.gaps}'}",
    ),
]

ValidateInput = Annotated[
    Annotated[list["Step"], Tag("<list>")] | Annotated[ValidateSpec, Tag("<mapping>")],
    Discriminator(
        shape_tag,
        custom_error_type="shape",
        custom_error_message="expected a list of steps or a mapping such as {claude: '/check', result_file: 'r.json'}",
    ),
]


def checked_expression(value: str, parse: Callable[[str], object], errors: type[Exception],
                       label: str = "") -> str:
    """``value`` when ``parse`` accepts it. Expressions are parsed when the file loads, so a bad
    one is a validation error (type "expression", ``label`` before the parser's message) that the
    loader reports with its key and line, before anything runs."""
    try:
        parse(value)
    except errors as error:
        raise PydanticCustomError("expression", label + "{error}", {"error": str(error)}) from None
    return value
