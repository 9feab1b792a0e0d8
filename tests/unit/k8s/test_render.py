from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prodigy.k8s.diagnose import Category, Diagnosis
from prodigy.k8s.render import format_diagnosis, format_pending, with_context

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


def test_failure_report_reads_top_down() -> None:
    d = Diagnosis(
        Category.OOM_KILLED, "container prodigy-agent of pod p ran out of memory (exit 137, OOMKilled)", terminal=True,
        pod="p", container="prodigy-agent", exit_code=137, events=("OOMKilling on p: Memory cgroup out of memory",),
        log_tail=("allocating", "more"), hint="raise resources.limits.memory for this cluster in kubernetes.yaml",
        inspect=("kubectl -n ns describe pod p",),
    )
    assert format_diagnosis(d, context="kind-dev") == [
        "container prodigy-agent of pod p ran out of memory (exit 137, OOMKilled) [OOMKilled]",
        "Warning events:",
        "  OOMKilling on p: Memory cgroup out of memory",
        "Last 2 log lines of p/prodigy-agent:",
        "  | allocating",
        "  | more",
        "hint: raise resources.limits.memory for this cluster in kubernetes.yaml",
        "inspect:",
        "  kubectl --context kind-dev -n ns describe pod p",
    ]


def test_minimal_report_has_no_empty_sections() -> None:
    d = Diagnosis(Category.JOB_FAILED, "the Job failed: Failed", terminal=True)
    assert format_diagnosis(d) == ["the Job failed: Failed [JobFailed]"]


def test_pending_detail_counts_down_to_the_deadline() -> None:
    d = Diagnosis(Category.IMAGE_PULL, "image x cannot be pulled (ImagePullBackOff)", terminal=False,
                  deadline=NOW + timedelta(seconds=95))
    assert format_pending(d, NOW) == "image x cannot be pulled (ImagePullBackOff), gives up in 95s"
    assert format_pending(d) == "image x cannot be pulled (ImagePullBackOff)"


def test_context_is_only_added_to_kubectl_commands() -> None:
    assert with_context("kubectl -n a get pods", "c") == "kubectl --context c -n a get pods"
    assert with_context("kubectl -n a get pods", None) == "kubectl -n a get pods"
    assert with_context("echo hi", "c") == "echo hi"
