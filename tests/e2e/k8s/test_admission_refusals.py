"""Clusters that say no (issue 9): a pod the Job cannot create is diagnosed from the Job's events,
named, and the run ends well inside the grace window with nothing left behind; a namespace with a
compute quota runs the workflow because every container prodigy adds has resources."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.k8s.conftest import CookEnv
from testing.repos import git

pytestmark = pytest.mark.timeout(240)

HELLO = 'name: hello\ncommands:\n  - shell: "echo hello-from-the-pod"\n'


def _apply(cook_env: CookEnv, manifest: dict[str, Any], *, namespaced: bool = True) -> None:
    args = ["-n", cook_env.namespace] if namespaced else []
    cook_env.cluster.kubectl(*args, "apply", "-f", "-", input=json.dumps(manifest))


def _refused(cook_env: CookEnv) -> str:
    # A grace window far longer than the test's timeout: only a refusal recognised as final ends the run.
    cook_env.configure(unschedulable_grace_seconds=3000)
    result = cook_env.cook(cook_env.workflow("hello", HELLO), timeout=200)
    assert result.returncode == 1, result.stderr
    assert "hello-from-the-pod" not in result.stdout
    cook_env.wait_until(lambda: not cook_env.prodigy_objects(), timeout=60, what="the refused run's Job is deleted")
    assert [r["outcome"] for r in cook_env.runs() if r["event"] == "finished"] == ["failed"]
    return result.stderr


def test_a_limit_range_below_the_jobs_limits_ends_the_run_naming_it(cook_env: CookEnv) -> None:
    _apply(cook_env, {"apiVersion": "v1", "kind": "LimitRange", "metadata": {"name": "small-containers"},
                      "spec": {"limits": [{"type": "Container", "max": {"cpu": "1"}}]}})
    error = _refused(cook_env)
    # Warned before submission, shown while waiting, reported at the end: the object and the fix.
    assert "warning: LimitRange small-containers allows at most 1 cpu for container prodigy-agent" in error
    assert "Pending — LimitRange small-containers allows at most 1 cpu per Container" in error
    assert "LimitRange small-containers allows at most 1 cpu per Container as limit; prodigy-agent asks for 2" \
        in error
    assert "[PodCreationFailed.LimitRange]" in error
    assert "hint: set resources.limits.cpu to at most 1 in kubernetes.yaml" in error


def test_a_quota_smaller_than_the_pod_ends_the_run_naming_it(cook_env: CookEnv) -> None:
    _apply(cook_env, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "tight"},
                      "spec": {"hard": {"limits.cpu": "1", "limits.memory": "64Gi", "requests.cpu": "4",
                                        "requests.memory": "64Gi"}}})
    error = _refused(cook_env)
    assert "warning: ResourceQuota tight allows limits.cpu 1 in all, the pod needs 2500m" in error
    assert "the pod asks for more than ResourceQuota tight allows at all: limits.cpu" in error
    assert "[PodCreationFailed.Quota]" in error
    assert "lower resources.limits.cpu in kubernetes.yaml" in error


@pytest.fixture
def admission_policy(cook_env: CookEnv) -> Iterator[str]:
    name = f"no-prodigy-{cook_env.namespace}"
    _apply(cook_env, {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {"failurePolicy": "Fail",
                 "matchConstraints": {"resourceRules": [{"apiGroups": [""], "apiVersions": ["v1"],
                                                         "operations": ["CREATE"], "resources": ["pods"]}]},
                 "validations": [{"expression": "!has(object.metadata.labels) || "
                                                "!('app' in object.metadata.labels) || "
                                                "object.metadata.labels['app'] != 'prodigy'",
                                  "message": "prodigy agents are not allowed in this namespace"}]}},
        namespaced=False)
    _apply(cook_env, {
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {"policyName": name, "validationActions": ["Deny"],
                 "matchResources": {"namespaceSelector": {"matchLabels": {
                     "kubernetes.io/metadata.name": cook_env.namespace}}}}}, namespaced=False)
    try:
        yield name
    finally:
        cook_env.cluster.kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", name,
                                 "--ignore-not-found")


def test_an_admission_policy_that_refuses_the_pod_ends_the_run_naming_it(cook_env: CookEnv,
                                                                          admission_policy: str) -> None:
    # The policy takes effect once the apiserver has compiled it: the refusal is what the run must report.
    error = _refused(cook_env)
    assert f"ValidatingAdmissionPolicy {admission_policy} refuses the pod: prodigy agents are not allowed in " \
           "this namespace" in error
    assert "[PodCreationFailed.Admission]" in error
    assert f"get validatingadmissionpolicy {admission_policy} -o yaml" in error     # with --context


def test_a_namespace_with_a_compute_quota_runs_the_workflow(cook_env: CookEnv) -> None:
    # Quotas on requests and limits make every container of a pod declare all four.
    _apply(cook_env, {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "compute"},
                      "spec": {"hard": {"requests.cpu": "4", "requests.memory": "8Gi", "limits.cpu": "8",
                                        "limits.memory": "16Gi", "pods": "5"}}})
    cook_env.wait_until(lambda: "hard" in cook_env.kubectl_json("get", "resourcequota", "compute").get("status", {}),
                        timeout=60, what="the quota controller counts the quota")
    workflow = cook_env.workflow("commit", 'name: commit\ncommands:\n  - shell: "echo inside > quota.txt && '
                                           'git add quota.txt && git commit -qm \'made under a quota\'"\n')
    result = cook_env.cook(workflow, "-y", timeout=200)
    assert result.returncode == 0, result.stderr
    assert "warning:" not in result.stderr
    assert "made under a quota" in git(cook_env.repo, "log", "--pretty=%s", "main")
    assert (cook_env.repo / "quota.txt").read_text() == "inside\n"
