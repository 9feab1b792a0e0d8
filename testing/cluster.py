"""Kubernetes clusters for the end-to-end tests.

By default each test session starts its own control plane with ``testcluster`` (the
same code as ``python -m testcluster up``) and stops it at the end. Its node is a real
kubelet with containerd running the agent image built from docker/agent/Dockerfile
(``PRODIGY_TEST_NODE=kubelet``, the default), or the process node agent
(``PRODIGY_TEST_NODE=process``: no image build, pods run as host processes). Contributors
without Go point ``PRODIGY_TEST_KUBECONFIG`` at any real cluster (kind, minikube):
the suite then uses that cluster's current context (or ``PRODIGY_TEST_CONTEXT``) and
adds a restricted ServiceAccount user for the RBAC tests.

A cluster that cannot start is an error, never a skip: CI must run these tests.
"""

from __future__ import annotations

import copy
import json
import os
import re
import secrets
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from testcluster import auth, binaries, cluster
from testcluster.image import build as images
from testcluster.image import recipe
from testcluster.realnode.config import CONTAINERD_SOCKET

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

REPO_ROOT = Path(__file__).resolve().parent.parent
EXTERNAL_KUBECONFIG = "PRODIGY_TEST_KUBECONFIG"
EXTERNAL_CONTEXT = "PRODIGY_TEST_CONTEXT"
SECOND_EXTERNAL_KUBECONFIG = "PRODIGY_TEST_KUBECONFIG_2"
BIN_DIR = "PRODIGY_TESTCLUSTER_BIN"
NODE_KIND = "PRODIGY_TEST_NODE"
DEFAULT_NODE = "kubelet"
# The environment as the test run began: tests replace HOME and KUBECONFIG, but the
# binaries' cache and the cluster's processes belong to the real environment.
_ORIGINAL_ENV = dict(os.environ)
RBAC_NAMESPACE = "prodigy-test-rbac"


class ClusterUnavailable(RuntimeError):
    """The test cluster could not be started or reached."""


@dataclass(frozen=True)
class KubeCluster:
    """A cluster the tests may use: where its kubeconfig is and who they can be in it."""

    name: str
    kubeconfig: Path
    admin_context: str
    restricted_context: str
    kubectl_path: Path
    # Set when this session started the cluster (testcluster): its files and logs.
    directory: Path | None = None
    node_name: str | None = None
    # "kubelet" (real containers, the built image), "process" (the process node agent) or
    # "external" (PRODIGY_TEST_KUBECONFIG).
    node_kind: str = "external"

    @property
    def test_image(self) -> str:
        """The image whose `claude` is the fake (testing/fake_claude): what e2e Jobs run."""
        return recipe.TEST_IMAGE

    def tag_image(self, source: str, *names: str) -> None:
        """Make ``names`` refer to the image ``source`` on a kubelet node (like `kind load`).

        The process node agent maps every ``prodigy-agent:*`` name to the same thing, so
        there this does nothing.
        """
        if self.node_kind != "kubelet" or self.directory is None:
            return
        # containerd's socket is in the node's own mount namespace: enter it (the supervisor's).
        (node,) = [c for c in cluster.recorded(self.directory) if c.name == "node"]
        for name in names:
            subprocess.run(["nsenter", f"--target={node.pid}", "--mount", "--", "ctr", "--address",
                            str(CONTAINERD_SOCKET), "--namespace", "k8s.io", "images", "tag", "--force",
                            recipe.full_reference(source), recipe.full_reference(name)],
                           check=True, capture_output=True, text=True)

    def kubectl(
        self, *args: str, context: str | None = None, check: bool = True, input: str | None = None,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run kubectl against this cluster (admin context unless ``context`` is given)."""
        command = [str(self.kubectl_path), f"--kubeconfig={self.kubeconfig}",
                   f"--context={context or self.admin_context}", *args]
        result = subprocess.run(command, capture_output=True, text=True, input=input, timeout=timeout, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} exited {result.returncode}:\n{result.stderr}")
        return result

    def api_client(self, context: str | None = None) -> ApiClient:
        """An official-client ApiClient for ``context`` (admin by default). Close it after use."""
        from kubernetes import config

        api: ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=str(self.kubeconfig), context=context or self.admin_context)
        return api

    def check_running(self) -> None:
        """Fail with the component's log if a process of a cluster we started has died."""
        if self.directory is None:
            return
        dead = [name for name, alive in cluster.status(self.directory).items() if not alive]
        if dead:
            logs = "\n".join(f"--- {self.directory / 'logs' / f'{name}.log'} (last lines)\n"
                             f"{cluster.log_tail(self.directory / 'logs' / f'{name}.log')}" for name in dead)
            raise ClusterUnavailable(f"test cluster {self.name}: {', '.join(dead)} stopped running\n{logs}")

    def create_namespace(self, hint: str = "test") -> str:
        """Create a namespace with a unique DNS-label name derived from ``hint``."""
        from kubernetes import client

        slug = re.sub(r"[^a-z0-9]+", "-", hint.lower()).strip("-")[:40].strip("-") or "test"
        name = f"{slug}-{secrets.token_hex(3)}"
        with self.api_client() as api:
            client.CoreV1Api(api).create_namespace(
                client.V1Namespace(metadata=client.V1ObjectMeta(name=name, labels={"prodigy-test": "true"})))
        return name

    def delete_namespace(self, name: str) -> None:
        """Delete ``name`` in the background; the namespace controller empties it later."""
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        with self.api_client() as api:
            try:
                client.CoreV1Api(api).delete_namespace(name, propagation_policy="Background")
            except ApiException as error:
                if error.status != 404:
                    raise


def in_ci() -> bool:
    return _ORIGINAL_ENV.get("CI", "").lower() in ("true", "1", "yes")


def external_kubeconfig() -> Path | None:
    value = _ORIGINAL_ENV.get(EXTERNAL_KUBECONFIG)
    return Path(value).expanduser() if value else None


def second_external_kubeconfig() -> Path | None:
    """PRODIGY_TEST_KUBECONFIG_2, else the first external cluster standing in for a second one."""
    value = _ORIGINAL_ENV.get(SECOND_EXTERNAL_KUBECONFIG)
    return Path(value).expanduser() if value else external_kubeconfig()


def _unavailable(reason: str) -> ClusterUnavailable:
    hint = ("Build the control plane with testcluster/build.sh (needs Go and the Go module proxy), "
            f"or set {EXTERNAL_KUBECONFIG} to a kind/minikube kubeconfig, or deselect with -m 'not e2e'.")
    where = " (CI: this is a failure, never a skip)" if in_ci() else ""
    return ClusterUnavailable(f"no test cluster{where}: {reason}\n{hint}")


def locate_binaries() -> Path:
    """The built control plane: $PRODIGY_TESTCLUSTER_BIN, else build.sh's cache (never builds)."""
    if _ORIGINAL_ENV.get(BIN_DIR):
        bin_dir = Path(_ORIGINAL_ENV[BIN_DIR])
        missing = [name for name in binaries.NAMES if not (bin_dir / name).is_file()]
        if missing:
            raise _unavailable(f"{', '.join(missing)} missing in {BIN_DIR}={bin_dir}")
        return bin_dir
    try:
        return binaries.locate(_ORIGINAL_ENV)
    except binaries.BinariesMissing as error:
        raise _unavailable(str(error)) from None


def node_kind() -> str:
    kind = _ORIGINAL_ENV.get(NODE_KIND) or DEFAULT_NODE
    if kind not in cluster.NODE_KINDS:
        raise _unavailable(f"{NODE_KIND}={kind!r}: use one of {', '.join(cluster.NODE_KINDS)}")
    return kind


def image_store() -> Path:
    """The containerd root holding the agent image for the current sources (built if needed)."""
    try:
        return images.build(env=_ORIGINAL_ENV).containerd_root
    except images.ImageBuildError as error:
        raise _unavailable(f"the agent image for the kubelet node: {error} (or set {NODE_KIND}=process)") from None


def start(directory: Path, name: str, *, image_map: Path | None = None, node: str | None = None) -> KubeCluster:
    """Start a testcluster in ``directory``; its processes die with this process."""
    bin_dir = locate_binaries()
    kind = node or node_kind()
    options = cluster.Options(name=name, image_map=image_map, die_with_parent=True, env=_ORIGINAL_ENV, node=kind,
                              image_store=image_store() if kind == "kubelet" else None,
                              timeout=180.0 if kind == "kubelet" else 90.0)
    try:
        started = cluster.up(directory, bin_dir, options)
    except cluster.StartupError as error:
        raise _unavailable(str(error)) from None
    return KubeCluster(
        name=started.name, kubeconfig=started.kubeconfig, admin_context=started.admin_context,
        restricted_context=started.restricted_context, kubectl_path=started.kubectl,
        directory=started.directory, node_name=started.node_name, node_kind=kind,
    )


def stop(started: KubeCluster) -> list[str]:
    """Stop a cluster that :func:`start` started; a no-op for external clusters."""
    return [] if started.directory is None else cluster.down(started.directory)


def _external_kubectl() -> Path:
    try:
        return locate_binaries() / "kubectl"
    except ClusterUnavailable:
        found = shutil.which("kubectl", path=_ORIGINAL_ENV.get("PATH"))
        if found is None:
            raise _unavailable("kubectl is neither built by testcluster nor on PATH") from None
        return Path(found)


def _absolute_paths(document: dict[str, Any], base: Path) -> dict[str, Any]:
    """Kubeconfig file references are relative to the kubeconfig's own directory."""
    fixed = copy.deepcopy(document)
    keys = {"certificate-authority", "client-certificate", "client-key", "tokenFile"}
    for section, inner in (("clusters", "cluster"), ("users", "user")):
        for entry in fixed.get(section) or []:
            values = entry.get(inner) or {}
            for key in keys & values.keys():
                values[key] = str((base / values[key]).resolve())
    return fixed


def _restricted_token(admin: KubeCluster) -> str:
    """A token for a ServiceAccount bound to the restricted role (external clusters)."""
    from kubernetes import client
    from kubernetes.client.exceptions import ApiException

    def ensure(create: Any, *args: Any) -> None:
        try:
            create(*args)
        except ApiException as error:
            if error.status != 409:
                raise

    with admin.api_client() as api:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        ensure(core.create_namespace, client.V1Namespace(metadata=client.V1ObjectMeta(name=RBAC_NAMESPACE)))
        ensure(core.create_namespaced_service_account, RBAC_NAMESPACE,
               client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="restricted")))
        ensure(rbac.create_cluster_role, auth.restricted_role())
        ensure(rbac.create_cluster_role_binding, auth.restricted_binding(
            {"kind": "ServiceAccount", "name": "restricted", "namespace": RBAC_NAMESPACE},
            name=f"{auth.RESTRICTED_ROLE}-serviceaccount"))
        # No audiences: the token is for the apiserver's own audiences.
        request = client.AuthenticationV1TokenRequest(
            spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=12 * 3600))
        response = core.create_namespaced_service_account_token("restricted", RBAC_NAMESPACE, request)
        if response.status is None:
            raise _unavailable("the TokenRequest for the restricted ServiceAccount returned no token")
        return str(response.status.token)


def use_external(source: Path, work_dir: Path, *, context: str | None = None, name: str = "external") -> KubeCluster:
    """Use an existing cluster, adding a restricted context to a private copy of its kubeconfig."""
    import yaml  # type: ignore[import-untyped]  # PyYAML comes with the kubernetes client

    if not source.is_file():
        raise _unavailable(f"{EXTERNAL_KUBECONFIG}={source} does not exist")
    document = _absolute_paths(yaml.safe_load(source.read_text()) or {}, source.parent)
    admin_context = str(context or _ORIGINAL_ENV.get(EXTERNAL_CONTEXT) or document.get("current-context") or "")
    contexts: Mapping[str, Any] = {c["name"]: c["context"] for c in document.get("contexts") or []}
    if admin_context not in contexts:
        raise _unavailable(f"context {admin_context!r} not found in {source}")
    work_dir.mkdir(parents=True, exist_ok=True)
    copied = work_dir / "kubeconfig"
    copied.write_text(json.dumps(document))
    copied.chmod(0o600)
    admin = KubeCluster(name=name, kubeconfig=copied, admin_context=admin_context,
                        restricted_context=admin_context, kubectl_path=_external_kubectl())
    restricted_user = f"{admin_context}-prodigy-restricted"
    document.setdefault("users", []).append({"name": restricted_user, "user": {"token": _restricted_token(admin)}})
    document["contexts"].append({"name": restricted_user, "context": {
        "cluster": contexts[admin_context]["cluster"], "user": restricted_user, "namespace": "default"}})
    copied.write_text(json.dumps(document))
    return KubeCluster(name=name, kubeconfig=copied, admin_context=admin_context,
                       restricted_context=restricted_user, kubectl_path=admin.kubectl_path)
