"""Spec 97: Ctrl+C cancels the Job — nothing left behind, "cancelled", never success."""

from __future__ import annotations

import signal
import time

import pytest

from tests.e2e.k8s.conftest import CookEnv

pytestmark = pytest.mark.timeout(180)

SECRET = "sk-ant-e2e-cancel-secret-value"


def _wait_for(process_stream_lines: list[str], stream: object, needle: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = stream.readline()  # type: ignore[attr-defined]
        if not line:
            break
        process_stream_lines.append(line)
        if needle in line:
            return
    raise AssertionError(f"never saw {needle!r}; got:\n{''.join(process_stream_lines)}")


@pytest.mark.parametrize("signum, exit_code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_while_running_deletes_everything_and_reports_cancelled(
        cook_env: CookEnv, signum: signal.Signals, exit_code: int) -> None:
    workflow = cook_env.workflow("long", 'name: long\ncommands:\n  - shell: "echo started-working; sleep 120"\n')
    process = cook_env.popen(cook_env.cook_args(workflow), env={"ANTHROPIC_API_KEY": SECRET})
    seen: list[str] = []
    _wait_for(seen, process.stdout, "started-working", timeout=60)
    assert cook_env.prodigy_objects()                  # the run exists: Job, pod, ConfigMap(s), Secret

    process.send_signal(signum)
    out, err = process.communicate(timeout=60)

    assert process.returncode == exit_code, err
    assert "cancelled" in err
    assert "succeeded" not in err
    assert SECRET not in out + err
    assert cook_env.prodigy_objects() == []            # gone by the time the command returned
    finished = [r for r in cook_env.runs() if r["event"] == "finished"]
    assert [r["outcome"] for r in finished] == ["cancelled"]


def test_sigint_while_pending_deletes_everything(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("hello", 'name: hello\ncommands:\n  - shell: "echo hi"\n')
    process = cook_env.popen(cook_env.cook_args(workflow, "--image", "registry.invalid/never/there:1"),
                             env={"ANTHROPIC_API_KEY": SECRET})
    seen: list[str] = []
    _wait_for(seen, process.stderr, "ImagePull", timeout=60)   # the status line: stuck pulling

    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 130, err
    assert "cancelled" in err
    assert cook_env.prodigy_objects() == []


def test_second_ctrl_c_exits_at_once(cook_env: CookEnv) -> None:
    workflow = cook_env.workflow("stubborn", """\
name: stubborn
commands:
  - shell: "trap '' TERM; echo ignoring-term; sleep 120"
""")
    process = cook_env.popen(cook_env.cook_args(workflow))
    seen: list[str] = []
    _wait_for(seen, process.stdout, "ignoring-term", timeout=60)
    process.send_signal(signal.SIGINT)
    _wait_for(seen, process.stderr, "cancelling", timeout=20)
    process.send_signal(signal.SIGINT)
    # Without the second Ctrl+C the client would wait for the pods for CANCEL_WAIT_SECONDS (30 s).
    _, err = process.communicate(timeout=20)
    assert process.returncode == 130
    assert "cancelled" in err
    # The Job itself is already gone or going; its pods follow under the Job's deletion.
    cook_env.wait_until(lambda: not [o for o in cook_env.prodigy_objects() if o.startswith("jobs/")],
                        timeout=60, what="the Job is deleted")
