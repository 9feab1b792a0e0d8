"""Import every command module so each registers its commands on the `prodigy` group."""

from __future__ import annotations

import importlib

# One module per command group; each decorates functions with `@cli.command(...)`.
COMMAND_MODULES = (
    "prodigy.cli.run",        # cook/run, resume, exec, validate, init   (local executor)
    "prodigy.cli.worktree",   # worktree ls|merge|clean
    "prodigy.cli.mapreduce",  # dlq list|show|retry, logs               (MapReduce sessions)
    "prodigy.cli.cluster",    # cluster list|show|check|gc             (Kubernetes)
    "prodigy.cli.agent",      # agent execute                           (inside the pod)
    "prodigy.cli.agent_transport",  # agent fetch-repo|emit-results     (the pod's transport containers)
    "prodigy.cli.cluster_collect",  # cluster collect                   (results of a detached cluster run)
    "prodigy.cli.cluster_runs",     # cluster runs|attach|logs|cancel   (runs submitted with --detach)
)

for _name in COMMAND_MODULES:
    importlib.import_module(_name)
