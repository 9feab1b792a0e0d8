"""Kubeconfig documents for the test cluster's clients.

Written as JSON, which every kubeconfig reader accepts (JSON is YAML), so the harness
needs no YAML library.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Context:
    """One context: a name, the user it authenticates as and that user's token."""

    name: str
    user: str
    token: str
    namespace: str = "default"


def render(*, cluster: str, server: str, ca_pem: bytes, contexts: list[Context]) -> dict[str, Any]:
    """A kubeconfig for one cluster; the first context is the current one."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{
            "name": cluster,
            "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()},
        }],
        "users": [{"name": c.user, "user": {"token": c.token}} for c in contexts],
        "contexts": [
            {"name": c.name, "context": {"cluster": cluster, "user": c.user, "namespace": c.namespace}}
            for c in contexts
        ],
        "current-context": contexts[0].name,
        "preferences": {},
    }


def render_client_certificate(*, cluster: str, server: str, ca_pem: bytes, user: str, cert: Path,
                               key: Path) -> dict[str, Any]:
    """A kubeconfig whose one user authenticates with a client certificate (the kubelet's)."""
    document = render(cluster=cluster, server=server, ca_pem=ca_pem, contexts=[Context(user, user, "")])
    document["users"] = [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}]
    return document


def write(path: Path, document: dict[str, Any]) -> Path:
    """Write ``document`` readable only by its owner: it holds bearer tokens."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(document, handle, indent=2)
        handle.write("\n")
    return path
