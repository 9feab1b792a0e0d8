"""Start and stop one test cluster: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and a node, each a daemon in its own process group.

The node is either the process node agent (``node="process"``: pods run as host processes)
or a real one (``node="kubelet"``: containerd, runc and the kubelet in a private mount
namespace, ``testcluster.realnode``), which needs the agent image built
(``testcluster.image``).

``up`` records every process in ``DIR/cluster.json`` the moment it starts, so
``down`` (from any process) stops exactly what was started, even after a failed start.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from testcluster import api, auth, components, kubeconfig, pki, ports, processes, state
from testcluster.image import cache as image_caches
from testcluster.realnode import cleanup as realnode_cleanup
from testcluster.realnode import config as nodeconfig
from testcluster.realnode import node as realnode
from testcluster.state import ClusterState, Component

REPO_ROOT = Path(__file__).resolve().parent.parent
TMPFS = Path("/dev/shm")
NOT_READY_TAINT = "node.kubernetes.io/not-ready"
NODE_KINDS = ("process", "kubelet")
# The name becomes a context name and the node's name (`NAME-node`): a DNS label.
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]{0,40}[a-z0-9])?")


class StartupError(RuntimeError):
    """The cluster did not come up; the message names the component and quotes its log."""


@dataclass(frozen=True)
class Timing:
    """Injected so waits are testable without sleeping."""

    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    poll: float = 0.1


@dataclass(frozen=True)
class Options:
    name: str = "testcluster"
    with_node: bool = True
    # "process": the process node agent; "kubelet": a real kubelet with containerd.
    node: str = "process"
    image_map: Path | None = None
    # For node="kubelet": the containerd root holding the built images (testcluster.image).
    image_store: Path | None = None
    # Kill the components when the starting process dies (pytest); `up` from the
    # command line leaves them running on purpose.
    die_with_parent: bool = False
    timeout: float = 90.0
    env: Mapping[str, str] | None = None
    timing: Timing = field(default_factory=Timing)


def log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


class _Starter:
    """Starts components one by one, recording each, and waits on conditions while
    checking that nothing started so far has died."""

    def __init__(self, current: ClusterState, options: Options) -> None:
        self.state = current
        self.options = options
        self.deadline = options.timing.clock() + options.timeout
        env = dict(os.environ if options.env is None else options.env)
        env.pop("KUBECONFIG", None)  # components get explicit kubeconfigs, never the user's
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        self.env = env

    def start(self, name: str, command: list[str], log: Path) -> None:
        child = processes.spawn(command, log=log, env=self.env, cwd=self.state.directory,
                                die_with_parent=self.options.die_with_parent)
        leader = processes.identify(child.pid)
        if leader is None:
            raise StartupError(f"{name} exited immediately:\n{log_tail(log)}")
        self.state = self.state.with_component(Component(name, leader.pid, leader.start_ticks, log))
        state.save(self.state)

    def _check_alive(self) -> None:
        for component in self.state.components:
            if not processes.alive(component.leader):
                raise StartupError(
                    f"{component.name} exited during startup; last lines of {component.log}:\n"
                    f"{log_tail(component.log)}"
                )

    def wait(self, what: str, condition: Callable[[], bool]) -> None:
        timing = self.options.timing
        while True:
            self._check_alive()
            if condition():
                return
            if timing.clock() >= self.deadline:
                logs = "\n".join(f"  {c.name}: {c.log}" for c in self.state.components)
                raise StartupError(f"timed out after {self.options.timeout:.0f} s waiting for {what}; logs:\n{logs}")
            timing.sleep(timing.poll)


def _etcd_data_dir(directory: Path, name: str) -> Path:
    if TMPFS.is_dir() and os.access(TMPFS, os.W_OK):
        return Path(tempfile.mkdtemp(prefix=f"prodigy-testcluster-{name}-", dir=TMPFS))
    fallback = directory / "etcd"
    fallback.mkdir(parents=True, exist_ok=True)
    return fallback


def _node_ready(client: api.Api, node: str) -> Callable[[], bool]:
    def ready() -> bool:
        try:
            obj = client.request("GET", f"/api/v1/nodes/{node}")
        except (api.ApiError, OSError):
            return False
        conditions = {c.get("type"): c.get("status") for c in obj.get("status", {}).get("conditions", [])}
        taints = {t.get("key") for t in obj.get("spec", {}).get("taints", []) or []}
        return conditions.get("Ready") == "True" and NOT_READY_TAINT not in taints
    return ready


def _real_node_ready(client: api.Api, layout: components.Layout, node: nodeconfig.NodeLayout) -> Callable[[], bool]:
    ready = _node_ready(client, layout.node_name)

    def initialised() -> bool:
        return (realnode.initialise(client, layout.node_name, (realnode.UNINITIALIZED_TAINT, NOT_READY_TAINT))
                and ready() and (node.root / "images.ready").exists())
    return initialised


def _node_layout(layout: components.Layout, name: str) -> nodeconfig.NodeLayout:
    return nodeconfig.NodeLayout(
        root=layout.node_state, node_name=layout.node_name, kubelet_port=layout.ports.node_agent, healthz_port=0,
        cgroup_root=realnode.cgroup_root(name), ca_cert=layout.pki.ca_cert, serving_cert=layout.pki.node_cert,
        serving_key=layout.pki.node_key, kubeconfig=layout.component_kubeconfig("kubelet"),
    )


def _write_credentials(layout: components.Layout, name: str, ids: auth.Identities) -> tuple[str, str]:
    layout.tokens_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(layout.tokens_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(auth.token_auth_file(ids))
    ca_pem = layout.pki.ca_cert.read_bytes()
    admin_context, restricted_context = name, f"{name}-restricted"
    kubeconfig.write(layout.kubeconfig, kubeconfig.render(cluster=name, server=layout.server, ca_pem=ca_pem, contexts=[
        kubeconfig.Context(admin_context, f"{name}-admin", ids.admin.token),
        kubeconfig.Context(restricted_context, f"{name}-restricted", ids.restricted.token),
    ]))
    for component, identity in (("kube-controller-manager", ids.controller_manager),
                                ("kube-scheduler", ids.scheduler), ("node-agent", ids.node_agent)):
        kubeconfig.write(layout.component_kubeconfig(component), kubeconfig.render(
            cluster=name, server=layout.server, ca_pem=ca_pem,
            contexts=[kubeconfig.Context(component, identity.user, identity.token)]))
    if layout.pki.node_client_cert is not None and layout.pki.node_client_key is not None:
        kubeconfig.write(layout.component_kubeconfig("kubelet"), kubeconfig.render_client_certificate(
            cluster=name, server=layout.server, ca_pem=ca_pem, user=f"system:node:{layout.node_name}",
            cert=layout.pki.node_client_cert, key=layout.pki.node_client_key))
    return admin_context, restricted_context


def up(directory: Path, bin_dir: Path, options: Options | None = None) -> ClusterState:
    """Start a cluster whose files live in ``directory``; return once it serves Jobs.

    Raises StartupError (after stopping whatever it started) if a component dies or
    the cluster is not ready within ``options.timeout`` seconds.
    """
    options = options or Options()
    if options.node not in NODE_KINDS:
        raise StartupError(f"unknown node kind {options.node!r}: use one of {', '.join(NODE_KINDS)}")
    real_node = options.with_node and options.node == "kubelet"
    if real_node and options.image_store is None:
        raise StartupError("a kubelet node needs the built images: pass image_store (python -m testcluster image build)")
    if not _NAME.fullmatch(options.name):
        raise StartupError(f"invalid cluster name {options.name!r}: use up to 42 lowercase letters, digits and '-', "
                           "starting and ending with a letter or digit")
    directory = directory.resolve()
    existing = state.load(directory)
    if existing is not None:
        if any(processes.alive(c.leader) for c in existing.components):
            raise StartupError(f"a cluster is already running in {directory}; stop it with `down` first")
        down(directory)  # a crashed earlier run: stray children, etcd data left on tmpfs
    directory.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(directory / "logs", ignore_errors=True)

    free = ports.free_ports(6)
    node_name = f"{options.name}-node"
    layout = components.Layout(
        root=directory, bin_dir=bin_dir.resolve(), etcd_data=_etcd_data_dir(directory, options.name),
        ports=components.Ports(*free), pki=pki.generate(directory / "pki", node_name), node_name=node_name,
    )
    ids = auth.new_identities()
    admin_context, restricted_context = _write_credentials(layout, options.name, ids)
    starter = _Starter(ClusterState(
        name=options.name, directory=directory, server=layout.server, kubeconfig=layout.kubeconfig,
        admin_context=admin_context, restricted_context=restricted_context, bin_dir=layout.bin_dir,
        etcd_data=layout.etcd_data, node_name=layout.node_name if options.with_node else None,
        node_kind=options.node if options.with_node else "none",
    ), options)
    state.save(starter.state)
    admin = api.Api(layout.server, ids.admin.token, layout.pki.ca_cert)
    node_layout = _node_layout(layout, options.name) if real_node else None
    try:
        if node_layout is not None and options.image_store is not None:
            # The image store's clone and the node's files, before anything starts.
            realnode.prepare(node_layout, options.image_store, image_caches.ImageCache.at(
                image_caches.cache_root(dict(options.env) if options.env is not None else None)))
        starter.start("etcd", components.etcd(layout), layout.log("etcd"))
        starter.wait("etcd /health", lambda: api.reachable(f"{layout.etcd_url}/health"))
        starter.start("kube-apiserver", components.kube_apiserver(layout), layout.log("kube-apiserver"))
        starter.wait("kube-apiserver /readyz", lambda: api.reachable(
            f"{layout.server}/readyz", ca_cert=layout.pki.ca_cert, token=ids.admin.token))
        # Both retry until the apiserver answers, but give up after a short while,
        # so they start only once it is ready.
        starter.start("kube-controller-manager", components.kube_controller_manager(layout),
                      layout.log("kube-controller-manager"))
        starter.start("kube-scheduler", components.kube_scheduler(layout), layout.log("kube-scheduler"))
        admin.create("/apis/rbac.authorization.k8s.io/v1/clusterroles", auth.restricted_role())
        admin.create("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                     auth.restricted_binding(auth.user_subject(ids.restricted.user)))
        if node_layout is not None:
            realnode.write_spec(node_layout, layout.bin_dir / "kubelet", layout.root / "logs", starter.env)
            starter.start("node", realnode.supervisor_command(node_layout), layout.log("node"))
        elif options.with_node:
            starter.start("node-agent", components.node_agent(layout, options.image_map), layout.log("node-agent"))
        for component, port in (("kube-controller-manager", layout.ports.controller_manager),
                                ("kube-scheduler", layout.ports.scheduler)):
            starter.wait(f"{component} /healthz", partial(api.reachable, f"https://127.0.0.1:{port}/healthz"))
        if node_layout is not None:
            starter.wait(f"node {layout.node_name} Ready, at 127.0.0.1 and untainted, images loaded",
                         _real_node_ready(admin, layout, node_layout))
        elif options.with_node:
            starter.wait(f"node {layout.node_name} Ready and untainted", _node_ready(admin, layout.node_name))
    except BaseException:
        down(directory)
        raise
    return starter.state


def down(directory: Path, *, grace: float = 10.0) -> list[str]:
    """Stop every process ``up`` started in ``directory`` and delete etcd's data.

    Components stop in reverse start order: the node agent first, so it can stop its
    pods while the apiserver still answers, and etcd last, because an apiserver whose
    etcd is gone stalls in its graceful shutdown. Returns the names of the components
    that were still running.
    """
    current = state.load(directory.resolve())
    if current is None:
        return []
    running = [c.name for c in current.components if processes.alive(c.leader)]
    for component in reversed(current.components):
        processes.stop([component.leader], grace=grace)
    if current.node_kind == "kubelet":
        # A supervisor killed outright leaves shims and containers behind: find them by its
        # mount namespace and cgroups.
        realnode_cleanup.clean(current.directory / "node")
    if current.etcd_data.is_relative_to(TMPFS) or current.etcd_data.is_relative_to(current.directory):
        shutil.rmtree(current.etcd_data, ignore_errors=True)
    state.save(current.without_components())
    return running


def recorded(directory: Path) -> tuple[Component, ...]:
    """The processes recorded for the cluster in ``directory`` (none if there is no record)."""
    current = state.load(directory.resolve())
    return () if current is None else current.components


def status(directory: Path) -> dict[str, bool]:
    """Component name -> running, for the cluster recorded in ``directory``."""
    current = state.load(directory.resolve())
    if current is None:
        return {}
    return {c.name: processes.alive(c.leader) for c in current.components}


def resident_bytes(directory: Path) -> int:
    """Sum of RSS of every process of the cluster (components and their children)."""
    current = state.load(directory.resolve())
    return 0 if current is None else processes.resident_bytes([c.leader for c in current.components])
