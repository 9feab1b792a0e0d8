"""The normalised views the executor consumes: on_failure, validate, on_incomplete, display, walk."""

from __future__ import annotations

import pytest

from prodigy.workflow.model import Handler, Incomplete, RetryFix, Step, StepKind, Validation
from tests.unit.workflow.support import load_text


def one_step(text: str) -> Step:
    return load_text(text).workflow.steps[0]


def test_shell_step_with_claude_fix_is_the_retry_loop_with_upstream_defaults() -> None:
    step = one_step("- shell: make test\n  on_failure:\n    claude: /fix ${shell.output}\n")
    assert step.failure == RetryFix(claude="/fix ${shell.output}", max_attempts=3, fail_workflow=False,
                                    commit_required=True)


def test_claude_step_with_claude_fix_is_a_handler_whose_attempts_include_the_first_run() -> None:
    step = one_step("- claude: /implement\n  on_failure:\n    claude: /repair\n    max_attempts: 3\n    fail_workflow: true\n")
    assert step.failure == Handler(steps=(Step(claude="/repair"),), fail_workflow=True, max_retries=2)


def test_max_retries_selects_the_handler_form_even_on_shell_steps() -> None:
    step = one_step("- shell: make\n  on_failure:\n    claude: /repair\n    max_retries: 1\n")
    assert step.failure == Handler(steps=(Step(claude="/repair"),), fail_workflow=False, max_retries=1)


@pytest.mark.parametrize(
    ("on_failure", "expected"),
    [
        ("true", Handler(steps=(), fail_workflow=False)),
        ("false", None),
        ('"/prodigy-fix"', Handler(steps=(Step(claude="/prodigy-fix"),))),
        ('"git reset --hard"', Handler(steps=(Step(shell="git reset --hard"),))),
        ('["echo cleanup", "/prodigy-report"]', Handler(steps=(Step(shell="echo cleanup"), Step(claude="/prodigy-report")))),
        ("{shell: 'make clean', fail_workflow: true}", Handler(steps=(Step(shell="make clean"),), fail_workflow=True)),
        ("{commands: [{shell: a}, {claude: /b}]}", Handler(steps=(Step(shell="a"), Step(claude="/b")))),
        ("{fail_workflow: false}", Handler(steps=(), fail_workflow=False)),
    ],
)
def test_handler_forms(on_failure: str, expected: Handler | None) -> None:
    assert one_step(f"- claude: /x\n  on_failure: {on_failure}\n").failure == expected


def test_validate_mapping_with_on_incomplete() -> None:
    step = one_step(
        """
        - claude: /implement $ARG
          validate:
            shell: ./check.sh
            threshold: 90
            timeout: 60
            result_file: result.json
            on_incomplete:
              claude: /complete ${validation.gaps}
              max_attempts: 4
              prompt: keep going
        """
    )
    assert step.validation == Validation(
        steps=(Step(shell="./check.sh"),),
        threshold=90.0,
        timeout=60,
        result_file="result.json",
        on_incomplete=Incomplete(steps=(Step(claude="/complete ${validation.gaps}"),), max_attempts=4,
                                 fail_workflow=True, commit_required=False, prompt="keep going"),
    )


def test_validate_and_on_incomplete_as_lists() -> None:
    step = one_step(
        """
        - shell: make
          validate:
            - shell: ./a.sh
            - claude: /b
        - claude: /c
          validate:
            claude: /v
            on_incomplete:
              - shell: ./fix.sh
        """
    )
    assert step.validation == Validation(steps=(Step(shell="./a.sh"), Step(claude="/b")))
    second = load_text("- claude: /c\n  validate:\n    claude: /v\n    on_incomplete:\n      - shell: ./fix.sh\n")
    validation = second.workflow.steps[0].validation
    assert validation is not None
    assert validation.on_incomplete == Incomplete(steps=(Step(shell="./fix.sh"),))


def test_display_uses_name_kind_and_first_line() -> None:
    assert Step(shell="cargo test").display == "shell: cargo test"
    assert Step(claude="/x 1").display == "claude: /x 1"
    assert Step(shell="a\nb").display == "shell: a …"
    assert Step(shell="make", name="Build it").display == "Build it"


def test_steps_are_immutable() -> None:
    step = Step(shell="make")
    with pytest.raises(ValueError):
        setattr(step, "shell", "rm -rf /")  # noqa: B010 - a frozen model refuses assignment


def test_walk_visits_nested_steps_and_detects_claude() -> None:
    workflow = load_text(
        """
        commands:
          - shell: make
            on_failure: /fix
          - foreach:
              foreach: [a]
              do:
                - shell: echo ${item}
                  on_success:
                    shell: echo ok
        merge:
          - shell: git log
        """
    ).workflow
    assert [step.display for step in workflow.walk()] == [
        "shell: make", "claude: /fix", "foreach: a", "shell: echo ${item}", "shell: echo ok", "shell: git log",
    ]
    assert workflow.uses_claude is True
    assert load_text("- shell: make\n").workflow.uses_claude is False
    assert Step(shell="x").kind is StepKind.SHELL
