"""Which SelfSubjectRulesReview rules grant a run's permissions (RBAC's matching), as wire dicts.

Only a shortcut for "allowed": anything these rules do not show is asked with a
SelfSubjectAccessReview, so a wrong "no" costs a request and a wrong "yes" would skip a check.
"""

from __future__ import annotations

import pytest

from prodigy.k8s.preflight import RUN_PERMISSIONS, Permission, rule_grants

CREATE_JOBS = Permission("create", "jobs", "batch")
READ_LOGS = Permission("get", "pods", subresource="log")


@pytest.mark.parametrize("rule", [
    {"verbs": ["create", "get"], "apiGroups": ["batch"], "resources": ["jobs"]},
    {"verbs": ["*"], "apiGroups": ["batch"], "resources": ["jobs"]},
    {"verbs": ["create"], "apiGroups": ["*"], "resources": ["*"]},
])
def test_rules_that_grant_creating_jobs(rule: dict[str, list[str]]) -> None:
    assert rule_grants(rule, CREATE_JOBS)


@pytest.mark.parametrize("rule", [
    {"verbs": ["get", "list", "watch"], "apiGroups": ["batch"], "resources": ["jobs"]},     # read-only
    {"verbs": ["create"], "apiGroups": [""], "resources": ["jobs"]},                        # core group
    {"verbs": ["create"], "apiGroups": ["batch"], "resources": ["cronjobs"]},
    {"verbs": ["create"], "apiGroups": ["batch"], "resources": ["jobs/status"]},            # a subresource only
    {"verbs": ["create"], "apiGroups": ["batch"], "resources": ["jobs"], "resourceNames": ["nightly"]},
    {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"], "resourceNames": ["one"]},     # named objects only
    {},
])
def test_rules_that_do_not_grant_creating_jobs(rule: dict[str, list[str]]) -> None:
    assert not rule_grants(rule, CREATE_JOBS)


@pytest.mark.parametrize(("resources", "granted"), [
    (["pods/log"], True),
    (["*/log"], True),
    (["*"], True),
    (["pods"], False),          # the pods themselves are not their log
    (["pods/exec"], False),
])
def test_log_subresource(resources: list[str], granted: bool) -> None:
    assert rule_grants({"verbs": ["get"], "apiGroups": [""], "resources": resources}, READ_LOGS) is granted


def test_the_default_edit_like_rules_grant_everything_a_run_needs() -> None:
    rules = [
        {"verbs": ["create", "delete", "get", "list", "patch", "update", "watch"], "apiGroups": ["batch"],
         "resources": ["jobs"]},
        {"verbs": ["create", "delete", "get", "list", "watch"], "apiGroups": [""],
         "resources": ["configmaps", "secrets", "pods", "pods/log"]},
    ]
    assert all(any(rule_grants(rule, p) for rule in rules) for p in RUN_PERMISSIONS)
