"""The services behind ``prodigy cluster list|show|check|gc|runs``. They return text lines;
the CLI prints them. Nothing here is needed by a run itself."""

from __future__ import annotations

from dataclasses import dataclass

from prodigy.k8s import gc, runindex
from prodigy.k8s.admission import run_containers
from prodigy.k8s.clients import kube_contexts
from prodigy.k8s.config.loader import load_kubernetes_config
from prodigy.k8s.config.resolve import ClusterOverrides
from prodigy.k8s.connect import open_cluster, resolve
from prodigy.k8s.preflight import CheckStatus, PreflightReport, run_preflight


def list_clusters() -> list[str]:
    loaded = load_kubernetes_config()
    config = loaded.config
    lines = [f"# {loaded.path}" + ("" if loaded.exists else " (not created yet)")]
    if not config.clusters:
        lines.append("no clusters configured; a kubeconfig context name also works as --cluster NAME")
    for name, entry in sorted(config.clusters.items()):
        image = entry.image or config.default_image or "(default)"
        namespace = entry.namespace or config.default_namespace or "default"
        lines.append(f"{name}\tcontext={entry.context or '(current)'}\tnamespace={namespace}\timage={image}")
    contexts = [c for c in kube_contexts() if c not in config.clusters]
    if contexts:
        lines.append(f"kubeconfig contexts usable with defaults: {', '.join(sorted(contexts))}")
    return lines


def show_cluster(name: str) -> list[str]:
    cluster = resolve(name)
    fields = [
        ("source", cluster.source), ("kubeconfig", str(cluster.kubeconfig_path or "$KUBECONFIG / ~/.kube/config")),
        ("context", cluster.context or "(current-context)"), ("namespace", cluster.namespace),
        ("image", cluster.image), ("image_pull_policy", cluster.image_pull_policy),
        ("image_pull_secrets", ", ".join(cluster.image_pull_secrets) or "-"),
        ("service_account", cluster.service_account or "- (no API token mounted)"),
        ("resources", f"requests cpu={cluster.resources.requests.cpu} memory={cluster.resources.requests.memory}; "
                      f"limits cpu={cluster.resources.limits.cpu} memory={cluster.resources.limits.memory}"),
        ("node_selector", ", ".join(f"{k}={v}" for k, v in cluster.node_selector.items()) or "-"),
        ("tolerations", str(len(cluster.tolerations))),
        ("env", ", ".join(cluster.env) or "-"),
        ("secrets", ", ".join(f"{k} <- {ref.secret}/{ref.key}" for k, ref in cluster.secrets.items()) or "-"),
        ("ttl_seconds", str(cluster.ttl_seconds)), ("backoff_limit", str(cluster.backoff_limit)),
        ("active_deadline_seconds", str(cluster.active_deadline_seconds or "-")),
        ("image_pull_grace_seconds", str(cluster.grace.image_pull_seconds)),
        ("unschedulable_grace_seconds", str(cluster.grace.unschedulable_seconds)),
    ]
    return [f"cluster {name}"] + [f"  {key}: {value}" for key, value in fields]


@dataclass(frozen=True)
class CheckOutcome:
    report: PreflightReport
    lines: list[str]


def check_cluster(name: str, namespace: str | None = None) -> CheckOutcome:
    with open_cluster(name, ClusterOverrides(namespace=namespace)) as opened:
        cluster, kube = opened.cluster, opened.kube
        report = run_preflight(kube, cluster.namespace, needs_secret=True,
                               image_pull_secrets=cluster.image_pull_secrets,
                               env_secrets=[ref.secret for ref in cluster.secrets.values()],
                               containers=run_containers(cluster))
    marks = {CheckStatus.OK: "ok  ", CheckStatus.FAILED: "FAIL", CheckStatus.SKIPPED: "skip",
             CheckStatus.WARNING: "warn"}
    lines = [f"cluster {name}: {report.server} (context {kube.context}), namespace {report.namespace}"]
    for check in report.checks:
        lines.append(f"  {marks[check.status]} {check.name}{': ' + check.detail if check.detail else ''}")
        if check.status in (CheckStatus.FAILED, CheckStatus.WARNING) and check.hint:
            lines.append(f"       hint: {check.hint}")
    lines.append("ready" if not report.failures else f"{len(report.failures)} check(s) failed")
    return CheckOutcome(report, lines)


def collect_garbage(name: str, *, older_than: str, dry_run: bool, all_namespaces: bool,
                    include_running: bool, namespace: str | None = None) -> list[str]:
    with open_cluster(name, ClusterOverrides(namespace=namespace)) as opened:
        cluster, kube = opened.cluster, opened.kube
        jobs = gc.list_prodigy_jobs(kube, None if all_namespaces else cluster.namespace)
        leftovers = gc.select_leftovers(jobs, now=gc.now_utc(), older_than=gc.parse_duration(older_than),
                                        include_running=include_running)
        verb = "would delete" if dry_run else "deleting"
        lines = [f"{verb} job {item.namespace}/{item.name} ({item.state}, {int(item.age.total_seconds())}s old)"
                 for item in leftovers]
        if not leftovers:
            lines.append(f"no prodigy Jobs older than {older_than} to delete")
        elif not dry_run:
            problems = gc.collect(kube, leftovers)
            lines += [f"failed: {problem}" for problem in problems]
            lines.append(f"deleted {len(leftovers) - len(problems)} Job(s) with their pods, ConfigMaps and Secrets")
    return lines


def list_runs(limit: int = 20, cluster: str | None = None) -> list[str]:
    """The run index as a kubectl-style table, oldest first, with each failure's reason."""
    runs = runindex.join_runs(runindex.read_lines())
    if cluster:
        runs = [r for r in runs if r.cluster == cluster]
    if not runs:
        return ["no cluster runs recorded yet"]
    header = ("SUBMITTED", "RUN", "CLUSTER/NAMESPACE", "JOB", "WORKFLOW", "OUTCOME", "EXIT", "REASON")
    rows = [header] + [
        (r.submitted_at, r.run_id, f"{r.cluster}/{r.namespace}", r.job,
         f"{r.workflow} ({r.phase})" if r.phase else r.workflow,
         r.outcome or "unknown (client ended early)", "" if r.exit_code is None else str(r.exit_code), r.reason)
        for r in runs[-limit:]
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    return ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths)), row[-1]]).rstrip() for row in rows]
