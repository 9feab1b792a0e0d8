"""What a container instance starts with: command line, environment, mounts, limits.

Pure: ConfigMaps and Secrets come in through ``lookup`` (see ``envvars``), volumes as the
host paths ``volumes.materialise`` produced.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from testcluster.nodeagent import envvars
from testcluster.nodeagent.containers import LaunchSpec, Mount
from testcluster.nodeagent.images import ImageRule

# What an image's config usually sets; the image map prepends its own directories.
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def memory_limit(container: Mapping[str, Any]) -> int | None:
    value = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    return int(envvars.parse_quantity(value)) if value is not None else None


def base_env(pod_name: str, rule: ImageRule, apiserver: tuple[str, int]) -> dict[str, str]:
    """The image's environment plus what the kubelet always adds (HOSTNAME, the kubernetes service).

    KUBERNETES_SERVICE_HOST/PORT point at the real apiserver address: there is no
    Service network on this node.
    """
    host, port = apiserver
    return {
        "PATH": ":".join([*rule.path, DEFAULT_PATH]),
        "HOSTNAME": pod_name,
        "HOME": "/root",
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": str(port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(port),
        "KUBERNETES_PORT": f"tcp://{host}:{port}",
        **rule.env,
    }


def launch_spec(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    rule: ImageRule,
    volumes: Mapping[str, Path],
    lookup: envvars.Lookup,
    allocatable: Mapping[str, str],
    apiserver: tuple[str, int],
) -> LaunchSpec:
    """Raises ContainerConfigError (CreateContainerConfigError) for missing inputs."""
    pod_name = pod["metadata"]["name"]
    env = envvars.container_env(pod, container, base_env(pod_name, rule, apiserver), lookup, allocatable)
    mounts = []
    for mount in container.get("volumeMounts") or ():
        source = volumes.get(mount["name"])
        if source is None:
            raise envvars.ContainerConfigError(
                f'cannot find volume "{mount["name"]}" to mount into container "{container["name"]}"'
            )
        sub_path = mount.get("subPath") or envvars.expand(mount.get("subPathExpr", ""), env)
        mounts.append(Mount(source / sub_path if sub_path else source, mount["mountPath"], bool(mount.get("readOnly"))))
    return LaunchSpec(
        argv=envvars.command_line(container, rule.entrypoint, rule.cmd, env),
        env=env,
        working_dir=container.get("workingDir") or "/",
        mounts=mounts,
        hostname=pod_name,
        memory_limit=memory_limit(container),
        termination_message_path=container.get("terminationMessagePath", "/dev/termination-log"),
    )
