"""Structured `env:` and `secrets:` values (upstream's `EnvValue`/`SecretValue`, and its docs' forms).

    env:
      PLAIN: "text"                                  # the usual
      TOKEN: {secret: true, value: "${GITHUB_TOKEN}"}   # masked in output like `secrets:`
      BRANCH: {command: "git rev-parse --abbrev-ref HEAD", cache: true}
      MODE: {condition: "${CI} == 'true'", when_true: ci, when_false: local}
    secrets:
      API_KEY: {provider: env, key: SOURCE_VARIABLE}
      CERT: {provider: file, key: ~/.config/cert.pem}

Plain and ``{value}`` forms are static. The others are `ComputedValue`s: worked out when a run
starts, in its worktree (a command's output, a condition over the environment, another variable
or a file). `split_env` sorts a document's values into static env, static secrets and computed.
Pure: nothing here runs or reads anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Discriminator, Tag, model_validator
from pydantic_core import PydanticCustomError

from prodigy.workflow import expressions
from prodigy.workflow.step_options import NonEmptyText, StrictModel, checked_expression, scalar_text

__all__ = ["ComputedValue", "EnvInput", "SecretInput", "split_env"]


class EnvMapping(StrictModel):
    value: Annotated[str, BeforeValidator(scalar_text)] | None = None
    secret: bool = False
    command: NonEmptyText | None = None
    cache: bool = False
    condition: NonEmptyText | None = None
    when_true: Annotated[str, BeforeValidator(scalar_text)] | None = None
    when_false: Annotated[str, BeforeValidator(scalar_text)] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> EnvMapping:
        forms = [name for name, given in (("value", self.value is not None), ("command", self.command is not None),
                                          ("condition", self.condition is not None)) if given]
        if len(forms) != 1:
            raise PydanticCustomError("shape", "an env mapping needs exactly one of `value`, `command` or `condition` "
                                               "(found {found})", {"found": ", ".join(forms) or "none"})
        if self.condition is not None:
            if self.when_true is None or self.when_false is None:
                raise PydanticCustomError("shape", "`condition` needs both `when_true` and `when_false`")
            checked_expression(self.condition, expressions.parse, expressions.ExpressionError, "invalid condition: ")
        return self


class SecretMapping(StrictModel):
    provider: Literal["env", "file", "vault", "aws"]
    key: NonEmptyText
    version: str | None = None


def _scalar_tag(value: Any) -> str:
    return "<mapping>" if isinstance(value, dict) else "<text>"


EnvInput = Annotated[
    Annotated[Annotated[str, BeforeValidator(scalar_text)], Tag("<text>")] | Annotated[EnvMapping, Tag("<mapping>")],
    Discriminator(_scalar_tag, custom_error_type="shape",
                  custom_error_message="expected text or a mapping such as {secret: true, value: ...}"),
]
SecretInput = Annotated[
    Annotated[Annotated[str, BeforeValidator(scalar_text)], Tag("<text>")] | Annotated[SecretMapping, Tag("<mapping>")],
    Discriminator(_scalar_tag, custom_error_type="shape",
                  custom_error_message="expected text or a mapping such as {provider: env, key: NAME}"),
]


@dataclass(frozen=True)
class ComputedValue:
    """A value worked out when the run starts. ``kind``: command | condition | env | file | vault | aws."""

    kind: str
    text: str                     # the command, the condition, the variable name or the path
    when_true: str = ""
    when_false: str = ""
    secret: bool = False


def split_env(env: Mapping[str, str | EnvMapping],
              secrets: Mapping[str, str | SecretMapping]) -> tuple[dict[str, str], dict[str, str],
                                                                   dict[str, ComputedValue]]:
    """(static env, static secrets, computed values) of a document's `env:` and `secrets:`."""
    plain: dict[str, str] = {}
    hidden: dict[str, str] = {}
    computed: dict[str, ComputedValue] = {}
    for name, value in env.items():
        if isinstance(value, str):
            plain[name] = value
        elif value.value is not None:
            (hidden if value.secret else plain)[name] = value.value
        elif value.command is not None:
            computed[name] = ComputedValue("command", value.command, secret=value.secret)
        else:
            assert value.condition is not None and value.when_true is not None and value.when_false is not None
            computed[name] = ComputedValue("condition", value.condition, value.when_true, value.when_false,
                                           secret=value.secret)
    for name, secret in secrets.items():
        if isinstance(secret, str):
            hidden[name] = secret
        else:
            computed[name] = ComputedValue(secret.provider, secret.key, secret=True)
    return plain, hidden, computed
