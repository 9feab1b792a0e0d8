"""A container's environment and command line, resolved like the kubelet does.

Pure: ConfigMaps and Secrets come in through a lookup function, so the rules
(envFrom before env, ``$(VAR)`` expansion, fieldRef paths, resourceFieldRef rounding)
are unit-testable. A missing object or key raises :class:`ContainerConfigError`, whose
text is the kubelet's CreateContainerConfigError message.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

# (kind, namespace, name) -> the object's data as str values, or None when it does not exist
Lookup = Callable[[str, str, str], Mapping[str, str] | None]

_VAR_REF = re.compile(r"\$\$|\$\(([^)]*)\)")
_LABEL_REF = re.compile(r"^metadata\.(labels|annotations)\['(.+)'\]$")
_QUANTITY = re.compile(r"^([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)([a-zA-Z]*)$")
_SUFFIX = {
    "": Decimal(1), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6, "G": Decimal(10) ** 9,
    "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18, "Ki": Decimal(2) ** 10,
    "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40, "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


class ContainerConfigError(Exception):
    """CreateContainerConfigError: the container stays waiting until the input appears."""


def parse_quantity(text: str | int | float) -> Decimal:
    match = _QUANTITY.match(str(text).strip())
    if not match or match.group(2) not in _SUFFIX:
        raise ValueError(f"invalid quantity {text!r}")
    return Decimal(match.group(1)) * _SUFFIX[match.group(2)]


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: ``$$`` escapes, unknown references stay as written."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env.get(name, match.group(0))

    return _VAR_REF.sub(replace, text)


def decoded_secret(data: Mapping[str, str]) -> dict[str, str]:
    return {k: base64.b64decode(v).decode(errors="replace") for k, v in data.items()}


def field_value(pod: Mapping[str, Any], path: str) -> str:
    """A downward API ``fieldRef.fieldPath`` of the pod."""
    meta, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    ref = _LABEL_REF.match(path)
    if ref:
        return str((meta.get(ref.group(1)) or {}).get(ref.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = sorted((meta.get(path.split(".")[1]) or {}).items())
        return "\n".join(f'{k}="{v}"' for k, v in items)
    simple: dict[str, Any] = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP") or "127.0.0.1",
        "status.hostIPs": status.get("hostIP") or "127.0.0.1",
        "status.podIP": status.get("podIP") or "127.0.0.1",
        "status.podIPs": status.get("podIP") or "127.0.0.1",
    }
    if path not in simple:
        raise ContainerConfigError(f"unsupported fieldPath: {path}")
    return str(simple[path] or "")


def resource_value(
    pod: Mapping[str, Any], container_name: str, ref: Mapping[str, Any], allocatable: Mapping[str, str]
) -> str:
    """A ``resourceFieldRef``: the container's limit/request (limits default to the node's allocatable)."""
    name = ref.get("containerName") or container_name
    container: Mapping[str, Any] = next((c for c in pod["spec"].get("containers", []) if c["name"] == name), {})
    kind, _, resource = str(ref.get("resource", "")).partition(".")
    resources = container.get("resources") or {}
    value = (resources.get(kind) or {}).get(resource)
    if value is None and kind == "requests":
        value = (resources.get("limits") or {}).get(resource)
    if value is None:
        value = allocatable.get(resource, "0") if kind == "limits" else "0"
    divisor = parse_quantity(ref.get("divisor") or "1")
    return str(math.ceil(parse_quantity(value) / divisor))


def _lookup(lookup: Lookup, kind: str, namespace: str, name: str, optional: bool) -> Mapping[str, str] | None:
    data = lookup(kind, namespace, name)
    if data is None and not optional:
        raise ContainerConfigError(f'{kind.lower()} "{name}" not found')
    return data


def container_env(
    pod: Mapping[str, Any],
    container: Mapping[str, Any],
    base: Mapping[str, str],
    lookup: Lookup,
    allocatable: Mapping[str, str],
) -> dict[str, str]:
    """``base`` (image env, service env) overlaid with envFrom, then env, in order."""
    namespace = pod["metadata"]["namespace"]
    env = dict(base)
    for source in container.get("envFrom") or ():
        prefix = source.get("prefix") or ""
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(key)
            if ref:
                data = _lookup(lookup, kind, namespace, ref["name"], bool(ref.get("optional")))
                env.update({prefix + k: v for k, v in (data or {}).items()})
    for var in container.get("env") or ():
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(var.get("value") or "", env)
            continue
        source = var["valueFrom"]
        if "fieldRef" in source:
            env[name] = field_value(pod, source["fieldRef"]["fieldPath"])
        elif "resourceFieldRef" in source:
            env[name] = resource_value(pod, container["name"], source["resourceFieldRef"], allocatable)
        else:
            kind, ref = (
                ("ConfigMap", source["configMapKeyRef"]) if "configMapKeyRef" in source
                else ("Secret", source["secretKeyRef"])
            )
            data = _lookup(lookup, kind, namespace, ref["name"], bool(ref.get("optional")))
            if data is None:
                continue
            if ref["key"] not in data:
                if ref.get("optional"):
                    continue
                raise ContainerConfigError(f"couldn't find key {ref['key']} in {kind} {namespace}/{ref['name']}")
            env[name] = data[ref["key"]]
    return env


def command_line(
    container: Mapping[str, Any], entrypoint: Sequence[str], cmd: Sequence[str], env: Mapping[str, str]
) -> list[str]:
    """The argv Kubernetes runs, each part ``$(VAR)``-expanded.

    ``command`` replaces the image's ENTRYPOINT and drops its CMD; ``args`` replace the
    CMD; with neither, the image's ENTRYPOINT + CMD run.
    """
    command = container.get("command")
    args = container.get("args")
    if command:
        argv = [*command, *(args or [])]
    else:
        argv = [*entrypoint, *(args if args else cmd)]
    return [expand(part, env) for part in argv]
