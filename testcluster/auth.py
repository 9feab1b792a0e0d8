"""Who talks to the test apiserver, and what the restricted test user may do.

Every client authenticates with a static bearer token (``--token-auth-file``) and
is authorised by the apiserver's real RBAC (``--authorization-mode=Node,RBAC``).
"""

from __future__ import annotations

import csv
import io
import secrets
from dataclasses import dataclass
from typing import Any

MASTERS = "system:masters"
RESTRICTED_USER = "prodigy-test-restricted"
RESTRICTED_ROLE = "prodigy-test-restricted"


@dataclass(frozen=True)
class Identity:
    """A token user: ``user`` and ``groups`` are what RBAC sees."""

    user: str
    groups: tuple[str, ...]
    token: str


@dataclass(frozen=True)
class Identities:
    admin: Identity
    restricted: Identity
    controller_manager: Identity
    scheduler: Identity
    node_agent: Identity

    def all(self) -> tuple[Identity, ...]:
        return (self.admin, self.restricted, self.controller_manager, self.scheduler, self.node_agent)


def new_identities(token: Any = secrets.token_urlsafe) -> Identities:
    """Fresh random tokens for every client of one cluster."""
    return Identities(
        admin=Identity("testcluster-admin", (MASTERS,), token(32)),
        restricted=Identity(RESTRICTED_USER, (), token(32)),
        # kube-controller-manager runs without per-controller service accounts, so its
        # own identity needs every controller's rights.
        controller_manager=Identity("system:kube-controller-manager", (MASTERS,), token(32)),
        # The scheduler's bootstrap ClusterRoleBindings (system:kube-scheduler and
        # system:volume-scheduler) are enough, as in a kubeadm cluster.
        scheduler=Identity("system:kube-scheduler", (), token(32)),
        # The agent lifts the node's not-ready taint and binds nothing else, but the
        # NodeRestriction-style limits of a real kubelet identity do not fit a process
        # agent, so it runs as a cluster admin under its own name.
        node_agent=Identity("testcluster-node-agent", (MASTERS,), token(32)),
    )


def token_auth_file(identities: Identities) -> str:
    """The apiserver's ``--token-auth-file``: ``token,user,uid,"group1,group2"`` per line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for index, identity in enumerate(identities.all(), start=1):
        writer.writerow([identity.token, identity.user, f"uid-{index}", ",".join(identity.groups)])
    return out.getvalue()


def restricted_role() -> dict[str, Any]:
    """Read-only access to what `prodigy` shows a user: jobs, pods and their logs, events.

    Notably absent: creating Jobs (the RBAC tests expect 403 Forbidden there).
    """
    read = ["get", "list", "watch"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": RESTRICTED_ROLE},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "events", "namespaces", "configmaps"], "verbs": read},
            {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
            {"apiGroups": ["batch"], "resources": ["jobs"], "verbs": read},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": read},
        ],
    }


def restricted_binding(subject: dict[str, str], name: str = RESTRICTED_ROLE) -> dict[str, Any]:
    """Bind the restricted role cluster-wide to ``subject`` (a User or a ServiceAccount)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": RESTRICTED_ROLE},
        "subjects": [subject],
    }


def user_subject(user: str) -> dict[str, str]:
    return {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
