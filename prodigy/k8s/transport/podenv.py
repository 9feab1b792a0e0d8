"""What the pod's own processes read: the environment variables and paths the pod spec sets.

Kept apart from `podspec` (which builds the spec on the CLI side, with the cluster's
configuration models) so that the pod's plumbing containers (`prodigy agent fetch-repo`,
`emit-results`) import neither pydantic nor the configuration: on a cluster every pod starts
these interpreters, and a MapReduce map phase starts one pod per item.
"""

from __future__ import annotations

from typing import Final

WORKDIR: Final = "/workspace"                   # manifests.contract.AGENT.workdir
CREDENTIALS_DIR: Final = "/prodigy/git-credentials"
REPO_DIR: Final = f"{WORKDIR}/repo"
OUT_DIR: Final = f"{WORKDIR}/out"
STATE_DIR: Final = f"{WORKDIR}/state"

# Env the agent reads to find the checkout and where to export (prodigy/agent.py).
ENV_REPO_DIR: Final = "PRODIGY_REPO_DIR"
ENV_BASE_SHA: Final = "PRODIGY_BASE_SHA"
ENV_SESSION_BRANCH: Final = "PRODIGY_SESSION_BRANCH"
ENV_RESULTS_DIR: Final = "PRODIGY_RESULTS_DIR"
ENV_STATE_DIR: Final = "PRODIGY_STATE_DIR"
ENV_RESUMING: Final = "PRODIGY_RESUMING"        # "true": the init container restored the checkpoint into STATE_DIR
ENV_REPO_MODE: Final = "PRODIGY_REPO_MODE"
