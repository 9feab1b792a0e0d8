"""Upstream's other workflow shapes, run end to end: plain string and older command-form steps,
`analyze:`, `outputs`, `validate:` that reads the step's own result file, `when: =~`, structured
`env:`/`secrets:` values, and handlers nested inside `on_failure`."""

from __future__ import annotations

from pathlib import Path

from testing.repos import FakeClaude, log_subjects

from .conftest import RunProdigy, write
from .mapreduce_support import file_at

WORKFLOW = """\
env:
  PLAIN: plain
  DB_URL: postgres://localhost/app
  TOKEN: {secret: true, value: "tok-12345678"}
  BRANCH_AT_START: {command: "git rev-parse --abbrev-ref HEAD"}
  WHERE: {condition: "${CI} == 'yes'", when_true: ci, when_false: laptop}
secrets:
  FROM_ENV: {provider: env, key: OUTER_SECRET}
commands:
  - prodigy-code-review
  - name: prodigy-implement-spec
    args: ["42"]
    id: impl
    outputs:
      spec: {file_pattern: "specs/*-spec.md"}
  - shell: "echo spec is ${impl.spec}; echo branch $BRANCH_AT_START where $WHERE token $TOKEN outer $FROM_ENV"
    temporary: true
  - analyze: {force_refresh: true}
  - claude: "/prodigy-write-report"
    validate:
      result_file: report.json
      threshold: 80
  - shell: "echo only on localhost"
    when: "${DB_URL} =~ 'localhost'"
  - shell: "echo never on prod"
    when: "${DB_URL} =~ 'prod'"
  - shell: "test -f repaired"
    on_failure:
      claude: /prodigy-repair
      retry_original: true
      on_success:
        shell: "echo repair reported success"
"""


def test_upstream_shapes_run_as_upstream_runs_them(run_prodigy: RunProdigy, repo: Path,
                                                   fake_claude: FakeClaude) -> None:
    fake_claude.scenario([
        {"match": "^/prodigy-code-review$", "actions": [{"write": "review.md", "content": "r\n"},
                                                        {"commit": "Review"}]},
        {"match": "^/prodigy-implement-spec 42$", "actions": [{"write": "specs/42-spec.md", "content": "s\n"},
                                                              {"commit": "Spec 42"}]},
        {"match": "^/prodigy-write-report", "actions": [{"write": "report.json",
                                                         "content": '{"completion_percentage": 85}'}]},
        {"match": "^/prodigy-repair", "actions": [{"write": "repaired", "content": ""}]},
    ])
    wf = write(repo / "shapes.yml", WORKFLOW)
    result = run_prodigy("cook", str(wf), "-y", env={"CI": "no", "OUTER_SECRET": "outer-secret-value"})
    assert result.exit_code == 0, result.output
    assert [call["prompt"] for call in fake_claude.calls()] == [
        "/prodigy-code-review", "/prodigy-implement-spec 42", "/prodigy-write-report", "/prodigy-repair"]
    out = result.stdout
    assert "spec is specs/42-spec.md" in out
    assert "branch prodigy-session-" in out and "where laptop" in out
    assert "tok-12345678" not in out and "outer-secret-value" not in out       # secrets are masked
    assert "token ***REDACTED***" in out and "outer ***REDACTED***" in out
    assert "Validation passed: 85.0% complete (threshold: 80.0%)" in out
    assert "\n  only on localhost\n" in out and "\n  never on prod\n" not in out
    assert "repair reported success" in out
    warnings = result.stderr
    assert "shapes.yml:17: `temporary` has no effect" in warnings
    assert "shapes.yml:18: `analyze:` does nothing" in warnings
    assert {"Review", "Spec 42"} <= set(log_subjects(repo))
    assert file_at(repo, "specs/42-spec.md") == "s\n"


def test_a_secret_from_a_missing_variable_fails_before_the_first_step(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "missing.yml", "secrets:\n  KEY: {provider: env, key: NOT_SET_ANYWHERE}\n"
                                     "commands:\n  - shell: echo should not run\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 1
    assert "secret KEY: the environment variable NOT_SET_ANYWHERE is not set" in result.stderr
    assert "should not run" not in result.stdout
