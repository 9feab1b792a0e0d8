"""``prodigy cluster check NAME``, also run before every submission.

Answers, before anything is created, the questions whose failure would otherwise surface
halfway through a run: is the API server reachable (within a bounded time), are the
credentials accepted, does the namespace exist, may we do every verb a run needs (one
SelfSubjectRulesReview; a SelfSubjectAccessReview per verb and resource the rules do not
visibly grant, so every denial is the authorizer's own answer), do the referenced
Secrets exist, and will the namespace's ResourceQuotas and LimitRanges admit the pod as
configured (warnings: the run may still be submitted).
Checks that cannot be decided (e.g. no permission to read namespaces) are reported as
skipped, never as failures: preflight must not reject a setup that would work.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any

from prodigy.k8s.admission import AdmissionWarning, ContainerShape, limit_range_warnings, quota_warnings
from prodigy.k8s.clients import Kube
from prodigy.k8s.errors import Forbidden, KubeError, NotFound, PreflightError, Unauthorized
from prodigy.k8s.retry import RetryPolicy, call_with_retry

REACHABILITY_DEADLINE = 8.0   # seconds: "unreachable" must be said within 10 s of asking


@dataclass(frozen=True)
class Permission:
    verb: str
    resource: str
    group: str = ""
    subresource: str = ""

    def __str__(self) -> str:
        name = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{self.verb} {name}{'/' + self.subresource if self.subresource else ''}"


# Everything a run does with the API, and why.
RUN_PERMISSIONS: tuple[Permission, ...] = (
    Permission("create", "jobs", "batch"),          # submit
    Permission("get", "jobs", "batch"),             # adopt our own Job after an ambiguous create
    Permission("watch", "jobs", "batch"),           # completion from Job conditions
    Permission("delete", "jobs", "batch"),          # Ctrl+C, gc
    Permission("create", "configmaps"),             # the workflow file
    Permission("get", "pods"),
    Permission("watch", "pods"),                    # live status and diagnosis
    Permission("get", "pods", subresource="log"),   # log streaming
)
SECRET_PERMISSION = Permission("create", "secrets")  # only when the run forwards credentials


class CheckStatus(str, Enum):
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    WARNING = "warning"      # the run can be submitted, but will wait or be refused (quota, LimitRange)


@dataclass(frozen=True)
class Check:
    name: str
    status: CheckStatus
    detail: str = ""
    hint: str = ""


@dataclass(frozen=True)
class PreflightReport:
    cluster: str
    namespace: str
    server: str
    user: str
    checks: tuple[Check, ...]

    @property
    def failures(self) -> list[Check]:
        return [c for c in self.checks if c.status is CheckStatus.FAILED]

    @property
    def warnings(self) -> list[Check]:
        return [c for c in self.checks if c.status is CheckStatus.WARNING]

    def raise_for_failures(self) -> None:
        failures = self.failures
        if not failures:
            return
        lines = [f"{c.name}: {c.detail}" for c in failures]
        message = (f"cluster {self.cluster!r} (namespace {self.namespace!r}) is not ready for prodigy: "
                   + lines[0] + "".join(f"\n  {line}" for line in lines[1:]))
        raise PreflightError(message, hint=failures[0].hint or None)


def check_reachable(kube: Kube, *, deadline: float = REACHABILITY_DEADLINE) -> str:
    """GET /version, retrying connection failures until ``deadline``. Returns the server version."""
    policy = RetryPolicy(attempts=4, base_delay=0.5, max_delay=2.0, deadline=deadline)
    version = call_with_retry(lambda: kube.request("GET", "/version", read_timeout=5.0,
                                                   action="contacting the API server"), policy=policy)
    return str(version.get("gitVersion") or "unknown")


_VERSION = re.compile(r"^v?(\d+)\.(\d+)")


def server_version_check(git_version: str, minimum: tuple[int, int], needed_for: str) -> Check:
    """Pure: is the API server (``/version``'s gitVersion, ``v1.30.4-gke.1``) at least ``minimum``?
    An unreadable version passes: the API server itself refuses what it does not support."""
    match = _VERSION.match(git_version.strip())
    wanted = f"v{minimum[0]}.{minimum[1]}"
    name = f"Kubernetes {wanted} or newer ({needed_for})"
    if match is None:
        return Check(name, CheckStatus.OK, f"server version {git_version!r} not readable; not checked")
    found = (int(match.group(1)), int(match.group(2)))
    if found >= minimum:
        return Check(name, CheckStatus.OK, git_version)
    return Check(name, CheckStatus.FAILED,
                 f"the cluster runs Kubernetes {git_version}, older than {wanted}, which {needed_for} need",
                 f"upgrade the cluster to {wanted} or newer, or run this workflow locally (without --cluster)")


def whoami(kube: Kube) -> str:
    """The authenticated user name (SelfSubjectReview). Raises Unauthorized when the
    credentials are not accepted, including when the server treats us as anonymous."""
    review = kube.request("POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews",
                          body={"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"},
                          action="checking credentials")
    user = str(((review.get("status") or {}).get("userInfo") or {}).get("username") or "")
    if user in ("", "system:anonymous"):
        error = Unauthorized("the API server does not recognise the credentials (request treated as anonymous)",
                             status=401, hint="log in again with your cluster's tool, then retry")
        kube.explain_unauthorized(error)
        error.add_context(f"cluster {kube.name!r}")
        raise error
    return user


def can_i(kube: Kube, namespace: str, permission: Permission) -> tuple[bool, str]:
    body = {
        "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
        "spec": {"resourceAttributes": {
            "namespace": namespace, "verb": permission.verb, "group": permission.group,
            "resource": permission.resource, "subresource": permission.subresource}},
    }
    review = kube.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body,
                          action=f"checking permission to {permission}")
    status = review.get("status") or {}
    return bool(status.get("allowed")), str(status.get("reason") or status.get("evaluationError") or "")


def rule_grants(rule: Mapping[str, Any], permission: Permission) -> bool:
    """Does one ``resourceRules`` entry of a SelfSubjectRulesReview allow ``permission`` on
    any object of its kind? RBAC's matching: ``*`` for verbs, groups and resources,
    ``resource/subresource``, and ``*/subresource``. A rule limited to ``resourceNames`` does
    not count: a run's objects have names no admin knew in advance."""
    if rule.get("resourceNames"):
        return False
    verbs, groups, resources = (rule.get(key) or () for key in ("verbs", "apiGroups", "resources"))
    if "*" not in verbs and permission.verb not in verbs:
        return False
    if "*" not in groups and permission.group not in groups:
        return False
    if permission.subresource:
        wanted = {"*", f"{permission.resource}/{permission.subresource}", f"*/{permission.subresource}"}
    else:
        wanted = {"*", permission.resource}
    return bool(wanted & set(resources))


def granted_by_rules(kube: Kube, namespace: str, wanted: Sequence[Permission]) -> set[Permission]:
    """The permissions the user's rules in ``namespace`` visibly grant, from one
    SelfSubjectRulesReview instead of one SelfSubjectAccessReview per permission.

    Only ever a shortcut for "allowed": the rules list can be incomplete (authorizers other
    than RBAC, such as a cloud's webhook, cannot enumerate theirs), so a permission not shown
    here is asked with a SelfSubjectAccessReview, whose answer (and reason) is authoritative.
    Any trouble with the review itself just means no shortcut."""
    try:
        review = kube.request("POST", "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews",
                              body={"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                                    "spec": {"namespace": namespace}},
                              action="listing permissions")
    except KubeError:
        return set()
    rules = (review.get("status") or {}).get("resourceRules") or []
    return {p for p in wanted if any(rule_grants(rule, p) for rule in rules if isinstance(rule, Mapping))}


def _namespace_check(kube: Kube, namespace: str) -> Check:
    name = f"namespace {namespace} exists"
    try:
        kube.request("GET", f"/api/v1/namespaces/{namespace}", action=f"reading namespace {namespace}")
    except NotFound:
        return Check(name, CheckStatus.FAILED, f"namespace {namespace!r} does not exist",
                     hint=f"create it (kubectl create namespace {namespace}) or set `namespace:` "
                          "for this cluster in kubernetes.yaml / pass --namespace")
    except Forbidden:
        return Check(name, CheckStatus.SKIPPED, "no permission to read namespaces; not verified")
    return Check(name, CheckStatus.OK)


def _permission_check(permission: Permission, allowed: bool, reason: str, *, user: str, namespace: str) -> Check:
    name = f"may {permission}"
    if allowed:
        return Check(name, CheckStatus.OK)
    target = f"{permission.resource}{'/' + permission.subresource if permission.subresource else ''}"
    return Check(
        name, CheckStatus.FAILED,
        f"user {user} may not {permission.verb} {target}"
        f"{' (' + permission.group + ')' if permission.group else ''} in namespace {namespace!r}"
        f"{': ' + reason if reason else ''}",
        hint=f"ask an admin for a Role granting `{permission.verb}` on `{target}` in {namespace} "
             f"(check with: kubectl auth can-i {permission.verb} "
             f"{target}{'.' + permission.group if permission.group else ''} -n {namespace})")


def _secret_check(kube: Kube, namespace: str, name: str, purpose: str) -> Check:
    label = f"secret {name} exists ({purpose})"
    try:
        kube.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}", action=f"reading secret {name}")
    except NotFound:
        return Check(label, CheckStatus.FAILED, f"secret {name!r} not found in namespace {namespace!r}",
                     hint=f"create it (kubectl -n {namespace} create secret ...) or fix kubernetes.yaml")
    except Forbidden:
        return Check(label, CheckStatus.SKIPPED, "no permission to read secrets; not verified")
    return Check(label, CheckStatus.OK)


def _admission_checks(kube: Kube, namespace: str, containers: Sequence[ContainerShape]) -> list[Check]:
    """ResourceQuotas and LimitRanges of the namespace against the run's containers: warnings,
    never failures (a used-up quota frees up; an administrator may be changing a LimitRange)."""
    checks: list[Check] = []
    warnings: list[AdmissionWarning] = []
    for plural, label, judge in (("resourcequotas", "resource quotas", quota_warnings),
                                 ("limitranges", "limit ranges", limit_range_warnings)):
        try:
            listing = kube.request("GET", f"/api/v1/namespaces/{namespace}/{plural}", action=f"reading {label}")
        except Forbidden:
            checks.append(Check(f"{label} admit the pod", CheckStatus.SKIPPED, f"no permission to read {label}; "
                                "not verified"))
            continue
        except NotFound:
            continue
        warnings += judge(containers, list(listing.get("items") or []))
    checks += [Check(w.subject, CheckStatus.WARNING, w.detail, w.hint) for w in warnings]
    if not checks:
        checks.append(Check("resource quotas and limit ranges admit the pod", CheckStatus.OK))
    return checks


def run_preflight(kube: Kube, namespace: str, *, needs_secret: bool = False,
                  image_pull_secrets: Sequence[str] = (), env_secrets: Iterable[str] = (),
                  containers: Sequence[ContainerShape] = (),
                  min_version: tuple[tuple[int, int], str] | None = None) -> PreflightReport:
    """All checks; stops early only when later checks cannot mean anything (unreachable server,
    rejected credentials). Raises Unreachable/Unauthorized for those, else returns the report.

    Latency: every preflight precedes a submission, so it costs two round trips, not one per
    check: reachability first (it alone is retried, within REACHABILITY_DEADLINE), then the
    independent questions at once on the pooled connections. Permissions come from one rules
    review; access reviews are asked only for what it does not visibly grant.
    """
    version = check_reachable(kube)
    wanted = list(RUN_PERMISSIONS) + ([SECRET_PERMISSION] if needs_secret else [])
    secrets = [(name, "image_pull_secrets") for name in image_pull_secrets] + \
              [(name, "secrets") for name in sorted(set(env_secrets))]
    with ThreadPoolExecutor(max_workers=max(3 + len(secrets), len(wanted)), thread_name_prefix="prodigy-preflight") as pool:
        asked_user = pool.submit(whoami, kube)
        asked_namespace = pool.submit(_namespace_check, kube, namespace)
        asked_rules = pool.submit(granted_by_rules, kube, namespace, wanted)
        asked_secrets = [pool.submit(_secret_check, kube, namespace, name, purpose) for name, purpose in secrets]
        asked_admission = pool.submit(_admission_checks, kube, namespace, containers) if containers else None
        user = asked_user.result()      # rejected credentials: the other answers mean nothing
        granted = asked_rules.result()
        unsure = [p for p in wanted if p not in granted]
        # The reviews are independent; asking in parallel keeps this near one round trip.
        reviews = dict(zip(unsure, pool.map(lambda p: can_i(kube, namespace, p), unsure), strict=True))
        checks = [Check(f"API server {kube.server} reachable", CheckStatus.OK, version),
                  Check("credentials accepted", CheckStatus.OK, f"user {user}"),
                  asked_namespace.result()]
        if min_version is not None:
            checks.insert(1, server_version_check(version, *min_version))
        for permission in wanted:
            allowed, reason = reviews.get(permission, (True, ""))
            checks.append(_permission_check(permission, allowed, reason, user=user, namespace=namespace))
        checks += [asked.result() for asked in asked_secrets]
        checks += asked_admission.result() if asked_admission is not None else []
    return PreflightReport(kube.name, namespace, kube.server, user, tuple(checks))


def preflight_or_raise(kube: Kube, namespace: str, *, needs_secret: bool = False,
                       image_pull_secrets: Sequence[str] = (), env_secrets: Iterable[str] = (),
                       containers: Sequence[ContainerShape] = (),
                       min_version: tuple[tuple[int, int], str] | None = None) -> PreflightReport:
    """The gate before a submission: any failed check stops the run before a side effect;
    warnings are the caller's to show. ``min_version``: (major, minor) and what needs it."""
    report = run_preflight(kube, namespace, needs_secret=needs_secret,
                           image_pull_secrets=image_pull_secrets, env_secrets=env_secrets, containers=containers,
                           min_version=min_version)
    report.raise_for_failures()
    return report
