"""Step options honoured in standard workflows: capture, when, env, working_dir, output_file,
timeout, write_file, foreach, workflow env and secrets, --args/--map/-n."""

from __future__ import annotations

import json
from pathlib import Path

from testing.repos import FakeClaude, commit_files

from .conftest import RunProdigy, write


def test_capture_formats_and_when_conditions(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", """\
- shell: echo 42
  capture: answer
  capture_format: number
- shell: "echo '{\\"name\\": \\"prodigy\\", \\"tags\\": [\\"a\\", \\"b\\"]}'"
  capture: info
  capture_format: json
- shell: echo "big ${answer} ${info.name} ${info.tags[1]}"
  when: "${answer} > 10"
- shell: echo "never printed"
  when: "${answer} < 10"
- shell: printf 'x\\ny\\n'
  capture_output: listing
  capture_format: lines
- shell: echo "lines=${listing} unknown=${SHELL_ONLY} home=$HOME default=${nope:-dflt}"
  env:
    SHELL_ONLY: reached-the-shell
""")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert "big 42 prodigy b" in result.stdout
    assert "never printed" not in result.stdout.replace('echo "never printed"', "")
    assert "skipped" in result.stdout
    home = str(Path.home())
    assert f"lines=x, y unknown=reached-the-shell home={home} default=dflt" in result.stdout


def test_env_working_dir_and_output_file(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", """\
env:
  STAGE: test
  PORT: 8080
commands:
  - shell: echo "stage=$STAGE port=${PORT} local=$LOCAL pwd=$(basename $(pwd))"
    env:
      LOCAL: "from-${STAGE}"
    working_dir: src
    output_file: out/report.txt
  - shell: cat out/report.txt
""")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("stage=test port=8080 local=from-test pwd=src") == 2


def test_timeout_kills_the_step_and_fails_it(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: 'sleep 30 & echo $! > ../child.pid; wait'\n  timeout: 1\n")
    result = run_prodigy("cook", str(wf), "-y", timeout=25)    # the 1 s timeout, not the step's 30 s
    assert result.exit_code == 1
    assert "Command timed out after 1 seconds" in result.stderr
    assert "failed with exit code -1" in result.stderr


def test_write_file_and_foreach(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", """\
- write_file:
    path: config/settings.json
    content: '{"arg": "${ARG}", "n": 1}'
    format: json
    create_dirs: true
- shell: cat config/settings.json
- foreach:
    foreach: ["alpha", "beta"]
    do:
      - shell: echo "item ${item} at ${item_index}"
- foreach:
    foreach: "printf 'one\\ntwo\\nthree\\n'"
    max_items: 2
    do:
      - shell: echo "line ${item}"
""")
    result = run_prodigy("cook", str(wf), "--args", "9", "-y")
    assert result.exit_code == 0, result.output
    assert '"arg": "9"' in result.stdout
    assert "item alpha at 0" in result.stdout and "item beta at 1" in result.stdout
    assert "line one" in result.stdout and "line two" in result.stdout and "line three" not in result.stdout


def test_secrets_are_masked_in_output(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", "secrets:\n  API_TOKEN: s3cr3t-value\ncommands:\n  - shell: echo token=$API_TOKEN\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert "token=***REDACTED***" in result.stdout
    assert "s3cr3t-value" not in result.stdout


def test_args_run_the_workflow_once_per_value(run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude) -> None:
    wf = write(repo / "wf.yml", '- claude: "/implement $ARG"\n- shell: echo "arg=$ARG env=$PRODIGY_ARG"\n')
    result = run_prodigy("cook", str(wf), "--args", "1", "--args", "2", "-y")
    assert result.exit_code == 0, result.output
    assert fake_claude.prompts() == ["/implement 1", "/implement 2"]
    assert "arg=1 env=1" in result.stdout and "arg=2 env=2" in result.stdout


def test_map_derives_arg_from_file_names(run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude) -> None:
    commit_files(repo, {"specs/65-cook-refactor.md": "x", "specs/66-more.md": "y"}, "specs")
    wf = write(repo / "wf.yml", '- claude: "/implement-spec $ARG"\n')
    result = run_prodigy("cook", str(wf), "--map", "specs/*.md", "-y")
    assert result.exit_code == 0, result.output
    assert fake_claude.prompts() == ["/implement-spec 65", "/implement-spec 66"]


def test_max_iterations_repeats_until_an_iteration_commits_nothing(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", """\
- shell: |
    n=$(cat counter 2>/dev/null || echo 0)
    if [ "$n" -lt 2 ]; then echo $((n+1)) > counter; git add counter; git commit -qm "iteration $ITERATION"; fi
""")
    result = run_prodigy("cook", str(wf), "-n", "5", "-y")
    assert result.exit_code == 0, result.output
    assert "iteration 3/5" in result.stdout and "iteration 4/5" not in result.stdout
    assert (repo / "counter").read_text().strip() == "2"


def test_checkpoint_is_written_after_every_step(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: echo a\n  capture: first\n- shell: echo b\n- shell: 'exit 1'\n")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 1
    (checkpoint,) = (prodigy_home / "state").glob("session-*/checkpoints/*.checkpoint.json")
    data = json.loads(checkpoint.read_text())
    assert data["status"] == "failed"
    assert data["execution_state"]["next_step"] == 2
    assert [s["display"] for s in data["completed_steps"]] == ["shell: echo a", "shell: echo b"]
    assert data["variables"]["first"] == "a"
    assert data["failed_step"] == "shell: exit 1"


def test_on_success_runs_after_a_successful_step_only(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", """\
- shell: echo built
  on_success:
    shell: echo "after ${shell.output}"
- shell: 'exit 1'
  on_failure: true
  on_success:
    shell: echo never-after-failure
""")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert "after built" in result.stdout
    assert "  never-after-failure" not in result.stdout


def test_no_commit_validation_switch(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: echo no commit\n  commit_required: true\n")
    result = run_prodigy("cook", str(wf), "-y", env={"PRODIGY_NO_COMMIT_VALIDATION": "true"})
    assert result.exit_code == 0, result.output


def test_test_mode_fakes_claude_and_does_not_merge(run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude,
                                                   prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- claude: /prodigy-lint\n- shell: \"echo x > x && git add x && git commit -qm x\"\n")
    result = run_prodigy("cook", str(wf), "-y", env={"PRODIGY_TEST_MODE": "true"})
    assert result.exit_code == 0, result.output
    assert "[TEST MODE] Would execute Claude command: /prodigy-lint" in result.stdout
    assert fake_claude.calls() == []
    assert not (repo / "x").exists()
