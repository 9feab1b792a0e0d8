"""Upstream's other shapes load as upstream loads them; keys it ignores load with one warning each;
misspelt keys stay errors."""

from __future__ import annotations

import pytest

from prodigy.workflow.env_values import ComputedValue
from prodigy.workflow.expressions import evaluate
from prodigy.workflow.model import CaptureStreams, Handler, RetryFix, StepKind
from tests.unit.workflow.support import load_error, load_text


def test_plain_string_steps_are_claude_commands_that_commit() -> None:
    workflow = load_text("- prodigy-code-review\n- /prodigy-lint --fix\n- prodigy-implement-spec $ARG\n").workflow
    assert [(step.kind, step.command, step.commit_required) for step in workflow.steps] == [
        (StepKind.CLAUDE, "/prodigy-code-review", True),
        (StepKind.CLAUDE, "/prodigy-lint --fix", False),            # upstream registers lint as not committing
        (StepKind.CLAUDE, "/prodigy-implement-spec $ARG", True),
    ]


def test_the_older_command_form() -> None:
    loaded = load_text("""
    commands:
      - name: prodigy-implement-spec
        args: ["$ARG", "two words"]
        id: impl
        metadata: {commit_required: false, timeout: 120, env: {LEVEL: deep}}
        outputs:
          spec: {file_pattern: "*-spec.md"}
      - name: prodigy-code-review
        options: {focus: performance}
    """)
    first, second = loaded.workflow.steps
    assert first.command == "/prodigy-implement-spec $ARG 'two words'"
    assert (first.commit_required, first.timeout, first.env, first.id) == (False, 120, {"LEVEL": "deep"}, "impl")
    assert first.outputs["spec"].file_pattern == "*-spec.md"
    assert second.command == "/prodigy-code-review" and second.commit_required
    assert loaded.warnings == ["wf.yml:9: `options` has no effect; put the arguments in the command"]


@pytest.mark.parametrize("key", ["temporary", "clear_env", "retry_config", "timeout_secs", "options", "args",
                                 "metadata", "analysis", "description"])
def test_keys_upstream_ignores_load_with_one_warning(key: str) -> None:
    loaded = load_text(f"- shell: make\n  {key}: {{a: 1}}\n- shell: make\n  {key}: {{a: 2}}\n")
    assert [step.command for step in loaded.workflow.steps] == ["make", "make"]
    assert [warning.split(": ", 1)[0] for warning in loaded.warnings] == ["wf.yml:2", "wf.yml:4"]
    assert all(f"`{key}` has no effect" in warning for warning in loaded.warnings)


def test_a_misspelt_key_is_still_an_error() -> None:
    assert "[0].temporery: unknown key `temporery`" in load_error("- shell: a\n  temporery: true\n")
    assert "[0].comit_required: unknown key `comit_required` (did you mean `commit_required`?)" in load_error(
        "- shell: a\n  comit_required: true\n")


def test_analyze_steps_do_nothing_and_say_so() -> None:
    loaded = load_text("- analyze: {force_refresh: true}\n- shell: make\n")
    placeholder = loaded.workflow.steps[0]
    assert placeholder.kind is StepKind.SHELL and placeholder.command == "true"
    assert placeholder.name is not None and "no effect" in placeholder.name
    assert loaded.warnings == ["wf.yml:1: `analyze:` does nothing: upstream removed analysis in v0.3.0 "
                               "(this step is skipped)"]


@pytest.mark.parametrize(("value", "streams"), [
    ("stdout", CaptureStreams.STDOUT), ("both", CaptureStreams.BOTH), ('"stdout,stderr,exit_code"', CaptureStreams.BOTH),
    ('"stderr, exit_code"', CaptureStreams.STDERR), ("{stdout: true, stderr: true, exit_code: true}", CaptureStreams.BOTH),
    ("{stdout: false, stderr: true}", CaptureStreams.STDERR), ("exit_code", CaptureStreams.STDOUT),
])
def test_capture_streams_as_upstream_writes_it(value: str, streams: CaptureStreams) -> None:
    step = load_text(f"- shell: make\n  capture: out\n  capture_streams: {value}\n").workflow.steps[0]
    assert step.capture_streams is streams


def test_capture_streams_with_an_unknown_stream_is_an_error() -> None:
    assert "capture_streams: unknown stream stdin" in load_error("- shell: a\n  capture_streams: stdin,stdout\n")


def test_validate_without_a_command_reads_the_steps_result_file() -> None:
    step = load_text("- claude: /implement\n  validate:\n    result_file: .prodigy/v.json\n    threshold: 90\n"
                     ).workflow.steps[0]
    validation = step.validation
    assert validation is not None and validation.steps == () and validation.result_file == ".prodigy/v.json"
    assert "needs `claude`, `shell` or `commands` to run, or a `result_file`" in load_error(
        "- shell: a\n  validate: {threshold: 90}\n")


def test_validate_with_claude_and_shell_runs_claude_and_warns() -> None:
    loaded = load_text("- shell: a\n  validate:\n    claude: /check\n    shell: check.sh\n"
                       "    expected_schema: {type: object}\n")
    validation = loaded.workflow.steps[0].validation
    assert validation is not None and [step.command for step in validation.steps] == ["/check"]
    assert [warning.split(": ", 1)[0] for warning in loaded.warnings] == ["wf.yml:4", "wf.yml:5"]


def test_handlers_nested_inside_on_failure() -> None:
    steps = load_text("""
    - shell: make test
      on_failure:
        claude: /fix
        retry_original: true
        on_success:
          shell: echo fixed
        on_failure:
          shell: echo fix failed
    - claude: /x
      on_failure:
        - claude: "/fix ${error.message}"
        - echo cleanup
    - shell: plain
      on_failure:
        claude: /debug
        max_attempts: 2
    """).workflow.steps
    handler = steps[0].failure
    assert isinstance(handler, Handler) and handler.max_retries == 1
    (fix,) = handler.steps
    assert fix.on_success is not None and fix.on_success.command == "echo fixed"
    assert isinstance(fix.on_failure, str) is False and fix.failure is not None
    listed = steps[1].failure
    assert isinstance(listed, Handler)
    assert [(step.kind, step.command) for step in listed.steps] == [(StepKind.CLAUDE, "/fix ${error.message}"),
                                                                    (StepKind.SHELL, "echo cleanup")]
    assert isinstance(steps[2].failure, RetryFix)                   # the shell retry loop is unchanged


def test_when_with_a_regular_expression_match() -> None:
    load_text("- shell: a\n  when: \"${DATABASE_URL} =~ 'localhost'\"\n")
    assert evaluate("${URL} =~ '^postgres://local'", {"URL": "postgres://localhost/db"})
    assert not evaluate("${URL} =~ 'prod'", {"URL": "postgres://localhost/db"})
    assert "bad regular expression after =~" in load_error("- shell: a\n  when: \"${X} =~ '('\"\n")


def test_structured_env_and_secrets() -> None:
    workflow = load_text("""
    env:
      PLAIN: text
      PORT: 8080
      TOKEN: {secret: true, value: "${GITHUB_TOKEN}"}
      LABEL: {value: hello}
      BRANCH: {command: "git rev-parse --abbrev-ref HEAD", cache: true}
      MODE: {condition: "${CI} == 'true'", when_true: ci, when_false: local}
    secrets:
      API_KEY: {provider: env, key: SOURCE_KEY}
      CERT: {provider: file, key: ~/cert.pem}
      RAW: s3cret-value
    commands:
      - shell: "true"
    """).workflow
    assert workflow.env == {"PLAIN": "text", "PORT": "8080", "LABEL": "hello"}
    assert workflow.secrets == {"TOKEN": "${GITHUB_TOKEN}", "RAW": "s3cret-value"}
    assert workflow.computed_env == {
        "BRANCH": ComputedValue("command", "git rev-parse --abbrev-ref HEAD"),
        "MODE": ComputedValue("condition", "${CI} == 'true'", "ci", "local"),
        "API_KEY": ComputedValue("env", "SOURCE_KEY", secret=True),
        "CERT": ComputedValue("file", "~/cert.pem", secret=True),
    }


@pytest.mark.parametrize(("env", "message"), [
    ("{value: a, command: b}", "exactly one of `value`, `command` or `condition` (found value, command)"),
    ("{condition: \"${A}\", when_true: x}", "`condition` needs both `when_true` and `when_false`"),
    ("{secrit: true, value: a}", "unknown key `secrit` (did you mean `secret`?)"),
])
def test_structured_env_errors(env: str, message: str) -> None:
    assert message in load_error(f"env:\n  X: {env}\ncommands:\n  - shell: a\n")


def test_unsupported_secret_provider_is_a_load_error_naming_the_choices() -> None:
    assert "secrets.X.provider: expected one of env, file, vault or aws, got 'keychain'" in load_error(
        "secrets:\n  X: {provider: keychain, key: k}\ncommands:\n  - shell: a\n")
