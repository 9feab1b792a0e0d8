"""Kubernetes failures as prodigy errors, translated at one boundary.

    ProdigyError (prodigy.errors)
    └── KubeError                    exit 1: something went wrong talking to a cluster
        ├── ApiError                 the API server answered with an error Status
        │   ├── BadRequest           400 / 422: the server rejected what we sent
        │   ├── Unauthorized         401: credentials missing, expired or rejected
        │   ├── Forbidden            403: RBAC denies the verb on the resource
        │   ├── NotFound             404
        │   ├── Conflict             409: AlreadyExists or a stale resourceVersion
        │   ├── Gone                 410: a watch's resourceVersion is too old (re-list)
        │   ├── TooManyRequests      429: API priority and fairness throttled us (retryable)
        │   └── ServerError          5xx (retryable)
        ├── Unreachable              no HTTP answer: refused, timed out, TLS or DNS failure
        └── PreflightError           exit 2: the cluster is not set up for prodigy (nothing submitted)
    ConfigError (prodigy.errors)
    └── KubeconfigError              exit 2: kubeconfig missing or broken, unknown context

None of these subclasses the client library's exceptions, on purpose: code above
``prodigy.k8s`` must never need to import ``kubernetes`` or ``urllib3`` to handle a failure,
and a client upgrade that reshapes its exceptions only touches this module.
``kube_context`` is the boundary that adds cluster, namespace and Job to every message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prodigy.errors import EXIT_USAGE, ConfigError, ProdigyError

_MAX_BODY = 300  # a proxy's HTML error page would drown the message; keep its start only


class KubeError(ProdigyError):
    """A failure talking to a cluster. ``where`` names the cluster/namespace/Job involved."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.where = ""

    def add_context(self, where: str) -> None:
        # The innermost context wins: it knows the most (e.g. the Job name).
        if where and not self.where:
            self.where = where
            self.message = f"{where}: {self.message}"
            self.args = (self.message,)


class ApiError(KubeError):
    """The API server answered with a non-2xx Status."""

    status = 0

    def __init__(self, message: str, *, status: int, reason: str = "", details: Mapping[str, Any] | None = None,
                 retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.reason = reason            # the Status reason, e.g. "AlreadyExists", "Forbidden"
        self.details = dict(details or {})
        self.retry_after = retry_after  # seconds, from the Retry-After header


class BadRequest(ApiError):
    pass


class Unauthorized(ApiError):
    pass


class Forbidden(ApiError):
    pass


class NotFound(ApiError):
    pass


class Conflict(ApiError):
    @property
    def already_exists(self) -> bool:
        return self.reason == "AlreadyExists"


class Gone(ApiError):
    pass


class TooManyRequests(ApiError):
    pass


class ServerError(ApiError):
    pass


class Unreachable(KubeError):
    """No HTTP answer at all. The request may or may not have reached the server."""


class PreflightError(KubeError):
    exit_code = EXIT_USAGE


class KubeconfigError(ConfigError):
    """The kubeconfig cannot be used: missing file, bad YAML, unknown context or user."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Forbidden, 404: NotFound,
    409: Conflict, 410: Gone, 422: BadRequest, 429: TooManyRequests,
}


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (the API server only sends delta-seconds)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def error_from_response(status: int, body: bytes | str | None, headers: Mapping[str, str] | None = None,
                        *, action: str = "") -> ApiError:
    """Build the ApiError for one HTTP response.

    The message comes from the Status object the API server returns (``message`` and
    ``reason``). A body that is not a Status (an HTML page from a proxy or load balancer)
    is shown truncated, so the user sees *something* of what answered.
    """
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    reason, message = "", ""
    details: dict[str, Any] = {}
    try:
        status_obj = json.loads(text) if text else {}
    except ValueError:
        status_obj = None
    if isinstance(status_obj, dict) and status_obj.get("kind") == "Status":
        reason = str(status_obj.get("reason") or "")
        message = str(status_obj.get("message") or "")
        details = status_obj.get("details") or {}
        status = int(status_obj.get("code") or status)
    elif text:
        snippet = " ".join(text.split())
        message = snippet if len(snippet) <= _MAX_BODY else snippet[:_MAX_BODY] + "…"
    if not message:
        message = reason or f"HTTP {status}"
    lookup = {k.lower(): v for k, v in (headers or {}).items()}
    cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else ApiError)
    prefix = f"{action} failed: " if action else ""
    return cls(f"{prefix}{message} (HTTP {status}{', ' + reason if reason else ''})", status=status,
               reason=reason, details=details, retry_after=parse_retry_after(lookup.get("retry-after")),
               hint=_hint_for(cls, reason))


def _hint_for(cls: type[ApiError], reason: str) -> str | None:
    if cls is Unauthorized:
        return ("the cluster rejected the credentials; refresh them (e.g. `kubectl get ns` with the same "
                "context to re-run the login plugin) and try again")
    if cls is Forbidden:
        return "ask a cluster admin for the missing RBAC permission, or use a context/namespace where you have it"
    if cls is TooManyRequests or cls is ServerError:
        return "the API server is overloaded or restarting; try again in a minute"
    return None


def describe_where(cluster: str | None = None, namespace: str | None = None, job: str | None = None) -> str:
    parts = []
    if cluster:
        parts.append(f"cluster {cluster!r}")
    if namespace:
        parts.append(f"namespace {namespace!r}")
    if job:
        parts.append(f"job {job!r}")
    return ", ".join(parts)


@contextmanager
def kube_context(cluster: str | None = None, namespace: str | None = None, job: str | None = None) -> Iterator[None]:
    """The boundary: every KubeError leaving this block names where it happened, and any
    transport-level exception the client library lets through becomes ``Unreachable``."""
    where = describe_where(cluster, namespace, job)
    try:
        yield
    except KubeError as exc:
        exc.add_context(where)
        raise
    except ProdigyError:
        raise
    except Exception as exc:
        translated = translate_transport_error(exc)
        if translated is None:
            raise
        translated.add_context(where)
        raise translated from exc


def translate_transport_error(exc: BaseException) -> KubeError | None:
    """urllib3/socket/TLS failures -> Unreachable; anything else is not ours to translate."""
    import socket
    import ssl

    import urllib3.exceptions  # urllib3 is small and always present with the client

    network = (urllib3.exceptions.HTTPError, ConnectionError, TimeoutError, socket.gaierror, ssl.SSLError)
    if isinstance(exc, network):
        detail = _root_cause(exc)
        return Unreachable(f"API server unreachable: {detail}",
                           hint="check the network/VPN and that the cluster is running "
                                "(`kubectl cluster-info` with the same context)")
    # kubernetes.client.ApiException with status 0 carries TLS failures; recognise it by shape
    # so this module never imports the client.
    if type(exc).__name__ == "ApiException" and getattr(exc, "status", None) in (0, None):
        return Unreachable(f"API server unreachable: {getattr(exc, 'reason', exc)}",
                           hint="check the cluster's certificate authority in the kubeconfig")
    return None


def _root_cause(exc: BaseException) -> str:
    seen: set[int] = set()
    cur: BaseException | None = exc
    last = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        last = cur
        cur = getattr(cur, "reason", None) if isinstance(getattr(cur, "reason", None), BaseException) \
            else cur.__cause__ or cur.__context__
    text = str(last) or type(last).__name__
    return text if len(text) <= _MAX_BODY else text[:_MAX_BODY] + "…"
