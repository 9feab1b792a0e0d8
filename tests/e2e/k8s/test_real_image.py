"""On a real node, the Job's pod runs in the image built from docker/agent/Dockerfile.

Seen from inside the pod, with the product's own security context and memory limit: the OS
release of the image's Debian base, the Claude Code CLI the Dockerfile installs (the plain
agent image, not the test image whose `claude` is the fake), uid/gid 1000, tini as PID 1, and
the memory limit in the container's own cgroup; a step over that limit is OOMKilled (exit 137).

Deselected on other nodes (marker ``real_node_only``): the process node agent runs pods as
host processes from this checkout's virtualenv, so there is no image to look into.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from testcluster.image import recipe
from tests.e2e.k8s.conftest import CookEnv

pytestmark = [pytest.mark.timeout(300), pytest.mark.real_node_only]

DOCKERFILE = Path(__file__).resolve().parents[3] / "docker" / "agent" / "Dockerfile"
CLAUDE_CODE_VERSION = re.findall(r"^ARG CLAUDE_CODE_VERSION=(\S+)$", DOCKERFILE.read_text(), re.MULTILINE)[0]

# No $VARIABLE in these commands: prodigy interpolates those itself before the shell runs.
LOOK_AROUND = """\
name: look-around
commands:
  - shell: "grep '^PRETTY_NAME=' /etc/os-release | tr -d '\\"'"
  - shell: "echo claude=$(claude --version)"
  - shell: "echo ids=$(id -u):$(id -g) home=$(printenv HOME)"
  - shell: "xargs -0 echo pid1= < /proc/1/cmdline"
  - shell: "echo limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max)"
  - shell: "echo python=$(command -v python3) node=$(node --version)"
"""

HUNGRY = """\
name: hungry
commands:
  - shell: "echo within-the-limit"
  - shell: "python3 -c 'import time; x = bytearray(1024 * 1024 * 1024); time.sleep(5)'"
"""


def _seen(stdout: str, key: str) -> str:
    """The value a step printed as KEY=value (the step's header, which shows the command, comes first)."""
    values = [value.strip() for value in re.findall(rf"^.*?\b{key}=(.*)$", stdout, re.MULTILINE)
              if "$(" not in value and "/etc/os-release" not in value]
    assert values, f"{key}= not in the run's output:\n{stdout}"
    return values[-1]


def test_the_pod_runs_the_built_image_under_its_memory_limit(cook_env: CookEnv) -> None:
    cook_env.configure(image=recipe.AGENT_IMAGE,
                       resources={"requests": {"memory": "64Mi", "cpu": "100m"}, "limits": {"memory": "384Mi"}})
    looked = cook_env.cook(cook_env.workflow("look", LOOK_AROUND), "--keep")

    assert looked.returncode == 0, looked.stderr
    assert _seen(looked.stdout, "PRETTY_NAME") == "Debian GNU/Linux 12 (bookworm)"
    assert _seen(looked.stdout, "claude") == f"{CLAUDE_CODE_VERSION} (Claude Code)"   # the real CLI, from npm
    assert _seen(looked.stdout, "ids") == "1000:1000 home=/home/prodigy"
    assert _seen(looked.stdout, "pid1").startswith("/usr/bin/tini -- prodigy agent execute")   # tini is PID 1
    assert int(_seen(looked.stdout, "limit")) == 384 * 1024 * 1024
    assert _seen(looked.stdout, "python").startswith("/opt/prodigy/bin/python3 node=v22.")

    cook_env.configure(image=recipe.AGENT_IMAGE,
                       resources={"requests": {"memory": "64Mi", "cpu": "100m"}, "limits": {"memory": "256Mi"}})
    hungry = cook_env.cook(cook_env.workflow("hungry", HUNGRY), "--keep")

    assert hungry.returncode == 1
    assert "within-the-limit" in hungry.stdout
    # The kernel's OOM killer takes the step's python (the largest process), not the agent: the
    # step fails with 137, the agent reports the failure, and the container is OOMKilled.
    assert "failed with exit code 137" in hungry.stdout + hungry.stderr
    assert "ran out of memory" in hungry.stderr and "256Mi" in hungry.stderr
    pods = json.loads(cook_env.cluster.kubectl("-n", cook_env.namespace, "get", "pods", "-l", "app=prodigy",
                                               "-o", "json").stdout)["items"]
    reasons = [status["state"]["terminated"]["reason"] for pod in pods
               for status in pod["status"].get("containerStatuses", [])
               if status["name"] == "prodigy-agent" and status["state"].get("terminated")]
    assert sorted(reasons) == ["Completed", "OOMKilled"], reasons   # the first run's pod, then this one
