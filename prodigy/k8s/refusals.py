"""Why the API server refused to create the Job's pod: read from the Job's ``FailedCreate`` event.

When admission refuses a pod, no pod exists: the only trace is the Job controller's event
``Error creating: pods "x" is forbidden: <why>``, repeated with back-off. ``read_refusal``
turns ``<why>`` into what a user needs: which object refused (the ResourceQuota, LimitRange,
ValidatingAdmissionPolicy or webhook, by name), whether waiting can help, and what to change.

Pure. The wording parsed is the apiserver's own (admission plugins ResourceQuota, LimitRanger,
ValidatingAdmissionPolicy, PodSecurity and webhooks, Kubernetes 1.2x–1.3x). The LimitRange's
message does not name it, so the namespace's LimitRanges (when readable) are passed in and the
one whose bound matches is named. The Job's pod template tells which container asked for what.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from prodigy.k8s.quantity import exceeds, parse_quantity

Obj = Mapping[str, Any]


class RefusedBy(StrEnum):
    QUOTA = "Quota"
    LIMIT_RANGE = "LimitRange"
    ADMISSION = "Admission"
    OTHER = "Other"


@dataclass(frozen=True)
class Refusal:
    by: RefusedBy
    summary: str          # one line: who refuses and why
    hint: str             # what to change
    permanent: bool       # waiting cannot help (the pod as configured can never be admitted)
    inspect: tuple[str, ...] = ()


# ResourceQuota (apiserver/pkg/admission/plugin/resourcequota/controller.go)
_EXCEEDED = re.compile(r"exceeded quota: (?P<name>[^,]+), requested: (?P<requested>\S+), "
                       r"used: (?P<used>\S+), limited: (?P<limited>\S+)")
_MUST_SPECIFY = re.compile(r"failed quota: (?P<name>[^:]+): must specify (?P<what>.+)")
_UNKNOWN_STATUS = re.compile(r"status unknown for quota: (?P<name>[^,]+)")
# LimitRanger (plugin/pkg/admission/limitranger/admission.go)
_LIMIT_RANGE = re.compile(r"(?P<bound>maximum|minimum) (?P<resource>[\w./-]+) usage per (?P<scope>Container|Pod) "
                          r"is (?P<value>[^,\s.]+(?:\.\d+)?[A-Za-z]*)"
                          r"(?:, but (?P<kind>limit|request) is (?P<actual>[^,\]\s]+)"
                          r"|\.\s+No (?P<missing>limit|request) is specified)")
_RATIO = re.compile(r"(?P<resource>[\w./-]+) max limit to request ratio per (?P<scope>Container|Pod) "
                    r"is (?P<value>\S+),")
# Admission policies and webhooks
_POLICY = re.compile(r"ValidatingAdmissionPolicy '(?P<name>[^']+)'(?: with binding '(?P<binding>[^']+)')? "
                     r"denied request: (?P<message>.*)")
_WEBHOOK = re.compile(r"admission webhook \"(?P<name>[^\"]+)\" denied the request:?\s*(?P<message>.*)")
_POD_SECURITY = re.compile(r"violates PodSecurity \"(?P<level>[^\"]+)\":\s*(?P<message>.*)")


def _reason(message: str) -> str:
    """The admission error without the Job controller's and the apiserver's prefixes."""
    message = message.removeprefix("Error creating: ")
    forbidden = re.match(r'pods "[^"]*" is forbidden: (.*)', message, re.DOTALL)
    return forbidden.group(1) if forbidden else message


def _amounts(text: str) -> dict[str, str]:
    """``limits.cpu=2,limits.memory=4Gi`` -> {"limits.cpu": "2", "limits.memory": "4Gi"}."""
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {key.strip(): value.strip() for key, value in pairs}


def read_refusal(message: str, *, namespace: str, template: Obj | None = None,
                 limit_ranges: Sequence[Obj] = ()) -> Refusal:
    reason = _reason(message)
    for reader in (_quota_exceeded, _quota_requires, _quota_unknown):
        found = reader(reason, namespace)
        if found is not None:
            return found
    found = _limit_range(reason, namespace, template or {}, limit_ranges)
    if found is not None:
        return found
    return _admission(reason, namespace) or Refusal(
        RefusedBy.OTHER, "the Job cannot create its pod", permanent=False,
        hint="see the message; a policy or admission webhook may refuse the pod "
             f"(kubectl -n {namespace} get events shows the Job's events)")


def _quota_exceeded(reason: str, namespace: str) -> Refusal | None:
    found = _EXCEEDED.search(reason)
    if found is None:
        return None
    name = found.group("name").strip()
    requested, used, limited = (_amounts(found.group(g)) for g in ("requested", "used", "limited"))
    inspect = (f"kubectl -n {namespace} describe resourcequota {name}",)
    never = sorted(key for key, value in requested.items() if key in limited and exceeds(value, limited[key]))
    if never:
        asks = ", ".join(f"{key} {requested[key]} (quota {limited[key]})" for key in never)
        settings = ", ".join(_setting(key) for key in never)
        return Refusal(RefusedBy.QUOTA, f"the pod asks for more than ResourceQuota {name} allows at all: {asks}",
                       permanent=True, inspect=inspect,
                       hint=f"lower {settings} in kubernetes.yaml to fit the quota, or ask for a larger quota")
    room = ", ".join(f"{key} {requested[key]} requested, {used.get(key, '0')} of {limited.get(key, '?')} used"
                     for key in sorted(requested))
    return Refusal(RefusedBy.QUOTA, f"ResourceQuota {name} has no room for the pod ({room})", permanent=False,
                   inspect=inspect,
                   hint=f"wait for other runs in namespace {namespace} to finish, lower resources in kubernetes.yaml, "
                        f"or raise the quota")


def _quota_requires(reason: str, namespace: str) -> Refusal | None:
    found = _MUST_SPECIFY.search(reason)
    if found is None:
        return None
    name = found.group("name").strip()
    what = found.group("what").strip()
    return Refusal(RefusedBy.QUOTA, f"ResourceQuota {name} requires resources on every container: {what}",
                   permanent=True, inspect=(f"kubectl -n {namespace} describe resourcequota {name}",),
                   hint="set resources (the workflow container) and plumbing_resources (prodigy's own containers) "
                        "in kubernetes.yaml so that every value the quota names is set")


def _quota_unknown(reason: str, namespace: str) -> Refusal | None:
    found = _UNKNOWN_STATUS.search(reason)
    if found is None:
        return None
    name = found.group("name").strip()
    return Refusal(RefusedBy.QUOTA, f"ResourceQuota {name} has not been counted yet by the cluster", permanent=False,
                   inspect=(f"kubectl -n {namespace} describe resourcequota {name}",),
                   hint="the cluster's resource quota controller has not computed the quota's usage; "
                        "if this lasts, ask the cluster's administrators")


def _limit_range(reason: str, namespace: str, template: Obj, limit_ranges: Sequence[Obj]) -> Refusal | None:
    found = _LIMIT_RANGE.search(reason)
    ratio = _RATIO.search(reason) if found is None else None
    if found is None and ratio is None:
        return None
    if ratio is not None:
        resource, scope, value = ratio.group("resource"), ratio.group("scope"), ratio.group("value")
        name = _matching_limit_range(limit_ranges, "maxLimitRequestRatio", scope, resource, value)
        return Refusal(RefusedBy.LIMIT_RANGE,
                       f"{_limit_range_name(name)} allows a {resource} limit at most {value}× the request per {scope}",
                       permanent=True, inspect=_limit_range_inspect(namespace, name),
                       hint=f"bring the {resource} limits and requests closer together in kubernetes.yaml "
                            "(resources, plumbing_resources)")
    assert found is not None
    bound, resource, scope, value = (found.group(g) for g in ("bound", "resource", "scope", "value"))
    kind = found.group("kind") or found.group("missing")
    actual = found.group("actual")
    key = "max" if bound == "maximum" else "min"
    name = _matching_limit_range(limit_ranges, key, scope, resource, value)
    most = "at most" if bound == "maximum" else "at least"
    plural = "limits" if kind == "limit" else "requests"
    who = _containers_with(template, plural, resource, actual) if actual else ()
    asked = f"; {', '.join(who)} {'asks' if len(who) == 1 else 'ask'} for {actual}" if who else (
        f"; the pod's {kind} is {actual}" if actual else f"; no {kind} is set")
    settings = _settings_for(who, plural, resource)
    return Refusal(RefusedBy.LIMIT_RANGE,
                   f"{_limit_range_name(name)} allows {most} {value} {resource} per {scope} as {kind}{asked}",
                   permanent=True, inspect=_limit_range_inspect(namespace, name),
                   hint=f"set {settings} to {most} {value} in kubernetes.yaml, or ask for the LimitRange to change")


def _limit_range_name(name: str | None) -> str:
    return f"LimitRange {name}" if name else "the namespace's LimitRange"


def _limit_range_inspect(namespace: str, name: str | None) -> tuple[str, ...]:
    return (f"kubectl -n {namespace} describe limitrange {name}" if name
            else f"kubectl -n {namespace} describe limitrange",)


def _matching_limit_range(limit_ranges: Sequence[Obj], key: str, scope: str, resource: str, value: str) -> str | None:
    """The LimitRange whose ``key`` (max/min/...) for ``resource`` at ``scope`` is ``value``."""
    wanted = parse_quantity(value)
    names = []
    for limit_range in limit_ranges:
        for item in (limit_range.get("spec") or {}).get("limits") or ():
            if item.get("type") != scope:
                continue
            bound = (item.get(key) or {}).get(resource)
            if bound is not None and parse_quantity(bound) == wanted:
                names.append(str((limit_range.get("metadata") or {}).get("name") or ""))
    return names[0] if len(names) == 1 else (names[0] if names else None)


def _containers_with(template: Obj, plural: str, resource: str, actual: str) -> tuple[str, ...]:
    wanted = parse_quantity(actual)
    spec = template.get("spec") or {}
    found = []
    for container in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        value = ((container.get("resources") or {}).get(plural) or {}).get(resource)
        if value is not None and parse_quantity(value) == wanted:
            found.append(str(container.get("name")))
    return tuple(found)


_PLUMBING = ("prodigy-repo", "prodigy-results")


def _settings_for(containers: Sequence[str], plural: str, resource: str) -> str:
    """The kubernetes.yaml keys that set this value for these containers."""
    keys = []
    if not containers or any(c not in _PLUMBING for c in containers):
        keys.append(f"resources.{plural}.{resource}")
    if any(c in _PLUMBING for c in containers):
        keys.append(f"plumbing_resources.{plural}.{resource}")
    return " and ".join(keys)


def _setting(quota_key: str) -> str:
    kind, _, resource = quota_key.partition(".")
    if kind not in ("limits", "requests"):
        kind, resource = "requests", quota_key
    return f"resources.{kind}.{resource}"


def _admission(reason: str, namespace: str) -> Refusal | None:
    policy = _POLICY.search(reason)
    if policy is not None:
        name, binding = policy.group("name"), policy.group("binding")
        inspect = [f"kubectl get validatingadmissionpolicy {name} -o yaml"]
        if binding:
            inspect.append(f"kubectl get validatingadmissionpolicybinding {binding} -o yaml")
        return Refusal(RefusedBy.ADMISSION, f"ValidatingAdmissionPolicy {name} refuses the pod: "
                       f"{policy.group('message').strip()}", permanent=True, inspect=tuple(inspect),
                       hint=f"change what policy {name} objects to (kubernetes.yaml), or ask the cluster's "
                            "administrators to exempt this namespace")
    webhook = _WEBHOOK.search(reason)
    if webhook is not None:
        name = webhook.group("name")
        return Refusal(RefusedBy.ADMISSION, f"admission webhook {name} refuses the pod: "
                       f"{webhook.group('message').strip()}", permanent=True,
                       inspect=("kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations",),
                       hint=f"change what webhook {name} objects to (kubernetes.yaml), or ask the cluster's "
                            "administrators")
    security = _POD_SECURITY.search(reason)
    if security is not None:
        level = security.group("level")
        return Refusal(RefusedBy.ADMISSION, f"namespace {namespace} enforces Pod Security {level} and the pod "
                       f"violates it: {security.group('message').strip()}", permanent=True,
                       inspect=(f"kubectl get namespace {namespace} --show-labels",),
                       hint="run in a namespace whose pod-security.kubernetes.io/enforce level admits the agent, "
                            "or ask the cluster's administrators")
    return None
