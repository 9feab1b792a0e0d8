"""Setting up a real node for ``cluster.up``: its files, its supervisor's command line, and
the cloud-controller-manager's part (the node's address) that the harness plays.

The kubelet refuses a loopback ``--node-ip``, and the default-route address would make the
apiserver reach the kubelet off loopback. So the kubelet runs with ``--cloud-provider=external``:
it registers with the taint ``node.cloudprovider.kubernetes.io/uninitialized`` and keeps the
addresses a cloud controller sets. The harness sets ``InternalIP 127.0.0.1`` (where the
kubelet listens, and where ``--kubelet-preferred-address-types=InternalIP`` sends the
apiserver for ``pods/log``) and lifts that taint, as a cloud controller manager would.
"""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from testcluster import api
from testcluster.image import cache as caches
from testcluster.image import store
from testcluster.realnode import cgroups, config

UNINITIALIZED_TAINT = "node.cloudprovider.kubernetes.io/uninitialized"
PODNET = Path(__file__).resolve().parent / "podnet.py"
# The kubelet's PATH has no /usr/sbin: without an `iptables` it creates no KUBE-* chains in
# the machine's firewall (kubelet_network_linux.go); it needs only mount/umount from /usr/bin.
KUBELET_PATH = "/usr/local/bin:/usr/bin:/bin"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def prepare(layout: config.NodeLayout, containerd_root: Path, cache: caches.ImageCache) -> None:
    """Write containerd's, the kubelet's and CNI's configuration and clone the image store."""
    layout.containerd_config.parent.mkdir(parents=True, exist_ok=True)
    layout.containerd_config.write_text(config.containerd_config(layout))
    layout.kubelet_config.write_text(json.dumps(config.kubelet_config(layout), indent=2) + "\n")
    layout.cni_conf_dir.mkdir(parents=True, exist_ok=True)
    (layout.cni_conf_dir / "10-prodigy-pods.conflist").write_text(json.dumps(config.cni_conflist(), indent=2) + "\n")
    layout.cni_bin_dir.mkdir(parents=True, exist_ok=True)
    for name, target in (("loopback", config.SYSTEM_CNI_DIR / "loopback"), (config.CNI_PLUGIN, PODNET)):
        link = layout.cni_bin_dir / name
        link.unlink(missing_ok=True)
        link.symlink_to(target)
    for directory in (layout.kubelet_root, layout.pod_logs, layout.runc_root):
        directory.mkdir(parents=True, exist_ok=True)
    if not layout.containerd_root.exists():
        with caches.locked(cache.stores_lock, shared=True):
            store.clone(containerd_root, layout.containerd_root)


def cgroup_root(cluster: str) -> str:
    return cgroups.root_for(cluster, secrets.token_hex(3), Path("/proc/self/cgroup").read_text())


def kubelet_command(layout: config.NodeLayout, kubelet: Path) -> list[str]:
    return [
        str(kubelet),
        f"--config={layout.kubelet_config}",
        f"--kubeconfig={layout.kubeconfig}",
        f"--hostname-override={layout.node_name}",
        f"--root-dir={config.KUBELET_ROOT}",
        "--cloud-provider=external",
        "--v=1",
    ]


def write_spec(layout: config.NodeLayout, kubelet: Path, logs: Path, env: Mapping[str, str]) -> Path:
    base = {key: value for key, value in env.items() if key not in ("KUBECONFIG", "PYTHONPATH")}
    spec = {
        "containerd": ["containerd", "--config", str(layout.containerd_config)],
        "kubelet": kubelet_command(layout, kubelet),
        "containerd_env": {**base, "PATH": SYSTEM_PATH},
        "kubelet_env": {**base, "PATH": KUBELET_PATH},
        "socket": str(layout.containerd_socket),
        "ctr": "ctr",
        "images": [],
        "images_ready": str(layout.root / "images.ready"),
        "cgroup_root": layout.cgroup_root,
        "binds": [[str(layout.kubelet_root), str(config.KUBELET_ROOT)]],
        "sysctls": config.KERNEL_DEFAULTS,
        "sysctl_dir": str(layout.sysctl_dir),
        "logs": str(logs),
    }
    layout.spec_file.write_text(json.dumps(spec, indent=2) + "\n")
    return layout.spec_file


def supervisor_command(layout: config.NodeLayout, python: str = sys.executable) -> list[str]:
    return [python, "-m", "testcluster.realnode.sandbox", str(layout.spec_file)]


def addresses_patch(node_name: str) -> dict[str, Any]:
    return {"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                     {"type": "Hostname", "address": node_name}]}}


def initialise(admin: api.Api, node_name: str, lifted: tuple[str, ...]) -> bool:
    """The cloud controller's node initialisation; True once the node has 127.0.0.1 and none of
    the ``lifted`` taints. Safe to call repeatedly (one step per call)."""
    try:
        node = admin.request("GET", f"/api/v1/nodes/{node_name}")
    except (api.ApiError, OSError):
        return False
    addresses = node.get("status", {}).get("addresses") or []
    if {"type": "InternalIP", "address": "127.0.0.1"} not in addresses:
        admin.patch(f"/api/v1/nodes/{node_name}/status", addresses_patch(node_name))
        return False
    taints = node.get("spec", {}).get("taints") or []
    kept = [taint for taint in taints if taint.get("key") not in lifted]
    if len(kept) != len(taints):
        if any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints) and not _ready(node):
            kept.append(next(t for t in taints if t.get("key") == "node.kubernetes.io/not-ready"))
        if len(kept) != len(taints):
            try:
                admin.patch(f"/api/v1/nodes/{node_name}", {
                    "metadata": {"resourceVersion": node["metadata"]["resourceVersion"]},
                    "spec": {"taints": kept or None}})
            except api.ApiError as error:
                if error.status != 409:
                    raise
            return False
    return True


def _ready(node: dict[str, Any]) -> bool:
    conditions = {c.get("type"): c.get("status") for c in node.get("status", {}).get("conditions", [])}
    return conditions.get("Ready") == "True"
