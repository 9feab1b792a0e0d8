"""Loading valid workflow files: both shapes, YAML and JSON, fixtures, defaults and warnings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from prodigy.errors import WorkflowFileError
from prodigy.workflow.loader import load_workflow, parse_workflow
from prodigy.workflow.model import (
    CaptureFormat,
    CaptureStreams,
    Handler,
    RetryFix,
    StepKind,
)
from tests.unit.workflow.support import FIXTURES, load_error, load_text


def test_bare_list_takes_its_name_from_the_file_stem() -> None:
    loaded = load_text(
        """
        - shell: echo one
        - claude: /prodigy-lint
        """,
        name="nightly-check.yml",
    )
    workflow = loaded.workflow
    assert workflow.name == "nightly-check"
    assert [step.kind for step in workflow.steps] == [StepKind.SHELL, StepKind.CLAUDE]
    assert [step.command for step in workflow.steps] == ["echo one", "/prodigy-lint"]
    assert workflow.env == {} and workflow.merge is None
    assert loaded.warnings == []


def test_object_shape_with_name_env_secrets_and_merge_block() -> None:
    workflow = load_text(
        """
        name: release
        env:
          PORT: 8080
          DEBUG: true
          TARGET: prod
        secrets:
          API_TOKEN: s3cret
        commands:
          - shell: make build
        merge:
          commands:
            - shell: git log -1
            - claude: /prodigy-merge-worktree ${merge.source_branch} ${merge.target_branch}
          timeout: 600
        """
    ).workflow
    assert workflow.name == "release"
    # YAML turns 8080 / true into a number and a boolean; environment values are text.
    assert workflow.env == {"PORT": "8080", "DEBUG": "true", "TARGET": "prod"}
    assert workflow.secrets == {"API_TOKEN": "s3cret"}
    assert workflow.all_env["API_TOKEN"] == "s3cret"
    assert workflow.merge is not None
    assert workflow.merge.timeout == 600
    assert [step.display for step in workflow.merge.steps] == [
        "shell: git log -1",
        "claude: /prodigy-merge-worktree ${merge.source_branch} ${merge.target_branch}",
    ]


def test_merge_block_as_a_plain_list() -> None:
    workflow = load_text(
        """
        commands:
          - shell: "true"
        merge:
          - claude: /prodigy-merge-master
        """
    ).workflow
    assert workflow.merge is not None
    assert workflow.merge.timeout is None
    assert [step.command for step in workflow.merge.steps] == ["/prodigy-merge-master"]


@pytest.mark.parametrize("suffix", [".yml", ".yaml", ".json", ""])
def test_every_suffix_loads_from_disk(tmp_path: Path, suffix: str) -> None:
    steps = [{"shell": "echo hi", "timeout": 5}, {"claude": "/x $ARG", "commit_required": True}]
    path = tmp_path / f"flow{suffix}"
    if suffix in (".yml", ".yaml"):
        path.write_text("- shell: echo hi\n  timeout: 5\n- claude: /x $ARG\n  commit_required: true\n")
    else:
        path.write_text(json.dumps(steps, indent=2))
    workflow = load_workflow(path).workflow
    assert workflow.name == "flow"
    assert workflow.source == path
    assert workflow.steps[0].timeout == 5
    assert workflow.steps[1].commit_required is True


def test_json_object_shape(tmp_path: Path) -> None:
    path = tmp_path / "wf.json"
    path.write_text(json.dumps({"name": "j", "env": {"A": "1"}, "commands": [{"shell": "echo $A"}]}))
    workflow = load_workflow(path).workflow
    assert (workflow.name, workflow.env, workflow.steps[0].command) == ("j", {"A": "1"}, "echo $A")


def test_yaml_1_2_keeps_yes_and_on_as_strings() -> None:
    # YAML 1.1 would turn `yes` into true; 1.2 (ruamel's default) keeps the user's text.
    workflow = load_text("env:\n  ANSWER: yes\ncommands:\n  - shell: echo $ANSWER\n").workflow
    assert workflow.env == {"ANSWER": "yes"}


@pytest.mark.parametrize("fixture", sorted(path.name for path in FIXTURES.glob("*.yml")))
def test_fixture_workflows_load_cleanly(fixture: str) -> None:
    loaded = load_workflow(FIXTURES / fixture)
    assert loaded.warnings == []
    assert loaded.workflow.steps


def test_standard_workflow_fixture_is_shell_only() -> None:
    workflow = load_workflow(FIXTURES / "standard-workflow.yml").workflow
    assert {step.kind for step in workflow.walk()} == {StepKind.SHELL}
    assert workflow.uses_claude is False
    assert workflow.steps[-1].command == 'echo "Workflow complete"'


def test_implement_fixture_validates_and_retries() -> None:
    workflow = load_workflow(FIXTURES / "implement.yml").workflow
    implement, tests, lint = workflow.steps
    validation = implement.validation
    assert validation is not None and validation.on_incomplete is not None
    assert validation.result_file == ".prodigy/validation-result.json"
    assert validation.on_incomplete.fail_workflow is False
    assert validation.on_incomplete.commit_required is True
    assert isinstance(tests.failure, RetryFix) and tests.failure.max_attempts == 5
    assert isinstance(lint.failure, RetryFix) and "${shell.output}" in lint.failure.claude
    assert workflow.uses_claude is True


def test_debug_fixture_fails_the_workflow_after_three_runs() -> None:
    workflow = load_workflow(FIXTURES / "debug.yml").workflow
    assert workflow.steps[0].failure == RetryFix(
        claude="/prodigy-debug-test-failure --output ${shell.output}",
        max_attempts=3,
        fail_workflow=True,
        commit_required=True,
    )


def test_deprecated_test_step_becomes_shell_with_on_failure_and_warns() -> None:
    loaded = load_text(
        """
        - shell: echo first
        - test:
            command: cargo test
            on_failure:
              claude: /fix ${test.output}
              max_attempts: 2
        """
    )
    step = loaded.workflow.steps[1]
    assert step.kind is StepKind.SHELL
    assert step.command == "cargo test"
    assert step.failure == RetryFix(claude="/fix ${test.output}", max_attempts=2)
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith("wf.yml:2: `test:` is deprecated")


def test_step_option_defaults() -> None:
    step = load_text("- shell: make\n").workflow.steps[0]
    assert step.commit_required is False
    assert step.captures_output is False and step.capture_name is None
    assert step.capture_format is CaptureFormat.STRING
    assert step.capture_streams is CaptureStreams.STDOUT
    assert step.failure is None and step.validation is None and step.on_success is None
    assert (step.timeout, step.when, step.working_dir, step.output_file, step.env) == (None, None, None, None, {})


def test_all_step_options_are_kept() -> None:
    step = load_text(
        """
        - shell: ./count.sh
          id: count
          name: Count things
          commit_required: true
          capture: total
          capture_format: number
          capture_streams: both
          output_file: out/count.txt
          timeout: 30
          when: "${ARG} != 'skip'"
          env: {LIMIT: 3}
          working_dir: sub
          on_success:
            shell: echo done
        """
    ).workflow.steps[0]
    assert step.id == "count" and step.display == "Count things"
    assert step.capture_name == "total" and step.captures_output
    assert step.capture_format is CaptureFormat.NUMBER and step.capture_streams is CaptureStreams.BOTH
    assert (step.output_file, step.timeout, step.working_dir) == ("out/count.txt", 30, "sub")
    assert step.env == {"LIMIT": "3"}
    assert step.on_success is not None and step.on_success.command == "echo done"


def test_capture_output_true_and_named() -> None:
    first, second = load_text(
        """
        - shell: date
          capture_output: true
        - shell: whoami
          capture_output: me
        """
    ).workflow.steps
    assert first.captures_output and first.capture_name is None
    assert second.captures_output and second.capture_name == "me"


def test_write_file_and_foreach_steps() -> None:
    write, loop = load_text(
        """
        - write_file:
            path: out/${ARG}.json
            content: '{"a": 1}'
            format: json
            mode: 0600
            create_dirs: true
        - foreach:
            foreach: ls *.md
            parallel: 3
            max_items: 10
            continue_on_error: true
            do:
              - shell: wc -l ${item}
        """
    ).workflow.steps
    assert write.kind is StepKind.WRITE_FILE and write.write_file is not None
    # An unquoted 0600 is the decimal 600 in YAML 1.2; the loader keeps the digits the user wrote.
    assert write.write_file.mode == "0600" and write.write_file.mode_bits == 0o600
    assert write.display == "write_file: out/${ARG}.json"
    assert loop.kind is StepKind.FOREACH and loop.foreach is not None
    assert loop.foreach.items == "ls *.md" and loop.foreach.max_parallel == 3
    assert [child.command for child in loop.foreach.steps] == ["wc -l ${item}"]
    assert loop.children() == tuple(loop.foreach.steps)


def test_foreach_over_a_literal_list_runs_sequentially_by_default() -> None:
    step = load_text("- foreach:\n    foreach: [a, b]\n    do:\n      - shell: echo ${item}\n").workflow.steps[0]
    assert step.foreach is not None
    assert step.foreach.items == ["a", "b"] and step.foreach.max_parallel == 1


def test_env_files_and_profiles_are_ignored_with_warnings() -> None:
    loaded = load_text(
        """
        env_files: [.env]
        profiles:
          dev: {A: "1"}
        commands:
          - shell: "true"
        """
    )
    assert any("`env_files` is not supported" in warning for warning in loaded.warnings)
    assert any("`profiles` are not supported" in warning for warning in loaded.warnings)


def test_mode_standard_is_accepted() -> None:
    assert load_text("mode: standard\ncommands:\n  - shell: 'true'\n").workflow.steps


def test_a_mapreduce_file_is_not_a_standard_workflow(tmp_path: Path) -> None:
    path = tmp_path / "mr.yml"
    path.write_text("name: mr\nmode: mapreduce\nmap:\n  input: items.json\n  agent_template:\n    - shell: 'true'\n")
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow(path)
    assert "is a MapReduce workflow" in caught.value.message
    assert str(path) in caught.value.message
    assert caught.value.exit_code == 2


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(WorkflowFileError, match="not found"):
        load_workflow(tmp_path / "nope.yml")
    with pytest.raises(WorkflowFileError, match="is a directory"):
        load_workflow(tmp_path)


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_file_is_a_clear_error(text: str) -> None:
    assert "is empty" in load_error(text)


@pytest.mark.parametrize("text", ["[]\n", "commands: []\n"])
def test_no_steps_is_a_clear_error(text: str) -> None:
    message = load_error(text)
    assert message.startswith("Workflow file wf.yml has no steps")


commands = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufeff"), min_size=1, max_size=40
).filter(str.strip)


@given(st.lists(st.tuples(st.sampled_from(["shell", "claude"]), commands), min_size=1, max_size=5))
def test_json_text_loads_the_same_as_json_and_as_yaml(steps: list[tuple[str, str]]) -> None:
    # JSON is YAML 1.2: the same document must give the same steps through both parsers.
    document = [{kind: command} for kind, command in steps]
    as_json = parse_workflow(json.dumps(document), Path("wf.json")).workflow.steps
    as_yaml = parse_workflow(json.dumps(document, ensure_ascii=False), Path("wf.yml")).workflow.steps
    assert [(step.kind.value, step.command) for step in as_json] == steps
    assert as_yaml == as_json


def test_when_written_as_a_yaml_boolean_is_kept_as_text() -> None:
    step = load_text("- shell: make\n  when: true\n").workflow.steps[0]
    assert step.when == "true"


def test_missing_file_names_the_workflows_that_do_exist(tmp_path: Path) -> None:
    (tmp_path / "deploy.yml").write_text("- shell: echo\n")
    (tmp_path / ".prodigy").mkdir()
    (tmp_path / ".prodigy" / "workflow.yml").write_text("- shell: echo\n")
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow(tmp_path / "deplyo.yml")
    assert caught.value.hint == (f"workflow files nearby: {tmp_path / '.prodigy' / 'workflow.yml'}, "
                                 f"{tmp_path / 'deploy.yml'}")
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow(tmp_path / "empty-dir" / "x.yml")
    assert caught.value.hint is not None and "prodigy init" in caught.value.hint
