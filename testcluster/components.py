"""Command lines of the cluster's components: pure functions of the cluster layout.

Flag choices follow upstream's integration test server and envtest; the reasons for
the unusual ones are next to them.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from testcluster.pki import Pki

# Exactly the controllers the suite relies on. namespace-controller empties deleted
# namespaces, otherwise they stay Terminating forever. node-lifecycle-controller marks a node
# whose agent stops renewing its Lease NotReady (and its pods not ready), so a lost node can be
# tested; resourcequota-controller computes quota usage, without which the quota admission
# plugin refuses every pod in a namespace with a ResourceQuota. taint-eviction-controller stays
# off: with one node, a NotReady node is a "full disruption" and nothing would be evicted anyway.
CONTROLLERS = (
    "job-controller",
    "ttl-after-finished-controller",
    "garbage-collector-controller",
    "pod-garbage-collector-controller",
    "namespace-controller",
    "node-lifecycle-controller",
    "resourcequota-controller",
)
# Short, so a test that stops the node sees it NotReady soon: the node agent renews its Lease
# every 2 s (testcluster/nodeagent/node.py), 10 chances inside the grace period.
NODE_MONITOR_GRACE_SECONDS = 20
NODE_MONITOR_PERIOD_SECONDS = 2
QUOTA_SYNC_SECONDS = 10
SERVICE_CIDR = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc"


@dataclass(frozen=True)
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    controller_manager: int
    scheduler: int
    node_agent: int


@dataclass(frozen=True)
class Layout:
    """Where one cluster keeps everything; ``etcd_data`` lives on tmpfs when possible."""

    root: Path
    bin_dir: Path
    etcd_data: Path
    ports: Ports
    pki: Pki
    node_name: str

    @property
    def tokens_file(self) -> Path:
        return self.root / "auth" / "tokens.csv"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def component_kubeconfig(self, component: str) -> Path:
        return self.root / "components" / f"{component}.kubeconfig"

    def log(self, component: str) -> Path:
        return self.root / "logs" / f"{component}.log"

    @property
    def node_state(self) -> Path:
        return self.root / "node"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.etcd_client}"


def etcd(layout: Layout) -> list[str]:
    peer = f"http://127.0.0.1:{layout.ports.etcd_peer}"
    return [
        str(layout.bin_dir / "etcd"),
        "--name=testcluster",
        f"--data-dir={layout.etcd_data}",
        # Throwaway data on tmpfs: durability buys nothing and fsync costs latency.
        "--unsafe-no-fsync",
        f"--listen-client-urls={layout.etcd_url}",
        f"--advertise-client-urls={layout.etcd_url}",
        f"--listen-peer-urls={peer}",
        f"--initial-advertise-peer-urls={peer}",
        f"--initial-cluster=testcluster={peer}",
        "--log-level=warn",
    ]


def kube_apiserver(layout: Layout) -> list[str]:
    pki = layout.pki
    return [
        str(layout.bin_dir / "kube-apiserver"),
        f"--etcd-servers={layout.etcd_url}",
        # Loopback only. No --advertise-address: the apiserver rejects loopback there
        # and picks the default-route interface itself.
        "--bind-address=127.0.0.1",
        f"--secure-port={layout.ports.apiserver}",
        f"--tls-cert-file={pki.apiserver_cert}",
        f"--tls-private-key-file={pki.apiserver_key}",
        f"--client-ca-file={pki.ca_cert}",
        f"--token-auth-file={layout.tokens_file}",
        "--authorization-mode=Node,RBAC",
        f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
        f"--service-account-key-file={pki.service_account_public_key}",
        f"--service-account-signing-key-file={pki.service_account_key}",
        f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        # Without the service-account controllers nobody creates the `default`
        # ServiceAccount in new namespaces, and this plugin would reject every pod.
        "--disable-admission-plugins=ServiceAccount",
        # The node agent's kubelet endpoint: reach it on the node's InternalIP
        # (127.0.0.1) and verify its certificate like a real kubelet's.
        "--kubelet-preferred-address-types=InternalIP",
        f"--kubelet-certificate-authority={pki.ca_cert}",
        f"--kubelet-client-certificate={pki.kubelet_client_cert}",
        f"--kubelet-client-key={pki.kubelet_client_key}",
        "--allow-privileged=true",
        # No `kubernetes` Service endpoints: nothing in the cluster can route to them.
        "--endpoint-reconciler-type=none",
        "--profiling=false",
    ]


def kube_controller_manager(layout: Layout) -> list[str]:
    kubeconfig = layout.component_kubeconfig("kube-controller-manager")
    return [
        str(layout.bin_dir / "kube-controller-manager"),
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        f"--controllers={','.join(CONTROLLERS)}",
        f"--node-monitor-grace-period={NODE_MONITOR_GRACE_SECONDS}s",
        f"--node-monitor-period={NODE_MONITOR_PERIOD_SECONDS}s",
        f"--node-startup-grace-period={NODE_MONITOR_GRACE_SECONDS}s",
        f"--resource-quota-sync-period={QUOTA_SYNC_SECONDS}s",
        "--use-service-account-credentials=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={layout.ports.controller_manager}",
        "--profiling=false",
    ]


def kube_scheduler(layout: Layout) -> list[str]:
    kubeconfig = layout.component_kubeconfig("kube-scheduler")
    return [
        str(layout.bin_dir / "kube-scheduler"),
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={layout.ports.scheduler}",
        "--profiling=false",
    ]


def node_agent(layout: Layout, image_map: Path | None, python: str = sys.executable) -> list[str]:
    command = [
        python, "-m", "testcluster.nodeagent",
        f"--kubeconfig={layout.component_kubeconfig('node-agent')}",
        f"--node-name={layout.node_name}",
        f"--port={layout.ports.node_agent}",
        f"--state-dir={layout.node_state}",
        f"--cert={layout.pki.node_cert}",
        f"--key={layout.pki.node_key}",
    ]
    if image_map is not None:
        command.append(f"--image-map={image_map}")
    return command
