"""The --dry-run plan lists every step, its options, handlers, validation and the merge."""

from __future__ import annotations

from prodigy.workflow.loader import load_workflow
from prodigy.workflow.plan import format_plan
from tests.unit.workflow.support import FIXTURES, load_text


def test_plan_for_the_implement_fixture() -> None:
    workflow = load_workflow(FIXTURES / "implement.yml").workflow
    plan = format_plan(workflow, inputs=["42", "43"], max_iterations=2)
    lines = plan.splitlines()
    assert lines[0] == f"Workflow: implement-spec ({FIXTURES / 'implement.yml'})"
    assert "Runs: once per input (2): ARG = 42, 43" in lines
    assert "Iterations: up to 2" in lines
    assert "Steps (3):" in lines
    assert "   1. claude: /prodigy-implement-spec $ARG" in lines
    assert "      commit required" in lines
    assert "      validate (threshold 100%, result file .prodigy/validation-result.json):" in lines
    assert "      on incomplete (up to 3 attempts, then continue):" in lines
    assert "   2. shell: make test" in lines
    assert any(line.strip().startswith("on failure: retry up to 5 attempts, fixing with claude: "
                                        "/prodigy-debug-test-failure") for line in lines)
    assert lines[-4:] == [
        "Merge:",
        "   1. shell: git log --oneline ${merge.target_branch|sh}..${merge.source_branch|sh}",
        "   2. claude: /prodigy-merge-worktree ${merge.source_branch} ${merge.target_branch}",
        "Dry run: nothing was executed.",
    ]


def test_plan_shows_options_nested_steps_and_default_merge() -> None:
    workflow = load_text(
        """
        env: {A: "1"}
        secrets: {TOKEN: x}
        commands:
          - shell: ./count.sh
            name: Count
            when: "${ARG} != 'skip'"
            timeout: 30
            capture: total
            capture_format: number
            on_failure: [echo cleanup]
          - foreach:
              foreach: [a, b]
              parallel: 2
              do:
                - shell: echo ${item}
          - write_file: {path: out.json, content: "{}", format: json}
        """
    ).workflow
    plan = format_plan(workflow)
    assert "Environment: A, TOKEN (secret)" in plan
    assert "   1. Count (shell: ./count.sh)" in plan
    assert "when: ${ARG} != 'skip' · timeout: 30s · capture -> total (number, stdout)" in plan
    assert "on failure (then continue):" in plan and "- shell: echo cleanup" in plan
    assert "   2. foreach over items ['a', 'b'] (2 in parallel)" in plan
    assert "      2.1. shell: echo ${item}" in plan
    assert "   3. write_file: out.json (json, mode 0644)" in plan
    assert "git merge --no-ff into the original branch" in plan
    assert "x" not in plan.split("Environment:")[1].splitlines()[0]  # secret values never shown
