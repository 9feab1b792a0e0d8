"""Bad workflow input: every error names the file, line, column and field path, and says how to fix it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prodigy.errors import EXIT_USAGE, WorkflowFileError
from prodigy.workflow.loader import MAX_REPORTED_ERRORS, load_workflow, parse_workflow
from tests.unit.workflow.support import load_error, load_text


def test_invalid_yaml_points_at_line_and_column_with_a_caret() -> None:
    message = load_error(
        """
        - shell: echo ok
        - shell: echo a: b
        """
    )
    assert message.startswith("Invalid YAML in wf.yml at line 2, column 16: mapping values are not allowed here")
    assert "  2 | - shell: echo a: b\n" in message
    # The caret sits under the offending colon.
    source_line, caret_line = message.splitlines()[-2:]
    assert caret_line.index("^") == source_line.index("a: b") + 1


def test_unclosed_quote_names_where_it_started() -> None:
    message = load_error('- shell: "echo\n- shell: ok\n')
    assert "which starts at line 1, column 10" in message


def test_invalid_yaml_has_exit_code_2() -> None:
    with pytest.raises(WorkflowFileError) as caught:
        load_text("- shell: [unclosed\n")
    assert caught.value.exit_code == EXIT_USAGE


def test_duplicate_keys_are_rejected() -> None:
    message = load_error("- shell: one\n  shell: two\n")
    assert "line 2" in message and "duplicate key" in message


def test_invalid_json_points_at_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    path.write_text('[\n  {"shell": "x"},,\n]\n')
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow(path)
    assert f"Invalid JSON in {path} at line 2, column 18" in caught.value.message


def test_json_validation_errors_have_lines(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps([{"shell": "ok"}, {"shell": 3}], indent=2))
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow(path)
    assert caught.value.message == f"Invalid workflow {path}:6:14: [1].shell: expected a string, got 3"


def test_unknown_step_key_with_did_you_mean() -> None:
    message = load_error(
        """
        commands:
          - shell: echo hi
          - shel: echo typo
        """
    )
    assert message == "Invalid workflow wf.yml:3:5: commands[1].shel: unknown key `shel` (did you mean `shell`?)"


def test_unknown_option_suggests_the_option_valid_at_that_place() -> None:
    message = load_error(
        """
        - shell: make
          comit_required: true
        """
    )
    assert message == (
        "Invalid workflow wf.yml:2:3: [0].comit_required: unknown key `comit_required` (did you mean `commit_required`?)"
    )


def test_unknown_key_deep_inside_validate_on_incomplete() -> None:
    message = load_error(
        """
        - claude: /implement
          validate:
            claude: /check
            on_incomplete:
              claud: /complete
              max_attempts: 3
        """
    )
    assert message == (
        "Invalid workflow wf.yml:5:7: [0].validate.on_incomplete.claud: unknown key `claud` (did you mean `claude`?)"
    )


def test_unknown_key_without_close_match_lists_allowed_keys() -> None:
    message = load_error("- write_file:\n    path: a\n    content: b\n    zzz: 1\n")
    assert "[0].write_file.zzz: unknown key `zzz`; allowed keys: path, content, format, mode, create_dirs" in message
    assert "wf.yml:4:5" in message


def test_unknown_top_level_key() -> None:
    message = load_error("name: x\ncomands:\n  - shell: a\n")
    assert "wf.yml:2:1: comands: unknown key `comands` (did you mean `commands`?)" in message


def test_steps_instead_of_commands_gets_its_own_message() -> None:
    message = load_error("name: x\nsteps:\n  - shell: a\n")
    assert message.startswith("Invalid workflow wf.yml:2: `steps:` is not a workflow key")


def test_wrong_type_names_the_field_path_and_expected_shape() -> None:
    message = load_error(
        """
        commands:
          - shell: echo one
          - shell: echo two
          - shell: cargo test
            on_failure:
              claude: /fix ${shell.output}
              max_attempts: three
        """
    )
    assert message == (
        "Invalid workflow wf.yml:7:21: commands[2].on_failure.max_attempts: expected a whole number, got 'three'"
    )


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        ("- shell: make\n  timeout: 0\n", "[0].timeout: input should be greater than or equal to 1, got 0"),
        ("- shell: make\n  commit_required: maybe\n", "[0].commit_required: expected true or false, got 'maybe'"),
        ("- shell: make\n  env: [A, B]\n", "[0].env: expected a mapping (key: value pairs), got a list"),
        ("- shell: make\n  capture_output: [x]\n", "[0].capture_output: expected true/false or a variable name"),
        ("- shell: make\n  capture_format: xml\n", "[0].capture_format: expected one of string, json, lines,"),
        ("- shell: make\n  on_failure: 3\n", "[0].on_failure: expected true/false, a command, a list of commands"),
        ("- shell: make\n  validate: 3\n", "[0].validate: expected a list of steps or a mapping"),
        ("- shell: ''\n", "[0].shell: must not be empty"),
        ("- claude: /x\n  validate:\n    threshold: 200\n    claude: /v\n", "[0].validate.threshold: input should be less"),
        ("- write_file: {path: a, content: b, mode: rwx}\n", '[0].write_file.mode: expected an octal file mode such as "0644"'),
        ("- write_file: {path: a}\n", "[0].write_file.content: missing required key `content`"),
        ("- foreach: {foreach: 3, do: [{shell: a}]}\n", "[0].foreach.foreach: expected a shell command (string) or a list"),
        ("- 42\n", "[0]: expected a mapping (key: value pairs), got 42"),
        ("name: x\ncommands: {shell: a}\n", "commands: expected a list, got a mapping"),
        ("merge: 5\ncommands: [{shell: a}]\n", "merge: expected a list of steps or a mapping {commands: [...]"),
    ],
)
def test_wrong_types_are_described_in_words(step: str, expected: str) -> None:
    assert expected in load_error(step)


def test_a_step_without_a_command() -> None:
    message = load_error("- timeout: 5\n")
    assert message == (
        "Invalid workflow wf.yml:1:3: [0]: a step needs one of `claude`, `shell`, `write_file` or `foreach` "
        "(e.g. `- shell: make test`)"
    )


def test_a_step_with_two_commands() -> None:
    message = load_error("- shell: make\n  claude: /fix\n")
    assert "[0]: a step has exactly one of" in message and "found `claude`, `shell`" in message


def test_on_failure_with_two_actions() -> None:
    message = load_error("- claude: /x\n  on_failure: {claude: /a, shell: b}\n")
    assert "[0].on_failure: use only one of `claude`, `shell` or `commands` (found claude, shell)" in message


def test_goal_seek_steps_are_refused_with_their_line() -> None:
    message = load_error("- shell: ok\n- goal_seek:\n    goal: x\n")
    assert message.startswith("Invalid workflow wf.yml:2:3: [1]: `goal_seek:` steps are not supported")


def test_bad_when_expression_fails_at_load_time_with_a_caret() -> None:
    message = load_error("- shell: make\n  when: \"${ok} == \"\n")
    assert message.startswith("Invalid workflow wf.yml:2:9: [0].when: invalid condition: expression ends too early")
    assert "^" in message


def test_all_errors_are_reported_at_once() -> None:
    message = load_error(
        """
        - shel: a
        - shell: b
          timeout: soon
        - claude: /c
          capture_format: xml
        """
    )
    lines = message.splitlines()
    assert lines[0] == "Invalid workflow wf.yml (3 problems):"
    assert lines[1].startswith("  wf.yml:1:3: [0].shel: unknown key")
    assert lines[2].startswith("  wf.yml:3:12: [1].timeout: expected a whole number")
    assert lines[3].startswith("  wf.yml:5:19: [2].capture_format: expected one of")


def test_a_flood_of_errors_is_capped() -> None:
    text = "".join(f"- shell: x\n  timeout: t{index}\n" for index in range(MAX_REPORTED_ERRORS + 5))
    message = load_error(text)
    assert f"({MAX_REPORTED_ERRORS + 5} problems)" in message
    assert message.splitlines()[-1] == "  … and 5 more"


def test_errors_inside_foreach_and_on_success_are_located() -> None:
    message = load_error(
        """
        - foreach:
            foreach: [a, b]
            do:
              - shell: echo ${item}
                on_success:
                  shell: echo ok
                  retries: 2
        """
    )
    assert "wf.yml:7:11: [0].foreach.do[0].on_success.retries: unknown key `retries`" in message


def test_mapping_at_top_level_must_be_list_or_object() -> None:
    message = load_error("just text\n")
    assert "a workflow must be a list of steps or a mapping with `commands:`" in message


def test_unknown_top_level_key_next_to_commands_is_a_warning_like_upstream() -> None:
    loaded = parse_workflow("name: x\nconfig:\n  retries: 2\ncomands_x: 1\ncommands:\n  - shell: a\n", Path("wf.yml"))
    assert [step.command for step in loaded.workflow.steps] == ["a"]
    assert "wf.yml:2: unknown top-level key `config` is ignored" in loaded.warnings
    assert any(w.startswith("wf.yml:4: unknown top-level key `comands_x` is ignored (did you mean `commands`?)")
               for w in loaded.warnings)
