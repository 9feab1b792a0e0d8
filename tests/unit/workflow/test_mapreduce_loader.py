"""Loading `mode: mapreduce` files: every shape upstream accepts, errors with file/line/key, warnings."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from prodigy.errors import WorkflowFileError
from prodigy.workflow.loader import LoadedWorkflow
from prodigy.workflow.mapreduce import ErrorPolicy, ItemFailure, resolve_count
from prodigy.workflow.mapreduce_loader import LoadedMapReduce, is_mapreduce_file, load_any, parse_any, parse_mapreduce
from prodigy.workflow.mapreduce_plan import format_mapreduce_plan, summarize_mapreduce
from prodigy.workflow.mapreduce_vars import AgentResult, item_label, item_variables, map_variables
from prodigy.workflow.model import StepKind


def load(text: str, name: str = "mr.yml") -> LoadedMapReduce:
    return parse_mapreduce(textwrap.dedent(text).lstrip("\n"), Path(name))


def error(text: str, name: str = "mr.yml") -> str:
    with pytest.raises(WorkflowFileError) as caught:
        load(text, name)
    assert caught.value.exit_code == 2
    return caught.value.message


MINIMAL = """
name: m
mode: mapreduce
map:
  input: items.json
  agent_template:
    - shell: echo ${item|sh}
"""


def test_minimal_file_and_defaults() -> None:
    loaded = load(MINIMAL)
    workflow = loaded.workflow
    assert loaded.warnings == []
    assert workflow.name == "m" and workflow.setup is None and workflow.reduce == () and workflow.merge is None
    spec = workflow.map
    assert spec.input == "items.json" and spec.json_path is None and spec.max_parallel == "10"
    assert [step.kind for step in spec.agent_steps] == [StepKind.SHELL]
    assert workflow.error_policy == ErrorPolicy()
    assert not workflow.uses_claude


def test_a_debt_sweep_shaped_file_loads_with_every_section() -> None:
    loaded = load("""
    name: debt-sweep
    mode: mapreduce
    env:
      PROJECT: demo
      WORKERS: 3
    secrets:
      TOKEN: abcd1234
    setup:
      timeout: 900
      commands:
        - shell: "make analysis"
        - shell: "cat analysis.json"
      capture_outputs:
        ANALYSIS: 1
        FIRST: {command_index: 0}
    map:
      input: analysis.json
      json_path: "$.items[*]"
      agent_template:
        - claude: "/plan --item '${item}' --output .prodigy/plan-${item_id}.md"
          capture_output: true
          validate:
            commands:
              - claude: "/check --output .prodigy/v-${item_id}.json"
            result_file: ".prodigy/v-${item_id}.json"
            threshold: 75
        - shell: "just test"
          on_failure:
            claude: "/debug ${shell.output}"
            max_attempts: 5
            fail_workflow: true
      max_parallel: ${WORKERS}
      filter: "File.score >= 10 OR Function.unified_score.final_score >= 10"
      sort_by: "File.score DESC NULLS LAST, Function.unified_score.final_score DESC NULLS LAST"
      max_items: 10
      offset: 2
      distinct: location.file
      agent_timeout_secs: 600
    reduce:
      - write_file:
          path: .prodigy/map-results.json
          content: "${map.results}"
          format: json
          create_dirs: true
      - claude: "/summarize --ok ${map.successful} --failed ${map.failed}"
        commit_required: true
    merge:
      commands:
        - claude: "/prodigy-merge-worktree ${merge.source_branch} ${merge.target_branch}"
      timeout: 600
    error_policy:
      on_item_failure: dlq
      continue_on_failure: true
      max_failures: 2
      failure_threshold: 0.5
      error_collection: aggregate
    """)
    workflow = loaded.workflow
    assert loaded.warnings == []
    assert workflow.env == {"PROJECT": "demo", "WORKERS": "3"} and workflow.secrets == {"TOKEN": "abcd1234"}
    assert workflow.setup is not None and workflow.setup.timeout == "900"
    assert [step.capture for step in workflow.setup.steps] == ["FIRST", "ANALYSIS"]
    spec = workflow.map
    assert spec.max_parallel == "${WORKERS}" and spec.agent_timeout == "600"
    assert spec.filter is not None and spec.filter.matches({"Function": {"unified_score": {"final_score": 11}}})
    assert [key.path for key in spec.sort_by] == ["File.score", "Function.unified_score.final_score"]
    assert (spec.max_items, spec.offset, spec.distinct) == (10, 2, "location.file")
    assert [step.kind for step in workflow.reduce] == [StepKind.WRITE_FILE, StepKind.CLAUDE]
    assert workflow.merge is not None and workflow.merge.timeout == 600
    assert workflow.error_policy == ErrorPolicy(ItemFailure.DLQ, True, 2, 0.5)
    assert workflow.uses_claude
    assert summarize_mapreduce(workflow) == ("setup 2 steps, map 2 steps per item (up to ${WORKERS} agents), "
                                             "reduce 2 steps")
    plan = format_mapreduce_plan(workflow)
    assert "filter: File.score >= 10 OR" in plan and "stop when max_failures: 2, failure_threshold: 0.5" in plan


def test_the_older_nested_forms_load_with_one_warning_each() -> None:
    loaded = load("""
    name: old
    mode: mapreduce
    map:
      input: items.json
      agent_template:
        commands:
          - shell: "true"
      timeout_per_agent: 120
      retry_on_failure: 2
      timeout_config:
        agent_timeout_secs: 60
        timeout_policy: PerAgent
    reduce:
      commands:
        - shell: "true"
    """)
    assert loaded.workflow.map.agent_timeout == "60"              # timeout_config wins over the old key
    assert len(loaded.warnings) == 5
    text = "\n".join(loaded.warnings)
    assert "mr.yml:5: `agent_template: {commands: [...]}` is the older form" in text
    assert "mr.yml:13: `reduce: {commands: [...]}` is the older form" in text
    assert "`timeout_per_agent` was renamed `agent_timeout_secs`" in text
    assert "`retry_on_failure` has no effect" in text
    assert "timeout_config: timeout_policy has no effect" in text


def test_timeout_per_agent_alone_is_the_agent_timeout() -> None:
    loaded = load(MINIMAL + "  timeout_per_agent: 90\n")
    assert loaded.workflow.map.agent_timeout == "90"
    assert "it is used as that" in loaded.warnings[0]


def test_top_level_error_policy_keys_override_the_block_and_odd_values_warn() -> None:
    loaded = load(MINIMAL + """
error_policy:
  on_item_failure: skip
  max_failures: 5
  retry_config:
    max_attempts: 4
    backoff: {fixed: {delay: 1}}
  circuit_breaker: {failure_threshold: 3}
on_item_failure: retry
continue_on_failure: false
error_collection: "batched:10"
""")
    policy = loaded.workflow.error_policy
    assert policy == ErrorPolicy(ItemFailure.RETRY, False, 5, None, 4)
    assert policy.attempts_per_item() == 4
    text = "\n".join(loaded.warnings)
    assert "error_collection: batched:10 has no effect" in text
    assert "circuit_breaker has no effect" in text and "retry_config.backoff has no effect" in text
    custom = load(MINIMAL + "on_item_failure: page-the-oncall\n")
    assert custom.workflow.error_policy.on_item_failure is ItemFailure.DLQ
    assert "'page-the-oncall' is not dlq, retry, skip or stop" in custom.warnings[0]


@pytest.mark.parametrize(("failed", "finished", "policy", "reason"), [
    (0, 5, ErrorPolicy(on_item_failure=ItemFailure.STOP), None),
    (1, 5, ErrorPolicy(on_item_failure=ItemFailure.STOP), "an item failed (on_item_failure: stop)"),
    (1, 5, ErrorPolicy(continue_on_failure=False), "an item failed (continue_on_failure: false)"),
    (2, 5, ErrorPolicy(max_failures=2), None),
    (3, 5, ErrorPolicy(max_failures=2), "3 items failed (max_failures: 2)"),
    (2, 4, ErrorPolicy(failure_threshold=0.5), None),
    (3, 4, ErrorPolicy(failure_threshold=0.5), "3 of 4 finished items failed, over the failure_threshold of 0.5"),
    (9, 9, ErrorPolicy(), None),                          # the default: every failure goes to the DLQ
])
def test_error_policy_stop_reasons(failed: int, finished: int, policy: ErrorPolicy, reason: str | None) -> None:
    assert policy.stop_reason(failed=failed, finished=finished) == reason


@pytest.mark.parametrize(("snippet", "expected"), [
    ("  max_parallel: 0\n", "mr.yml:7:17: map.max_parallel: must be at least 1, got 0"),
    ("  max_parallel: many\n", "map.max_parallel: expected a whole number (at least 1) or a variable"),
    ("  max_parallel: true\n", "map.max_parallel: expected a whole number or a variable"),
    ("  filter: \"score >\"\n", "map.filter: invalid filter 'score >': it ends too early"),
    ("  sort_by: \"score UP\"\n", "map.sort_by: invalid sort_by 'score UP'"),
    ("  json_path: \"$.items[\"\n", "map.json_path: invalid json_path: unclosed `[`"),
    ("  max_itmes: 3\n", "map.max_itmes: unknown key `max_itmes` (did you mean `max_items`?)"),
    ("  offset: -1\n", "map.offset: input should be greater than or equal to 0"),
])
def test_map_errors_name_file_line_and_key(snippet: str, expected: str) -> None:
    assert expected in error(MINIMAL + snippet)


def test_document_level_errors() -> None:
    assert "missing required key `name`" in error("mode: mapreduce\nmap:\n  input: x\n  agent_template: [{shell: a}]\n")
    assert "missing required key `map`" in error("name: x\nmode: mapreduce\n")
    assert "map.agent_template: must not be empty" in error("name: x\nmode: mapreduce\nmap:\n  input: x\n"
                                                            "  agent_template: []\n")
    message = error(MINIMAL + "setup:\n  commands:\n    - shell: a\n  capture_outputs:\n    OUT: 3\n")
    assert "setup.capture_outputs.OUT: command 3 does not exist (setup has 1 command, counted from 0)" in message
    assert "error_collection: expected aggregate, immediate or batched:N" in error(MINIMAL + "error_collection: all\n")


def test_unknown_top_level_keys_typo_is_an_error_anything_else_a_warning() -> None:
    message = error(MINIMAL + "reduec:\n  - shell: 'true'\n")
    assert message == "Invalid workflow mr.yml:7: reduec: unknown key `reduec` (did you mean `reduce`?)"
    loaded = load(MINIMAL + "config:\n  owner: me\n")
    assert loaded.warnings == ["mr.yml:7: unknown top-level key `config` is ignored"]


def test_counts_resolve_from_numbers_and_variables() -> None:
    assert resolve_count("8", {}, what="m") == 8
    assert resolve_count("${N}", {"N": "3"}, what="m") == 3
    assert resolve_count("$N", {"N": " 4 "}, what="m") == 4
    with pytest.raises(ValueError, match=r"m: \$\{N\} is not set \(define N"):
        resolve_count("${N}", {}, what="m")
    with pytest.raises(ValueError, match="not a whole number of at least 1"):
        resolve_count("${N}", {"N": "0"}, what="m")


def test_json_files_and_load_any(tmp_path: Path) -> None:
    path = tmp_path / "mr.json"
    path.write_text(json.dumps({"name": "j", "mode": "mapreduce",
                                "map": {"input": "echo 1", "agent_template": [{"shell": "true"}]}}))
    loaded = load_any(path)
    assert isinstance(loaded, LoadedMapReduce) and loaded.workflow.name == "j"
    assert is_mapreduce_file(path)
    standard = tmp_path / "std.yml"
    standard.write_text("- shell: 'true'\n")
    assert isinstance(load_any(standard), LoadedWorkflow) and not is_mapreduce_file(standard)
    assert not is_mapreduce_file(tmp_path / "missing.yml")
    assert isinstance(parse_any("- shell: x\n", Path("a.yml")), LoadedWorkflow)


def test_the_merge_view_carries_the_merge_block_and_env() -> None:
    workflow = load(MINIMAL + "env:\n  A: b\nmerge:\n  - shell: echo ${merge.target_branch}\n").workflow
    finishing = workflow.for_merge()
    assert finishing.steps == [] and finishing.env == {"A": "b"}
    assert finishing.merge is not None and finishing.merge.steps[0].command == "echo ${merge.target_branch}"


def test_item_and_map_variables() -> None:
    variables = item_variables({"name": "x", "n": [1, 2]}, index=3, total=10)
    assert variables["item_id"] == "item_3" and variables["item_index"] == 3 and variables["item_total"] == 10
    assert variables["item_json"] == '{"name":"x","n":[1,2]}'
    assert item_variables("a line", index=0, total=1)["item.item"] == "a line"
    results = [AgentResult("item_0", True, output="ok", commits=("abc",)), AgentResult("item_1", False, error="boom"),
               AgentResult("item_2", True)]
    values = map_variables(results, 3)
    assert (values["map.total"], values["map.successful"], values["map.failed"], values["map.success_rate"]) == (
        3, 2, 1, 66)
    assert json.loads(str(values["map.results_json"]))[1]["error"] == "boom"
    assert json.loads(str(values["map.outputs"])) == ["ok"]
    assert map_variables([], 0)["map.success_rate"] == 0


@pytest.mark.parametrize(("item", "label"), [
    ({"name": "alpha", "id": 3}, "name=alpha"),
    ({"id": 3}, "id=3"),
    ({"other": "x"}, '{"other":"x"}'),
    ("a\nline", "a line"),
    (7, "7"),
    ("x" * 80, "x" * 59 + "…"),
])
def test_item_labels(item: object, label: str) -> None:
    assert item_label(item) == label
