"""What the in-pod agent reports when a step cannot run or the agent itself breaks (issue 10).

The agent runs here as a function, outside any pod: no transport env, so it makes its own
workspace repository; the termination summary goes to a temp file the test reads.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from prodigy.agent import AgentRequest, execute
from prodigy.errors import EXIT_FAILURE, EXIT_INTERNAL
from prodigy.k8s.agent_report import explained_summary
from prodigy.k8s.manifests.contract import AGENT_IMAGE_ENV
from prodigy.k8s.shipped_workflow import SECRETS_ENV
from prodigy.local import claude


def run_agent(tmp_path: Path, workflow: str, **env: str) -> tuple[int, dict[str, object]]:
    path = tmp_path / "workflow.yaml"
    path.write_text(workflow)
    log = tmp_path / "termination-log"
    environ = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),   # no `claude` here
        "HOME": str(tmp_path), "PRODIGY_HOME": str(tmp_path / "home"), "PRODIGY_TERMINATION_LOG": str(log),
        "PRODIGY_AGENT_WORKDIR": str(tmp_path / "workspace"), **env,
    }
    code = execute(AgentRequest(path), environ)
    return code, json.loads(log.read_text())


def test_a_claude_step_on_an_image_without_claude_fails_the_step_naming_the_image(tmp_path: Path) -> None:
    code, summary = run_agent(tmp_path, "- shell: echo before\n- claude: /prodigy-lint\n",
                              **{AGENT_IMAGE_ENV: "registry.example.com/tools:slim"})

    assert code == EXIT_FAILURE                        # like any failed step: resumable, not a crash
    assert summary["status"] == "failed" and summary["failed_step"] == "claude: /prodigy-lint"
    error = str(summary["error"])
    assert "the Claude Code CLI (`claude`) is not installed in the image registry.example.com/tools:slim" in error
    assert summary["steps_completed"] == 1


def test_an_agent_crash_is_reported_with_its_message_and_exit_3(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*_args: object, **_kwargs: object) -> None:
        raise FileNotFoundError(2, "No such file or directory", "some-tool")

    monkeypatch.setattr("prodigy.local.executor.execute", broken)
    code, summary = run_agent(tmp_path, "- shell: echo hi\n")

    assert code == EXIT_INTERNAL
    assert summary["error"] == "the agent crashed: FileNotFoundError: [Errno 2] No such file or directory: 'some-tool'"
    assert "Traceback" in capsys.readouterr().err          # the pod's log ends with where it broke


def test_workflow_secrets_come_from_the_runs_secret_and_the_json_stays_out_of_the_steps(tmp_path: Path) -> None:
    workflow = ('secrets: {API_TOKEN: "<redacted>"}\n'
                'commands:\n  - shell: \'test "$API_TOKEN" = tok-from-secret && test -z "$PRODIGY_WORKFLOW_SECRETS"\'\n')
    code, summary = run_agent(tmp_path, workflow, **{SECRETS_ENV: json.dumps({"API_TOKEN": "tok-from-secret"})})
    assert (code, summary["status"]) == (0, "completed"), summary


def test_the_image_variable_has_one_name_on_both_sides() -> None:
    assert claude.AGENT_IMAGE_ENV == AGENT_IMAGE_ENV


TAILS = {"job-abc/prodigy-agent": ["[1/1] shell: x", "Traceback (most recent call last):",
                                   '  File "x.py", line 1', "FileNotFoundError: boom", ""],
         "job-abc/prodigy-results": ["prodigy-result/1 none"]}


@pytest.mark.parametrize(("summary", "expected"), [
    ({"status": "failed", "exit_code": 3, "error": "the agent crashed: FileNotFoundError: boom", "crashed": True},
     "the agent crashed: FileNotFoundError: boom\nlast lines of its log:\n  [1/1] shell: x\n"
     "  Traceback (most recent call last):\n    File \"x.py\", line 1\n  FileNotFoundError: boom"),
    ({"status": "failed", "exit_code": 1},
     "the workflow container (prodigy-agent) exited with code 1 without an error\nlast lines of its log:\n"
     "  [1/1] shell: x\n  Traceback (most recent call last):\n    File \"x.py\", line 1\n  FileNotFoundError: boom"),
    ({"status": "failed", "exit_code": 1, "error": "Step 'shell: x' failed with exit code 2"},
     "Step 'shell: x' failed with exit code 2"),
])
def test_the_cli_never_reports_a_failure_without_its_reason(summary: dict[str, object], expected: str) -> None:
    assert explained_summary(summary, TAILS)["error"] == expected
    assert explained_summary({"status": "completed", "exit_code": 0, "error": None}, TAILS)["error"] is None
    assert explained_summary({"status": "failed", "exit_code": 1}, {})["error"] == \
        "the workflow container (prodigy-agent) exited with code 1 without an error"
