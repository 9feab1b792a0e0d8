"""Work out a workflow's computed `env:`/`secrets:` values when a run starts, in its worktree.

    command   -> the command's stdout, trimmed (it runs once, at the start of the run)
    condition -> `when_true` or `when_false`, by the `when:` language over the environment
    env       -> the named variable of prodigy's own environment (`secrets: {provider: env, key: X}`)
    file      -> the file's text, trimmed (`secrets: {provider: file, key: path}`)
    vault/aws -> not supported here: an error that says so

A value that cannot be worked out fails the run before its first step (`EnvValueError`).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from prodigy.errors import WorkflowFailed
from prodigy.local.shell import run_shell
from prodigy.workflow.env_values import ComputedValue
from prodigy.workflow.expressions import evaluate

__all__ = ["EnvValueError", "resolve_computed_env"]

COMMAND_TIMEOUT = 60


class EnvValueError(WorkflowFailed):
    """A computed env or secrets value could not be worked out."""


def resolve_computed_env(computed: Mapping[str, ComputedValue], *, workdir: Path,
                         env: Mapping[str, str]) -> tuple[dict[str, str], tuple[str, ...]]:
    """(name -> value, the secret values to mask) for every computed value."""
    values: dict[str, str] = {}
    secrets: list[str] = []
    for name, spec in computed.items():
        value = _resolve(name, spec, workdir, {**env, **values})
        values[name] = value
        if spec.secret and len(value) >= 4:
            secrets.append(value)
    return values, tuple(secrets)


def _resolve(name: str, spec: ComputedValue, workdir: Path, env: Mapping[str, str]) -> str:
    if spec.kind == "command":
        ran = run_shell(spec.text, cwd=workdir, env=env, timeout=COMMAND_TIMEOUT)
        if not ran.success:
            raise EnvValueError(f"env {name}: the command `{spec.text}` failed with exit code {ran.exit_code}"
                                + (f": {ran.stderr.strip().splitlines()[-1]}" if ran.stderr.strip() else ""))
        return ran.stdout.strip()
    if spec.kind == "condition":
        return spec.when_true if evaluate(spec.text, dict(env)) else spec.when_false
    if spec.kind == "env":
        if spec.text not in env:
            raise EnvValueError(f"secret {name}: the environment variable {spec.text} is not set",
                                hint=f"export {spec.text}=... before running prodigy")
        return env[spec.text]
    if spec.kind == "file":
        path = Path(spec.text).expanduser()
        try:
            return path.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise EnvValueError(f"secret {name}: cannot read {path}: {error.strerror}") from None
    raise EnvValueError(f"secret {name}: provider `{spec.kind}` is not supported; use `env` or `file`",
                        hint="or put the value in the environment and use {provider: env, key: NAME}")
