"""prodigy-behaviour.md §6.5 items 4–5: the on_failure retry loop, handlers, validate/on_incomplete."""

from __future__ import annotations

from pathlib import Path

from testing.repos import FakeClaude

from .conftest import RunProdigy, write

RETRY_WORKFLOW = """\
- shell: "echo run >> ../runs.log; test -f fixed"
  on_failure:
    claude: "/fix ${{shell.output}}"
    max_attempts: 3
    fail_workflow: {fail}
"""


def _runs(prodigy_home: Path, repo: Path) -> int:
    """How often the shell step ran: it appends to ../runs.log, next to the worktree (outside it)."""
    log = prodigy_home / "worktrees" / repo.name / "runs.log"
    return len(log.read_text().splitlines()) if log.exists() else 0


def test_retry_loop_fixes_on_first_claude_call(run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude,
                                               prodigy_home: Path) -> None:
    fake_claude.scenario([{"match": "^/fix", "actions": [{"write": "fixed", "content": "ok\n"}]}])
    wf = write(repo / "wf.yml", RETRY_WORKFLOW.format(fail="true"))
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert _runs(prodigy_home, repo) == 2
    (prompt,) = fake_claude.prompts()
    assert prompt.startswith("/fix STDOUT:\n") and "STDERR:" in prompt


def test_retry_loop_that_never_fixes_fails_after_max_attempts(run_prodigy: RunProdigy, repo: Path,
                                                              fake_claude: FakeClaude, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", RETRY_WORKFLOW.format(fail="true"))
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 1
    assert "failed after 3 attempts" in result.stderr
    assert _runs(prodigy_home, repo) == 3
    assert len(fake_claude.calls()) == 2


def test_retry_loop_with_fail_workflow_false_continues(run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude,
                                                       prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", RETRY_WORKFLOW.format(fail="false") + "- shell: echo after\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert _runs(prodigy_home, repo) == 3
    assert "after" in result.stdout


def test_large_failing_output_reaches_the_fix_command_as_a_file(run_prodigy: RunProdigy, repo: Path,
                                                                fake_claude: FakeClaude) -> None:
    # The fix command keeps a copy of the file it was given (outside the worktree, uncommitted).
    seen = repo.parent / "seen-output.txt"
    fake_claude.scenario([{"match": "^/fix", "actions": [{"shell": f"cp $FAKE_ARGS {seen}", "check": True},
                                                         {"write": "fixed", "content": "ok\n"}]}])
    wf = write(repo / "wf.yml", '- shell: "seq 1 5000; test -f fixed"\n'
                                '  on_failure:\n    claude: "/fix ${shell.output}"\n    max_attempts: 2\n')
    result = run_prodigy("cook", str(wf), "-y", "-q")
    assert result.exit_code == 0, result.output
    (prompt,) = fake_claude.prompts()
    path = Path(prompt.removeprefix("/fix "))
    text = seen.read_text()
    assert text.startswith("=== STDOUT ===\n1\n2\n") and "5000" in text and "=== STDERR ===" in text
    assert not path.exists(), "the temporary output file outlived the fix command"


def test_string_handler_recovers_and_sees_error_variables(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: 'echo broken >&2; exit 4'\n"
                                "  on_failure: 'echo handled ${error.exit_code} ${error.message}'\n"
                                "- shell: echo next\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert "handled 4 broken" in result.stdout
    assert "next" in result.stdout


def test_handler_with_retries_reruns_the_step(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: 'n=$(cat ../count 2>/dev/null || echo 0); echo $((n+1)) > ../count; "
                                "[ $n -ge 2 ]'\n"
                                "  on_failure: {shell: 'exit 1', max_retries: 3, fail_workflow: true}\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert "passed on retry 2" in result.stdout


def test_on_failure_true_ignores_the_failure(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: 'exit 9'\n  on_failure: true\n- shell: echo still-here\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert "still-here" in result.stdout


VALIDATE_WORKFLOW = """\
- claude: "/implement"
  validate:
    claude: "/check"
    result_file: ".prodigy/validation.json"
    threshold: 100
    on_incomplete:
      claude: "/complete --gaps ${validation.gaps} --missing ${validation.missing}"
      fail_workflow: true
"""


def _result(percent: int, missing: list[str]) -> str:
    import json

    return json.dumps({"completion_percentage": percent, "status": "incomplete" if percent < 100 else "complete",
                       "implemented": ["a"], "missing": missing, "gaps": {"b": {"description": "b is missing"}}})


def test_validation_passes_after_on_incomplete(run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude) -> None:
    fake_claude.scenario([
        {"match": "^/check", "calls": [1], "actions": [{"write": ".prodigy/validation.json",
                                                        "content": _result(60, ["b"])}]},
        {"match": "^/check", "actions": [{"write": ".prodigy/validation.json", "content": _result(100, [])}]},
    ])
    wf = write(repo / "wf.yml", VALIDATE_WORKFLOW)
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert fake_claude.prompts() == [
        "/implement", "/check",
        '/complete --gaps {"b":{"description":"b is missing"}} --missing b', "/check"]
    assert "Validation passed: 100.0% complete (threshold: 100.0%)" in result.stdout


def test_validation_that_stays_incomplete_fails_the_workflow(run_prodigy: RunProdigy, repo: Path,
                                                             fake_claude: FakeClaude) -> None:
    fake_claude.scenario([{"match": "^/check", "actions": [{"write": ".prodigy/validation.json",
                                                            "content": _result(60, ["b"])}]}])
    wf = write(repo / "wf.yml", VALIDATE_WORKFLOW)
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 1
    assert "Validation failed after 2 attempts. Completion: 60.0%" in result.stderr
    assert [p.split()[0] for p in fake_claude.prompts()] == ["/implement", "/check", "/complete", "/check",
                                                             "/complete", "/check"]
