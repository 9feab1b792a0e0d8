"""Preflight's look at ResourceQuotas and LimitRanges: will the pod as configured be admitted?"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from prodigy.k8s.admission import limit_range_warnings, quota_warnings, run_containers
from prodigy.k8s.config.resolve import ClusterOverrides, resolve_cluster
from prodigy.k8s.config.schema import ClusterConfig, KubernetesConfig
from prodigy.k8s.quantity import parse_quantity, pod_totals

DEFAULTS = run_containers(resolve_cluster(KubernetesConfig(clusters={"dev": ClusterConfig()}), "dev",
                                          ClusterOverrides(), []))


def quota(hard: dict[str, str], used: dict[str, str] | None = None, **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "compute"}, "spec": {"hard": hard, **spec},
            "status": {"hard": hard, "used": used or {k: "0" for k in hard}}}


def limit_range(*items: dict[str, Any]) -> dict[str, Any]:
    return {"metadata": {"name": "bounds"}, "spec": {"limits": list(items)}}


@pytest.mark.parametrize("text, value", [("500m", Decimal("0.5")), ("2", Decimal(2)), ("1Gi", Decimal(2**30)),
                                         ("64Mi", Decimal(64 * 2**20)), ("1e3", Decimal(1000)), ("1.5k", Decimal(1500)),
                                         ("nope", None)])
def test_quantities(text: str, value: Decimal | None) -> None:
    assert parse_quantity(text) == value


def test_the_pod_counts_its_containers_summed_and_its_init_container_at_most() -> None:
    totals = pod_totals([c.as_container() for c in DEFAULTS if not c.init], [c.as_container() for c in DEFAULTS if c.init])
    # agent 2 cpu / 4Gi limits + prodigy-results 500m / 512Mi; prodigy-repo runs before them.
    assert totals["limits.cpu"] == Decimal("2.5") and totals["limits.memory"] == Decimal(4 * 2**30 + 512 * 2**20)
    assert totals["requests.cpu"] == Decimal("0.55") == totals["cpu"]


def test_a_quota_with_room_says_nothing() -> None:
    assert quota_warnings(DEFAULTS, [quota({"limits.cpu": "8", "requests.memory": "16Gi", "pods": "10"})]) == []


def test_a_quota_smaller_than_the_pod_will_never_admit_it() -> None:
    (warning,) = quota_warnings(DEFAULTS, [quota({"limits.cpu": "2"})])
    assert warning.subject == "ResourceQuota compute"
    assert warning.detail == "allows limits.cpu 2 in all, the pod needs 2500m: it will never be admitted"
    assert "resources.limits.cpu" in warning.hint


def test_a_used_up_quota_means_waiting() -> None:
    (cpu, pods) = quota_warnings(DEFAULTS, [quota({"limits.cpu": "4", "pods": "3"}, {"limits.cpu": "3", "pods": "3"})])
    assert cpu.detail == "has limits.cpu 1 of 4 free, the pod needs 2500m: the run waits for other pods to finish"
    assert pods.detail == "allows 3 pods and all are in use: the run waits for one to end"


def test_scoped_quotas_are_left_alone() -> None:
    assert quota_warnings(DEFAULTS, [quota({"limits.cpu": "1"}, scopes=["BestEffort"])]) == []


def test_limit_range_bounds_name_the_container_and_the_setting() -> None:
    warnings = limit_range_warnings(DEFAULTS, [limit_range(
        {"type": "Container", "max": {"cpu": "1"}, "min": {"memory": "128Mi"}},
        {"type": "PersistentVolumeClaim", "max": {"storage": "1Gi"}})])
    details = sorted(w.detail for w in warnings)
    assert details == ["allows at most 1 cpu for container prodigy-agent, which asks for 2",
                       "requires at least 128Mi memory for container prodigy-repo, which asks for 64Mi",
                       "requires at least 128Mi memory for container prodigy-results, which asks for 64Mi"]
    hints = {w.detail.split("container ")[1].split(",")[0]: w.hint for w in warnings}
    assert hints["prodigy-agent"] == "lower resources.limits.cpu in kubernetes.yaml to 1 or less"
    assert hints["prodigy-repo"] == "raise plumbing_resources.requests.memory in kubernetes.yaml to 128Mi or more"


def test_a_limit_range_the_defaults_fit_says_nothing() -> None:
    assert limit_range_warnings(DEFAULTS, [limit_range({"type": "Container", "max": {"cpu": "4", "memory": "8Gi"},
                                                        "min": {"cpu": "10m"}})]) == []
