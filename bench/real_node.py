"""Benchmark the test cluster with a real node (issue 12's targets).

    .venv/bin/python bench/real_node.py [--starts 3] [--jobs 5]

Needs the binaries (testcluster/build.sh), the Debian packages
(scripts/install-node-packages) and the image (python -m testcluster image build): all warm.

- cluster start with ``node="kubelet"``: ``cluster.up`` until /readyz, the controllers are
  healthy, the node is Ready at 127.0.0.1 without taints and its image store is cloned
  (target <= 45 s);
- Job created -> pod Running, the agent image already on the node, as a pod watch sees it
  (target <= 5 s); the Job runs the test image's shell, like a prodigy Job's container would.

Exit status 1 if a target is missed. Not a test: numbers depend on the machine and its load.
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
from testcluster.image import build as images  # noqa: E402
from testcluster.image import recipe  # noqa: E402

START_TARGET_S = 45.0
RUNNING_TARGET_S = 5.0


def options(name: str, store: Path) -> cluster.Options:
    return cluster.Options(name=name, node="kubelet", image_store=store, die_with_parent=True, timeout=180)


def measure_starts(bin_dir: Path, store: Path, count: int) -> list[float]:
    durations = []
    for index in range(count):
        with tempfile.TemporaryDirectory(prefix="bench-real-node-") as directory:
            began = time.monotonic()
            cluster.up(Path(directory), bin_dir, options(f"bench-real-{index}", store))
            durations.append(time.monotonic() - began)
            cluster.down(Path(directory))
    return durations


def job_manifest(name: str) -> client.V1Job:
    container = client.V1Container(name="main", image=recipe.TEST_IMAGE, image_pull_policy="IfNotPresent",
                                   args=["sh", "-c", "sleep 2"])
    pod = client.V1PodSpec(restart_policy="Never", containers=[container],
                           security_context=client.V1PodSecurityContext(run_as_non_root=True, run_as_user=1000))
    return client.V1Job(metadata=client.V1ObjectMeta(name=name),
                        spec=client.V1JobSpec(backoff_limit=0, template=client.V1PodTemplateSpec(spec=pod)))


def measure_running(kubeconfig: Path, count: int) -> list[float]:
    api = config.new_client_from_config(config_file=str(kubeconfig))
    batch, core = client.BatchV1Api(api), client.CoreV1Api(api)
    latencies = []
    for index in range(count):
        name = f"bench-{index}"
        began = time.monotonic()
        batch.create_namespaced_job("default", job_manifest(name))
        stream = watch.Watch()
        for event in stream.stream(core.list_namespaced_pod, "default", label_selector=f"job-name={name}",
                                   timeout_seconds=120):
            if event["object"].status.phase == "Running":
                latencies.append(time.monotonic() - began)
                stream.stop()
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=5)
    args = parser.parse_args()
    bin_dir = binaries.locate()
    store = images.build().containerd_root
    starts = measure_starts(bin_dir, store, args.starts)
    with tempfile.TemporaryDirectory(prefix="bench-real-node-jobs-") as directory:
        started = cluster.up(Path(directory), bin_dir, options("bench-real-jobs", store))
        try:
            running = measure_running(started.kubeconfig, args.jobs)
        finally:
            cluster.down(Path(directory))
    print(f"cluster start with a real node: median {statistics.median(starts):.1f} s, max {max(starts):.1f} s "
          f"(target <= {START_TARGET_S:.0f} s)")
    print(f"Job created -> pod Running: median {statistics.median(running):.2f} s, max {max(running):.2f} s "
          f"(target <= {RUNNING_TARGET_S:.0f} s)")
    return 1 if max(starts) > START_TARGET_S or max(running) > RUNNING_TARGET_S else 0


if __name__ == "__main__":
    sys.exit(main())
