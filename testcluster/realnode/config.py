"""Configuration files of the real node (containerd, the kubelet, CNI): pure functions of its layout.

Every path lives under the cluster directory; the only fixed paths the processes still use
(``/run/containerd`` for the shims, ``/var/lib`` and ``/var/log`` for strays) are covered by
tmpfs mounts in the node's private mount namespace (``sandbox.py``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from testcluster.image.recipe import PAUSE_IMAGE

# What the kubelet would write into these sysctls (pkg/kubelet/cm/container_manager_linux.go,
# setupKernelTunables). The node's mount namespace shows these values in read-only files over
# the real /proc/sys entries, and protectKernelDefaults makes the kubelet only check them:
# the machine's own settings are never changed.
KERNEL_DEFAULTS: dict[str, int] = {
    "vm/overcommit_memory": 1,
    "vm/panic_on_oom": 0,
    "kernel/panic": 10,
    "kernel/panic_on_oops": 1,
    "kernel/keys/root_maxkeys": 1000000,
    "kernel/keys/root_maxbytes": 25000000,
}
CNI_PLUGIN = "prodigy-podnet"
RUNC = "/usr/sbin/runc"
SYSTEM_CNI_DIR = Path("/usr/lib/cni")
CONTAINERD_SOCKET = Path("/run/containerd/containerd.sock")
# The kubelet's root as it sees it: DIR/node/kubelet bound there in the node's namespace. The
# kubelet keeps unix sockets in it (pod-resources, plugins), and a socket path must stay under
# 104 bytes, which one below a pytest temporary directory does not.
KUBELET_ROOT = Path("/var/lib/kubelet")


@dataclass(frozen=True)
class NodeLayout:
    """Where one real node keeps its files (``DIR/node``) and what it listens on."""

    root: Path
    node_name: str
    kubelet_port: int
    healthz_port: int
    cgroup_root: str
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    kubeconfig: Path

    @property
    def containerd_root(self) -> Path:
        return self.root / "containerd" / "root"

    @property
    def containerd_state(self) -> Path:
        return self.root / "containerd" / "state"

    @property
    def containerd_socket(self) -> Path:
        # Inside the node's mount namespace, on its private /run tmpfs: a unix socket path must
        # stay under 104 bytes, which a path below a pytest temporary directory does not.
        return CONTAINERD_SOCKET

    @property
    def containerd_config(self) -> Path:
        return self.root / "containerd" / "config.toml"

    @property
    def runc_root(self) -> Path:
        return self.root / "runc"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni" / "net.d"

    @property
    def cni_bin_dir(self) -> Path:
        return self.root / "cni" / "bin"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def kubelet_config(self) -> Path:
        return self.root / "kubelet-config.json"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def sysctl_dir(self) -> Path:
        return self.root / "sysctl"

    @property
    def spec_file(self) -> Path:
        return self.root / "node.json"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string is a JSON string for these values
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def to_toml(document: dict[str, Any], prefix: str = "") -> str:
    """A small TOML writer: scalars first, then one [table] per nested mapping."""
    scalars = [f"{key} = {_toml_value(value)}" for key, value in document.items() if not isinstance(value, dict)]
    tables = [
        to_toml(value, f"{prefix}.{_key(key)}" if prefix else _key(key))
        for key, value in document.items() if isinstance(value, dict)
    ]
    head = [f"[{prefix}]"] if prefix and scalars else []
    return "\n".join([*head, *scalars, *([""] if scalars else []), *tables]).rstrip("\n") + "\n"


def _key(key: str) -> str:
    return key if all(c.isalnum() or c in "_-" for c in key) else json.dumps(key)


def containerd_config(layout: NodeLayout) -> str:
    """containerd 1.6 (Debian's), CRI plugin on, nothing outside ``layout.root``."""
    cri = {
        "sandbox_image": PAUSE_IMAGE,
        # Without CAP_SYS_RESOURCE runc cannot lower a process's oom_score_adj, and every
        # sandbox would fail to start ("can't get final child's PID from pipe: EOF").
        "restrict_oom_score_adj": True,
        "disable_tcp_service": True,
        "stream_server_address": "127.0.0.1",
        "stream_server_port": "0",
        "enable_selinux": False,
        "disable_apparmor": True,
        "containerd": {
            "snapshotter": "overlayfs",
            "default_runtime_name": "runc",
            "runtimes": {"runc": {
                "runtime_type": "io.containerd.runc.v2",
                "options": {"BinaryName": RUNC, "Root": str(layout.runc_root), "SystemdCgroup": False},
            }},
        },
        "cni": {"bin_dir": str(layout.cni_bin_dir), "conf_dir": str(layout.cni_conf_dir), "max_conf_num": 1},
        # Images come only from `ctr import`; a pull of anything else fails like on a node
        # without registry access.
        "registry": {"config_path": ""},
    }
    document: dict[str, Any] = {
        "version": 2,
        "root": str(layout.containerd_root),
        "state": str(layout.containerd_state),
        "disabled_plugins": [
            "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
            "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
            "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
        ],
        "grpc": {"address": str(layout.containerd_socket)},
        "ttrpc": {"address": f"{layout.containerd_socket}.ttrpc"},
        "debug": {"address": ""},
        "metrics": {"address": ""},
        "plugins": {
            "io.containerd.grpc.v1.cri": cri,
            "io.containerd.internal.v1.opt": {"path": str(layout.root / "containerd" / "opt")},
        },
    }
    return to_toml(document)


def cni_conflist() -> dict[str, Any]:
    """One network, one plugin: a dummy ``eth0`` inside the pod's own network namespace.

    containerd's CRI insists on an ``eth0`` with an address; the pods need no network (inputs
    come from ConfigMaps and Secrets, results leave through logs). A dummy interface with a
    link-local address reaches nothing, and nothing changes outside the pod's namespace.
    """
    return {"cniVersion": "1.0.0", "name": "prodigy-pods", "plugins": [{"type": CNI_PLUGIN}]}


def kubelet_config(layout: NodeLayout) -> dict[str, Any]:
    """The KubeletConfiguration (JSON is YAML). Reasons for the unusual settings are inline."""
    socket = f"unix://{layout.containerd_socket}"
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "address": "127.0.0.1",
        "port": layout.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.healthz_port,
        "tlsCertFile": str(layout.serving_cert),
        "tlsPrivateKeyFile": str(layout.serving_key),
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(layout.ca_cert)},
        },
        "authorization": {"mode": "Webhook"},
        "containerRuntimeEndpoint": socket,
        "imageServiceEndpoint": socket,
        # This machine has only cgroup v1, which the kubelet refuses by default.
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupRoot": layout.cgroup_root,
        "failSwapOn": False,
        # Check the kernel tunables instead of setting them (see KERNEL_DEFAULTS).
        "protectKernelDefaults": True,
        "podLogsDir": str(layout.pod_logs),
        "volumePluginDir": str(layout.root / "volume-plugins"),
        "staticPodPath": "",
        "resolvConf": "/etc/resolv.conf",
        # Pods use dnsPolicy ClusterFirst; without a cluster DNS address the kubelet warns on
        # every pod (MissingClusterDNS), and prodigy shows warning events to the user. The
        # address is a Service address as in any cluster; nothing answers there (no network).
        "clusterDNS": ["10.0.0.10"],
        "clusterDomain": "cluster.local",
        # A shared, busy machine: evict nothing for disk or memory pressure, and never
        # garbage-collect the imported images (they cannot be pulled again).
        "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                         "nodefs.inodesFree": "1%"},
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "serializeImagePulls": False,
        "nodeStatusUpdateFrequency": "10s",
        "nodeStatusReportFrequency": "1m",
        "syncFrequency": "10s",
        "fileCheckFrequency": "20s",
        "registerNode": True,
        "logging": {"format": "text"},
    }
