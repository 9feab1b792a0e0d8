"""One API connection per named cluster, speaking plain JSON dicts.

Why the official client, and why only its transport: it is the one Python client that does
the whole kubeconfig/auth contract (exec plugins such as ``aws eks get-token``,
``gke-gcloud-auth-plugin`` and ``kubelogin``, OIDC refresh, client certificates, token
refresh before expiry). Everything above that — paths, query strings, bodies, streaming —
we do on plain dicts through ``ApiClient.param_serialize``/``call_api``:

- the Job/ConfigMap/Secret builders are pure dict functions, and wire dicts go back out
  unchanged (no pydantic model round trip, whose shape changed in every 37.x release);
- log and watch streams need raw bytes (our own line reader keeps the unterminated last
  line that ``Watch.stream`` drops) and the ``sinceTime`` parameter the typed method lacks.

Each cluster gets its own ``Configuration`` from ``new_client_from_config(config_file,
context)``; the global ``load_kube_config`` is never called, because several clusters (and
threads) share this process. ``KUBECONFIG`` may list several files separated by ``:``; the
first file that defines a name wins, as in kubectl.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prodigy import yaml_input
from prodigy.k8s import trace
from prodigy.k8s.errors import (
    Forbidden,
    KubeconfigError,
    Unauthorized,
    error_from_response,
    kube_context,
)

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

CONNECT_TIMEOUT = 5.0   # seconds to open a TCP+TLS connection; an unreachable server fails fast
READ_TIMEOUT = 30.0     # seconds for an ordinary (non-streaming) answer
POOL_SIZE = 32          # watches + log streams + requests of one run share the pool

Query = Sequence[tuple[str, str | int | bool]]


def prewarm() -> threading.Thread:
    """Import the client library in the background (about 0.4 s of CPU, the largest single
    cost of a submission).

    The CLI calls this first thing for ``--cluster``: while the main thread imports prodigy,
    validates the workflow and waits for git to pack the repository, this thread gets the
    interpreter. Imports are safe across threads: a later ``import kubernetes`` waits for
    this one instead of importing twice.
    """
    def load() -> None:
        import kubernetes.config  # noqa: F401

        trace.mark("client library imported")

    thread = threading.Thread(target=load, name="prodigy-prewarm", daemon=True)
    thread.start()
    return thread


# --- kubeconfig introspection (what contexts exist, which exec plugin a user runs) ----------

@dataclass(frozen=True)
class Kubeconfig:
    """The merged view of one or more kubeconfig files, for listing and error messages.
    Loading credentials is left to the official client."""

    paths: tuple[str, ...]
    current_context: str | None
    contexts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    users: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @property
    def config_file(self) -> str:
        """What to pass to the client: the existing files, joined the way KUBECONFIG is."""
        return os.pathsep.join(self.paths)

    def exec_plugin(self, context: str) -> Mapping[str, Any] | None:
        user = self.users.get(str(self.contexts.get(context, {}).get("user", "")), {})
        plugin = user.get("exec")
        return plugin if isinstance(plugin, Mapping) else None


# Kubeconfigs embed certificates, so they can be large; they are never deep.
KUBECONFIG_LIMITS = yaml_input.Limits(max_bytes=16 * 1024 * 1024, max_depth=32, max_nodes=200_000)


def kubeconfig_search_path(explicit: str | os.PathLike[str] | None = None,
                           environ: Mapping[str, str] | None = None) -> list[str]:
    """kubectl's order: an explicit path (cluster entry), else $KUBECONFIG (a list), else ~/.kube/config."""
    if explicit:
        return [os.path.expanduser(os.fspath(explicit))]
    env = os.environ if environ is None else environ
    listed = env.get("KUBECONFIG", "")
    if listed:
        return [os.path.expanduser(p) for p in listed.split(os.pathsep) if p]
    return [os.path.expanduser("~/.kube/config")]


def read_kubeconfig(explicit: str | os.PathLike[str] | None = None,
                    environ: Mapping[str, str] | None = None) -> Kubeconfig:
    import yaml  # type: ignore[import-untyped]  # PyYAML ships with the client

    searched = kubeconfig_search_path(explicit, environ)
    existing = [p for p in searched if os.path.isfile(p)]
    if not existing:
        source = "kubeconfig_path in kubernetes.yaml" if explicit else (
            "$KUBECONFIG" if (environ or os.environ).get("KUBECONFIG") else "the default location")
        raise KubeconfigError(
            f"no kubeconfig found at {', '.join(searched)} (from {source})",
            hint="point KUBECONFIG or the cluster's kubeconfig_path at your kubeconfig file, "
                 "or create one with your cluster's login tool")
    current: str | None = None
    contexts: dict[str, Mapping[str, Any]] = {}
    users: dict[str, Mapping[str, Any]] = {}
    for path in existing:
        try:
            text = yaml_input.read_text_file(Path(path), what="kubeconfig", limits=KUBECONFIG_LIMITS,
                                             error=KubeconfigError)
            yaml_input.check_yaml_structure(text, Path(path), what="kubeconfig", limits=KUBECONFIG_LIMITS,
                                            error=KubeconfigError)
            doc = yaml.safe_load(text) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise KubeconfigError(f"cannot read kubeconfig {path}: {' '.join(str(exc).split())}",
                                  hint="fix the file or remove it from KUBECONFIG") from None
        if not isinstance(doc, dict):
            raise KubeconfigError(f"kubeconfig {path} is not a mapping", hint="fix the file")
        named = doc.get("current-context")
        current = current or (named if isinstance(named, str) and named else None)
        for key, found in (("contexts", contexts), ("users", users)):
            entries = doc.get(key)
            for entry in entries if isinstance(entries, list) else []:
                name = entry.get("name") if isinstance(entry, dict) else None
                inner = entry.get(key[:-1]) if isinstance(entry, dict) else None
                if isinstance(name, str) and name and name not in found:
                    found[name] = inner if isinstance(inner, dict) else {}
    return Kubeconfig(tuple(existing), current, contexts, users)


def kube_contexts(explicit: str | os.PathLike[str] | None = None) -> list[str]:
    """Context names of the user's kubeconfig; empty when there is none (no error: this only
    decides whether an unknown ``--cluster`` name could be a context)."""
    try:
        return list(read_kubeconfig(explicit).contexts)
    except KubeconfigError:
        return []


# --- exec-plugin failures: the client only logs them ----------------------------------------

class _AuthLogCapture(logging.Handler):
    """Collects the errors the client logs (and otherwise swallows) while loading credentials:
    a failing exec plugin leaves the client without a token, and the first request gets 401."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "kubernetes" in record.pathname:
            self.messages.append(record.getMessage())


_capture = _AuthLogCapture()
_capture_lock = threading.Lock()


def _install_capture() -> None:
    with _capture_lock:
        root = logging.getLogger()
        if _capture not in root.handlers:
            root.addHandler(_capture)


# --- the connection --------------------------------------------------------------------------

@dataclass
class Kube:
    """A connection to one cluster: JSON in, JSON out, errors already translated."""

    name: str                 # the prodigy cluster name (for messages)
    context: str
    server: str
    api: ApiClient
    kubeconfig: Kubeconfig
    connect_timeout: float = CONNECT_TIMEOUT

    def request(self, method: str, path: str, *, query: Query = (), body: Mapping[str, Any] | None = None,
                content_type: str = "application/json", read_timeout: float = READ_TIMEOUT,
                action: str = "") -> dict[str, Any]:
        """One API call. Returns the decoded JSON object; raises an ApiError subclass for a
        non-2xx answer and Unreachable when no answer came."""
        response = self._send(method, path, query, body, content_type, read_timeout)
        try:
            data = response.read()
        finally:
            response.release_conn()
        if not 200 <= response.status < 300:
            raise self._api_error(response.status, data, response.headers, action)
        return json.loads(data) if data else {}

    def open_stream(self, path: str, *, query: Query = (), read_timeout: float,
                    action: str = "") -> Any:
        """A streaming GET (watch or log follow). Returns the urllib3 response, unread;
        the caller reads it with ``read1`` and must ``release_conn``/``shutdown`` it."""
        response = self._send("GET", path, query, None, "application/json", read_timeout)
        if not 200 <= response.status < 300:
            data = response.read()
            response.release_conn()
            raise self._api_error(response.status, data, response.headers, action)
        return response

    def close(self) -> None:
        self.api.close()  # type: ignore[no-untyped-call]

    # --- internals -----------------------------------------------------------------------

    def _send(self, method: str, path: str, query: Query, body: Mapping[str, Any] | None,
              content_type: str, read_timeout: float) -> Any:
        headers = {"Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        with kube_context(self.name):
            _method, url, header_params, serialized, _post = self.api.param_serialize(
                method=method, resource_path=path, query_params=list(query) or None,
                header_params=headers, body=dict(body) if body is not None else None,
                auth_settings=["BearerToken"])
            rest = self.api.call_api(_method, url, header_params=header_params, body=serialized,
                                     _request_timeout=(self.connect_timeout, read_timeout))
            return rest.response

    def _api_error(self, status: int, data: bytes, headers: Mapping[str, str], action: str) -> Exception:
        error = error_from_response(status, data, headers, action=action)
        if isinstance(error, Forbidden) and 'User "system:anonymous"' in error.message:
            # No credentials reached the server (a failed exec plugin sends none), so RBAC
            # judged an anonymous request. The problem is authentication, not permissions.
            error = Unauthorized(f"the API server received no credentials ({error.message})", status=401,
                                 reason="Unauthorized", hint="log in again with your cluster's tool, then retry")
        if isinstance(error, Unauthorized):
            self.explain_unauthorized(error)
        error.add_context(f"cluster {self.name!r}")
        return error

    def explain_unauthorized(self, error: Unauthorized) -> Unauthorized:
        """Name the exec plugin (``aws eks get-token``, ``gke-gcloud-auth-plugin``, ``kubelogin``)
        when the credentials came from one: the client library only logs a plugin's failure and
        then sends no token, so the plugin's own message is the real cause."""
        plugin = self.kubeconfig.exec_plugin(self.context)
        if plugin is None:
            return error
        command = " ".join([str(plugin.get("command", "?")), *map(str, plugin.get("args") or [])])
        detail = "; ".join(_capture.messages[-3:]) or "it returned no usable credentials"
        error.message = (f"the API server rejected the credentials from the exec plugin "
                         f"`{command}` (context {self.context!r}): {detail}")
        error.args = (error.message,)
        error.hint = str(plugin.get("installHint") or "").strip() or (
            f"run `{command}` by hand to see why it fails (expired login? missing tool?)")
        return error


def connect(name: str, *, kubeconfig_path: str | os.PathLike[str] | None = None, context: str | None = None,
            connect_timeout: float = CONNECT_TIMEOUT, pool_size: int = POOL_SIZE) -> Kube:
    """Open a connection to cluster ``name`` using ``context`` of the kubeconfig
    (``kubeconfig_path``, else $KUBECONFIG, else ~/.kube/config). No request is sent yet."""
    kubeconfig = read_kubeconfig(kubeconfig_path)
    chosen = context or kubeconfig.current_context
    if not chosen:
        raise KubeconfigError(
            f"cluster {name!r}: no context given and {kubeconfig.config_file} has no current-context",
            hint="set `context:` for this cluster in kubernetes.yaml, or `kubectl config use-context NAME`")
    if chosen not in kubeconfig.contexts:
        known = ", ".join(sorted(kubeconfig.contexts)) or "none"
        raise KubeconfigError(
            f"cluster {name!r}: context {chosen!r} is not in {kubeconfig.config_file} (contexts: {known})",
            hint="fix `context:` in kubernetes.yaml or pick one of the listed contexts")

    from kubernetes import config as kube_config
    from kubernetes.client import Configuration

    _install_capture()
    configuration = Configuration()
    configuration.keep_alive = True           # TCP keepalive: half-open watch connections die
    configuration.connection_pool_maxsize = pool_size
    configuration.retries = False             # retries are ours (prodigy.k8s.retry), with jitter
    try:
        # persist_config=False: never rewrite the user's kubeconfig; ten concurrent runs would race.
        api = kube_config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig.config_file, context=chosen,
            persist_config=False, client_configuration=configuration)
    except kube_config.ConfigException as exc:
        raise KubeconfigError(f"cluster {name!r}: kubeconfig {kubeconfig.config_file}, context {chosen!r}: {exc}",
                              hint="fix the kubeconfig (try `kubectl --context "
                                   f"{chosen} get ns`)") from exc
    except (OSError, ValueError) as exc:
        raise KubeconfigError(f"cluster {name!r}: cannot load credentials for context {chosen!r}: {exc}",
                              hint="check the certificate and key files the kubeconfig refers to") from exc
    api.user_agent = "prodigy"
    trace.mark(f"credentials loaded for context {chosen}")
    return Kube(name=name, context=chosen, server=configuration.host, api=api, kubeconfig=kubeconfig,
                connect_timeout=connect_timeout)


@contextmanager
def connected(name: str, **kwargs: Any) -> Iterator[Kube]:
    kube = connect(name, **kwargs)
    try:
        yield kube
    finally:
        kube.close()
