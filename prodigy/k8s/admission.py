"""Will the namespace admit the run's pod as configured? ResourceQuotas and LimitRanges, read
before submission (when RBAC allows) and compared with the containers the run will have: pure.

The same refusals are diagnosed after the fact from the Job's ``FailedCreate`` events
(``refusals.py``); finding them here first turns a failed run into a warning before it starts.
Scoped quotas (``scopes``/``scopeSelector``) are left alone: whether they apply depends on
details (priority class, best-effort) this check does not model, and a wrong warning is worse
than none.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from prodigy.k8s.config.resolve import ResolvedCluster
from prodigy.k8s.manifests.contract import AGENT_CONTAINER
from prodigy.k8s.quantity import format_quantity, parse_quantity, pod_totals

Obj = Mapping[str, Any]
COMPUTE_KEYS = ("requests.cpu", "requests.memory", "limits.cpu", "limits.memory", "cpu", "memory")
INIT_CONTAINER = "prodigy-repo"          # transport/podspec.py names them; kept literal to stay pure
RESULTS_CONTAINER = "prodigy-results"


@dataclass(frozen=True)
class ContainerShape:
    name: str
    requests: Mapping[str, str] = field(default_factory=dict)
    limits: Mapping[str, str] = field(default_factory=dict)
    init: bool = False

    def as_container(self) -> dict[str, Any]:
        return {"name": self.name, "resources": {"requests": dict(self.requests), "limits": dict(self.limits)}}


def run_containers(cluster: ResolvedCluster) -> tuple[ContainerShape, ...]:
    """The containers every run's pod has: the agent, prodigy-results, and the init prodigy-repo."""
    agent, plumbing = cluster.resources.to_k8s(), cluster.plumbing_resources.to_k8s()

    def shape(name: str, resources: Mapping[str, Mapping[str, str]], init: bool = False) -> ContainerShape:
        return ContainerShape(name, dict(resources.get("requests") or {}), dict(resources.get("limits") or {}), init)

    return (shape(AGENT_CONTAINER, agent), shape(RESULTS_CONTAINER, plumbing), shape(INIT_CONTAINER, plumbing, True))


@dataclass(frozen=True)
class AdmissionWarning:
    subject: str          # "ResourceQuota compute", "LimitRange small"
    detail: str
    hint: str


def quota_warnings(containers: Sequence[ContainerShape], quotas: Sequence[Obj]) -> list[AdmissionWarning]:
    totals = pod_totals([c.as_container() for c in containers if not c.init],
                        [c.as_container() for c in containers if c.init])
    found: list[AdmissionWarning] = []
    for quota in quotas:
        spec, status = quota.get("spec") or {}, quota.get("status") or {}
        if spec.get("scopes") or spec.get("scopeSelector"):
            continue
        name = str((quota.get("metadata") or {}).get("name") or "")
        subject = f"ResourceQuota {name}"
        hard: Mapping[str, Any] = status.get("hard") or spec.get("hard") or {}
        used: Mapping[str, Any] = status.get("used") or {}
        for key in COMPUTE_KEYS:
            if key not in hard:
                continue
            kind, _, resource = key.rpartition(".")
            kind = kind or "requests"
            bare = [c.name for c in containers if resource not in (c.requests if kind == "requests" else c.limits)]
            if bare:
                found.append(AdmissionWarning(
                    subject, f"requires {kind}.{resource} on every container; "
                    f"{', '.join(bare)} {'sets' if len(bare) == 1 else 'set'} none",
                    f"set {kind}.{resource} under resources and plumbing_resources in kubernetes.yaml"))
                continue
            limit, need = parse_quantity(hard[key]), totals.get(key)
            if limit is None or need is None:
                continue
            if need > limit:
                found.append(AdmissionWarning(
                    subject, f"allows {key} {hard[key]} in all, the pod needs {format_quantity(need)}: "
                    "it will never be admitted",
                    f"lower {_setting(key)} in kubernetes.yaml, or ask for a larger quota"))
                continue
            free = limit - (parse_quantity(used.get(key, "0")) or Decimal(0))
            if need > free:
                found.append(AdmissionWarning(
                    subject, f"has {key} {format_quantity(max(free, Decimal(0)))} of {hard[key]} free, the pod needs "
                    f"{format_quantity(need)}: the run waits for other pods to finish",
                    "wait, or lower resources in kubernetes.yaml"))
        if "pods" in hard and (parse_quantity(used.get("pods", "0")) or 0) >= (parse_quantity(hard["pods"]) or 0):
            found.append(AdmissionWarning(
                subject, f"allows {hard['pods']} pods and all are in use: the run waits for one to end",
                "wait for other pods in the namespace to finish, or ask for a larger quota"))
    return found


def _setting(key: str) -> str:
    kind, _, resource = key.rpartition(".")
    return f"resources.{kind or 'requests'}.{resource}"


def limit_range_warnings(containers: Sequence[ContainerShape],
                         limit_ranges: Sequence[Obj]) -> list[AdmissionWarning]:
    found: list[AdmissionWarning] = []
    for limit_range in limit_ranges:
        name = str((limit_range.get("metadata") or {}).get("name") or "")
        subject = f"LimitRange {name}"
        for item in (limit_range.get("spec") or {}).get("limits") or ():
            if item.get("type") == "Container":
                for container in containers:
                    found += _bounds(subject, f"container {container.name}", item, container.requests,
                                     container.limits, plumbing=container.name != AGENT_CONTAINER)
            elif item.get("type") == "Pod":
                regular = [c for c in containers if not c.init]
                requests = _sums([c.requests for c in regular])
                limits = _sums([c.limits for c in regular])
                found += _bounds(subject, "the pod", item, requests, limits, plumbing=False)
    return found


def _sums(amounts: Sequence[Mapping[str, str]]) -> dict[str, str]:
    totals: dict[str, Decimal] = {}
    for mapping in amounts:
        for key, raw in mapping.items():
            value = parse_quantity(raw)
            if value is not None:
                totals[key] = totals.get(key, Decimal(0)) + value
    return {key: str(value) for key, value in totals.items()}


def _bounds(subject: str, who: str, item: Obj, requests: Mapping[str, str], limits: Mapping[str, str], *,
            plumbing: bool) -> list[AdmissionWarning]:
    key = "plumbing_resources" if plumbing else "resources"
    found = []
    for resource, bound in (item.get("max") or {}).items():
        value = limits.get(resource) or requests.get(resource)
        if value is not None and _greater(value, bound):
            found.append(AdmissionWarning(subject,
                                          f"allows at most {bound} {resource} for {who}, which asks for {value}",
                                 f"lower {key}.limits.{resource} in kubernetes.yaml to {bound} or less"))
    for resource, bound in (item.get("min") or {}).items():
        value = requests.get(resource)
        if value is not None and _greater(bound, value):
            found.append(AdmissionWarning(subject,
                                          f"requires at least {bound} {resource} for {who}, which asks for {value}",
                                 f"raise {key}.requests.{resource} in kubernetes.yaml to {bound} or more"))
    for resource, ratio in (item.get("maxLimitRequestRatio") or {}).items():
        limit, request, most = (parse_quantity(v) for v in (limits.get(resource), requests.get(resource), ratio))
        if limit is not None and request and most is not None and limit / request > most:
            found.append(AdmissionWarning(subject, f"allows a {resource} limit at most {ratio}× the request for {who}",
                                 f"bring {key}.limits.{resource} and {key}.requests.{resource} closer together"))
    return found


def _greater(value: object, bound: object) -> bool:
    a, b = parse_quantity(value), parse_quantity(bound)
    return a is not None and b is not None and a > b
