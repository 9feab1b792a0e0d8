"""Outside values: which variables count, their environment names, and the validate warnings."""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.workflow.outside import (
    MAX_VALUE_BYTES,
    declared_outside_names,
    env_name,
    exported_env,
    is_outside,
    safe_spelling,
)

from .support import load_text


@pytest.mark.parametrize("name", ["ARG", "ARG_2", "merge.target_branch", "merge.source_branch", "item", "item.path",
                                  "shell.output", "claude.output", "last.output", "build.output", "x.stderr",
                                  "CAPTURED_OUTPUT", "error.message", "validation.gaps", "step.files_changed",
                                  "files", "files.path", "files[0]"])
def test_outside_values(name: str) -> None:
    assert is_outside(name, {"files"})


@pytest.mark.parametrize("name", ["GREETING", "PROJECT_ROOT", "WORKTREE", "ITERATION", "SESSION_ID", "error.step",
                                  "shell.exit_code", "files"])
def test_values_the_workflow_or_prodigy_wrote_are_not_outside(name: str) -> None:
    assert not is_outside(name)


def test_environment_names() -> None:
    assert env_name("merge.target_branch") == "PRODIGY_VAR_MERGE_TARGET_BRANCH"
    assert env_name("shell.output") == "PRODIGY_VAR_SHELL_OUTPUT"
    assert env_name("item.a[0].b") == "PRODIGY_VAR_ITEM_A_0_B"
    assert env_name("fileCount") == "PRODIGY_VAR_FILECOUNT"
    assert safe_spelling("ARG") == '${ARG|sh} or "$PRODIGY_ARG"'
    assert safe_spelling("shell.output") == '${shell.output|sh} or "$PRODIGY_VAR_SHELL_OUTPUT"'
    assert declared_outside_names(["files", None], ["build", None]) == {"files", "build.output"}


def test_exported_environment() -> None:
    env = exported_env({
        "ARG": "$(rm -rf ~)", "GREETING": "hi", "merge.target_branch": "main", "files": ["a", "b"],
        "item": {"path": "x.md", "meta": {"id": 7}}, "shell.output": "ok", "shell.exit_code": 0,
    }, {"files"})
    assert env == {
        "PRODIGY_ARG": "$(rm -rf ~)", "PRODIGY_VAR_ARG": "$(rm -rf ~)", "PRODIGY_VAR_FILES": "a, b",
        "PRODIGY_VAR_ITEM": '{"path":"x.md","meta":{"id":7}}', "PRODIGY_VAR_ITEM_PATH": "x.md",
        "PRODIGY_VAR_ITEM_META": '{"id":7}', "PRODIGY_VAR_ITEM_META_ID": "7",
        "PRODIGY_VAR_MERGE_TARGET_BRANCH": "main", "PRODIGY_VAR_SHELL_OUTPUT": "ok",
    }


def test_values_no_environment_can_hold_are_left_out() -> None:
    env = exported_env({"ARG": "a\x00b", "shell.output": "x" * MAX_VALUE_BYTES, "last.output": "\ud800",
                        "claude.output": "fine"})
    assert env == {"PRODIGY_VAR_CLAUDE_OUTPUT": "fine"}


def test_the_environment_as_a_whole_is_bounded() -> None:
    big = {f"o{index}.output": "y" * (MAX_VALUE_BYTES - 100) for index in range(20)}
    assert sum(len(key) + len(value) + 2 for key, value in exported_env(big).items()) <= 512 * 1024


# -- validate's warnings -------------------------------------------------------------------------

WORKFLOW = """\
commands:
  - shell: |
      echo start
      cat ${ARG}.md | wc -l
    capture: lines
  - shell: "echo ${lines} ${lines|sh} \\"$PRODIGY_VAR_LINES\\" $GREETING"
  - claude: "/fix ${ARG} ${shell.output}"
  - shell: make test
    on_failure:
      - "echo ${shell.output}"
      - "/prodigy-debug ${shell.output}"
  - foreach: {foreach: "ls ${ARG}", do: [{shell: "echo ${item|sh}"}]}
merge:
  - shell: git log ${merge.target_branch}..${merge.source_branch|sh}
env:
  GREETING: hi
"""


def test_validate_warns_once_per_unquoted_outside_value_with_its_line() -> None:
    warnings = load_text(WORKFLOW).warnings
    assert [warning.split(": shell command")[0] for warning in warnings] == \
        ["wf.yml:4", "wf.yml:6", "wf.yml:10", "wf.yml:12", "wf.yml:14"]
    assert "${ARG} in unquoted" in warnings[0] and 'write ${ARG|sh} or "$PRODIGY_ARG"' in warnings[0]
    assert "${lines} in unquoted" in warnings[1] and "$PRODIGY_VAR_LINES" in warnings[1]
    assert "${merge.target_branch}" in warnings[4]
    assert not any("${item|sh}" in warning or "GREETING" in warning for warning in warnings)


def test_a_json_workflow_is_checked_too() -> None:
    loaded = load_text('{"commands": [\n  {"shell": "echo $ARG"}]}', name="wf.json")
    assert loaded.warnings == [
        'wf.json:2: shell command pastes the outside value $ARG in unquoted, so its text runs as shell code; '
        'write ${ARG|sh} or "$PRODIGY_ARG"']


def test_safe_workflows_have_no_warnings() -> None:
    root = Path(__file__).resolve().parents[3]
    from prodigy.local.init import SAMPLE_WORKFLOW
    from prodigy.workflow.loader import parse_workflow
    from prodigy.workflow.mapreduce_loader import load_any

    assert parse_workflow(SAMPLE_WORKFLOW, Path("workflow.yml")).warnings == []
    for example in sorted((root / "examples").glob("*.yml")):
        assert load_any(example).warnings == [], example
