"""Benchmark the test control plane against the targets of issue 3.

    .venv/bin/python bench/cluster_start.py [--starts 3] [--jobs 5]

Measures, with warm binaries (run testcluster/build.sh first):
- cluster start: ``testcluster.cluster.up`` until /readyz, controllers healthy and the
  node Ready (target <= 20 s);
- resident memory of the whole cluster: RSS summed over every component's process
  group and descendants, after the Job runs (target <= 1.5 GiB);
- Job created -> pod Running, as seen by a pod watch (target <= 2 s);
- container exit -> Job Complete, as seen by a Job watch (target <= 2 s). The
  container prints its own exit time (the host clock) as its last log line.

Exit status 1 if a target is missed. Not a test: numbers depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from kubernetes import client, config, watch  # noqa: E402

from testcluster import binaries, cluster  # noqa: E402

START_TARGET_S = 20.0
LATENCY_TARGET_S = 2.0
MEMORY_TARGET_BYTES = int(1.5 * 1024**3)


def measure_starts(bin_dir: Path, count: int) -> list[float]:
    durations = []
    for index in range(count):
        with tempfile.TemporaryDirectory(prefix="bench-start-") as directory:
            began = time.monotonic()
            cluster.up(Path(directory), bin_dir, cluster.Options(name=f"bench-start-{index}", die_with_parent=True))
            durations.append(time.monotonic() - began)
            cluster.down(Path(directory))
    return durations


def job_manifest(name: str) -> client.V1Job:
    # Sleep first so the Job watch is open before the container exits; the last line
    # is the exit time on the host clock (the node agent runs containers as host processes).
    script = "sleep 1; date +%s.%N"
    container = client.V1Container(name="main", image="busybox", command=["sh", "-c", script])
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1JobSpec(backoff_limit=0, template=client.V1PodTemplateSpec(
            spec=client.V1PodSpec(restart_policy="Never", containers=[container]))),
    )


def one_job(api: client.ApiClient, namespace: str, name: str) -> tuple[float, float]:
    """(created -> pod Running, container exit -> Job Complete) in seconds, both seen by watches."""
    core, batch = client.CoreV1Api(api), client.BatchV1Api(api)
    since = core.list_namespaced_pod(namespace, limit=1).metadata.resource_version
    created_at = time.time()
    created = batch.create_namespaced_job(namespace, job_manifest(name))
    running_at = None
    for event in watch.Watch().stream(core.list_namespaced_pod, namespace, resource_version=since,
                                      label_selector=f"batch.kubernetes.io/job-name={name}", timeout_seconds=60):
        if event["object"].status.phase in ("Running", "Succeeded"):
            running_at = time.time()
            break
    complete_at = None
    for event in watch.Watch().stream(batch.list_namespaced_job, namespace, field_selector=f"metadata.name={name}",
                                      resource_version=created.metadata.resource_version, timeout_seconds=60):
        conditions = event["object"].status.conditions or []
        if any(c.type == "Complete" and c.status == "True" for c in conditions):
            complete_at = time.time()
            break
    if running_at is None or complete_at is None:
        raise RuntimeError(f"job {name} did not run to completion within 60 s")
    pods = core.list_namespaced_pod(namespace, label_selector=f"batch.kubernetes.io/job-name={name}").items
    exited_at = float(core.read_namespaced_pod_log(pods[0].metadata.name, namespace).split()[-1])
    return running_at - created_at, complete_at - exited_at


def summary(values: list[float]) -> str:
    return f"median {statistics.median(values):.2f} s, max {max(values):.2f} s (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, default=3, help="cluster starts to time")
    parser.add_argument("--jobs", type=int, default=5, help="Jobs to time")
    args = parser.parse_args()
    bin_dir = binaries.locate()

    starts = measure_starts(bin_dir, args.starts)
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as directory:
        started = cluster.up(Path(directory), bin_dir, cluster.Options(name="bench", die_with_parent=True))
        try:
            memory_at_start = cluster.resident_bytes(started.directory)
            api = config.new_client_from_config(config_file=str(started.kubeconfig), context=started.admin_context)
            with api:
                client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="bench")))
                results = [one_job(api, "bench", f"job-{index}") for index in range(args.jobs)]
            memory_after_jobs = cluster.resident_bytes(started.directory)
        finally:
            cluster.down(Path(directory))

    to_running = [r[0] for r in results]
    to_complete = [r[1] for r in results]
    memory = max(memory_at_start, memory_after_jobs)
    rows = [
        ("cluster start (warm binaries)", summary(starts), max(starts) <= START_TARGET_S, f"<= {START_TARGET_S:.0f} s"),
        ("Job created -> pod Running", summary(to_running), max(to_running) <= LATENCY_TARGET_S,
         f"<= {LATENCY_TARGET_S:.0f} s"),
        ("container exit -> Job Complete", summary(to_complete), max(to_complete) <= LATENCY_TARGET_S,
         f"<= {LATENCY_TARGET_S:.0f} s"),
        ("resident memory, whole cluster",
         f"{memory_at_start / 2**20:.0f} MiB after start, {memory_after_jobs / 2**20:.0f} MiB after {args.jobs} Jobs",
         memory <= MEMORY_TARGET_BYTES, "<= 1536 MiB"),
    ]
    for label, value, ok, target in rows:
        print(f"{'PASS' if ok else 'MISS'}  {label:32} {value}  (target {target})")
    return 0 if all(ok for _, _, ok, _ in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
