"""Standard variables and captured-output parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.workflow.interpolate import interpolate
from prodigy.workflow.model import CaptureFormat, StepKind
from prodigy.workflow.variables import (
    MASK,
    CaptureError,
    arg_from_map_path,
    mask_secrets,
    output_variable,
    parse_capture,
    standard_variables,
)


def test_standard_variables_with_an_argument() -> None:
    worktree = Path("/home/u/.prodigy/worktrees/repo/session-1")
    variables = standard_variables(project_root=worktree, worktree=worktree, arg="97 fast", iteration=2,
                                   env={"TARGET": "prod"})
    assert variables == {
        "TARGET": "prod",
        "PROJECT_ROOT": str(worktree),
        "WORKTREE": "session-1",
        "ITERATION": "2",
        "ARG": "97 fast",
        "ARG_1": "97",
        "ARG_2": "fast",
    }
    assert interpolate("/implement $ARG_1 in $PROJECT_ROOT ($TARGET)", variables) == (
        f"/implement 97 in {worktree} (prod)"
    )


def test_without_an_argument_arg_stays_a_literal_reference() -> None:
    variables = standard_variables(project_root="/w")
    assert "ARG" not in variables
    assert interpolate("/x $ARG", variables) == "/x $ARG"


@pytest.mark.parametrize(
    ("path", "arg"),
    [("specs/65-cook-refactor.md", "65"), ("specs/plain.md", "plain"), ("-leading.md", "-leading")],
)
def test_arg_from_map_path(path: str, arg: str) -> None:
    assert arg_from_map_path(path) == arg


def test_output_variable_names() -> None:
    assert output_variable(StepKind.SHELL) == "shell.output"
    assert output_variable(StepKind.CLAUDE) == "claude.output"


@pytest.mark.parametrize(
    ("output", "capture_format", "value"),
    [
        ("hello\n", CaptureFormat.STRING, "hello"),
        ("  keep spaces  \n\n", "string", "  keep spaces  "),
        ('{"a": [1, 2]}\n', "json", {"a": [1, 2]}),
        ("a\n\nb\n", "lines", ["a", "b"]),
        ("42\n", "number", 42),
        (" -3.5 ", "number", -3.5),
        ("1e3", "number", 1000.0),
        ("true\n", "boolean", True),
        ("No", "boolean", False),
        ("", "boolean", False),
    ],
)
def test_parse_capture(output: str, capture_format: CaptureFormat | str, value: object) -> None:
    parsed = parse_capture(output, capture_format)
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    ("output", "capture_format", "problem"),
    [("{not json", "json", "not valid JSON"), ("forty", "number", "not a number"), ("maybe", "boolean", "not a boolean")],
)
def test_parse_capture_errors(output: str, capture_format: str, problem: str) -> None:
    with pytest.raises(CaptureError, match=problem):
        parse_capture(output, capture_format)


def test_mask_secrets_hides_every_occurrence_but_not_tiny_values() -> None:
    text = "token=ghp_abcdef123 again ghp_abcdef123; flag=on"
    assert mask_secrets(text, ["ghp_abcdef123", "on", "ghp_abc"]) == f"token={MASK} again {MASK}; flag=on"
    assert mask_secrets("nothing here", []) == "nothing here"
