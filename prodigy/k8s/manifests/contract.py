"""The agent image contract: what the Job assumes about the image, and the image promises.

``docker/agent/contract.json`` states the same contract for the image build. Three checks keep
the pieces together: ``AGENT`` equals that file and the Dockerfile agrees with it
(``tests/unit/k8s/test_agent_image.py``), and the test control plane's node agent runs the
``prodigy-agent`` image by the same contract, so the e2e suite runs exactly the Job built here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final


@dataclass(frozen=True)
class AgentContract:
    """What the Job assumes about the agent image, and the image promises."""

    entrypoint: tuple[str, ...] = ("/usr/bin/tini", "--")
    command: tuple[str, ...] = ("prodigy", "agent", "execute")
    workflow_path: str = "/config/workflow.yaml"
    config_dir: str = "/config"
    workdir: str = "/workspace"
    user: str = "prodigy"
    uid: int = 1000
    gid: int = 1000
    env: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({"PYTHONUNBUFFERED": "1"}))
    termination_log: str = "/dev/termination-log"

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "entrypoint": list(self.entrypoint),
            "command": list(self.command),
            "workflow_path": self.workflow_path,
            "config_dir": self.config_dir,
            "workdir": self.workdir,
            "user": self.user,
            "uid": self.uid,
            "gid": self.gid,
            "env": dict(self.env),
            "termination_log": self.termination_log,
        }


AGENT: Final = AgentContract()
AGENT_CONTAINER: Final = "prodigy-agent"
# The agent container's own image, for messages about what it lacks (prodigy.local.claude reads it).
AGENT_IMAGE_ENV: Final = "PRODIGY_AGENT_IMAGE"
