"""The few apiserver calls the harness makes itself, over plain HTTPS.

The harness must start a cluster before any Kubernetes client is configured, and it
stays free of the `kubernetes` package so `up`/`down` work from any Python.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status


@dataclass(frozen=True)
class Api:
    server: str
    token: str
    ca_cert: Path

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.ca_cert))

    def request(self, method: str, path: str, body: Any = None, timeout: float = 10.0,
                content_type: str = "application/json") -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.server + path, data=data, method=method, headers={
            "Authorization": f"Bearer {self.token}", "Accept": "application/json",
            "Content-Type": content_type,
        })
        try:
            with urllib.request.urlopen(request, context=self._context(), timeout=timeout) as response:
                raw = response.read()
        except urllib.error.HTTPError as error:
            raise ApiError(error.code, error.read().decode(errors="replace")[:500]) from None
        text = raw.decode()
        try:
            return json.loads(text)
        except ValueError:
            return text

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        """A JSON merge patch (RFC 7386): lists in ``body`` replace the object's lists."""
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def create(self, path: str, body: dict[str, Any]) -> None:
        """POST ``body``; an object that already exists is fine (idempotent setup)."""
        try:
            self.request("POST", path, body)
        except ApiError as error:
            if error.status != 409:
                raise


def reachable(url: str, *, ca_cert: Path | None = None, token: str | None = None, timeout: float = 2.0) -> bool:
    """True when ``url`` answers 200 (health endpoints: /readyz, /healthz, /health)."""
    if ca_cert is not None:
        context = ssl.create_default_context(cafile=str(ca_cert))
    else:
        # kube-controller-manager and kube-scheduler serve health on a self-signed
        # certificate they generate; only liveness is asked of them here.
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=context,
                                    timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, urllib.error.URLError):
        return False
