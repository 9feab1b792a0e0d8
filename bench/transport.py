"""Repository transport benchmark, run by hand against a cluster (testcluster or kind/minikube).

    .venv/bin/python bench/transport.py --kubeconfig /tmp/tc/kubeconfig [--context NAME] [--namespace default]

Measures, for a repository of 2,000 files with 200 commits of history:
  in       CLI spool (pack + chunk) + upload of the chunk ConfigMaps, and the init container's
           own fetch-repo time (verify + index-pack + checkout), i.e. the cost over a normal pod start
  out      a 100 KiB diff: from the agent finishing its export to the CLI having the commits on the
           local branch (results container print + pod completion seen + pods/log read + verify + land)
  memory   the CLI's peak RSS while spooling + uploading, for the repository above and one ~8x bigger
           (each size in a fresh process, so the numbers do not mix)

The pod's agent container runs a tiny script instead of a workflow (this measures transport, not
the executor): it commits 100 KiB of new text, then exports through the same `AgentSide` the agent uses.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AGENT_SCRIPT = r"""
import os, time, subprocess, pathlib
from prodigy.k8s.transport.pod import AgentSide
side = AgentSide.from_env()
with side.heartbeat():
    repo = side.repo_dir
    lines = "".join(f"line {i} of the change made in the pod, padded to a realistic width.....\n" for i in range(1400))
    (repo / "pod-change.txt").write_text(lines)            # ~100 KiB diff
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-q", "-m", "pod: 100 KiB change"], cwd=repo, check=True)
    side.export(0)
    print(f"EXPORTED_AT {time.time():.6f}", flush=True)
"""


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def make_repo(path: Path, *, files: int, commits: int, file_bytes: int, seed: int = 7) -> Path:
    """`files` source-like files in nested dirs; `commits` commits each touching ~1% of them."""
    rng = random.Random(seed)
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    names = [f"pkg{i % 40:02d}/mod{i % 7}/file_{i:05d}.py" for i in range(files)]
    words = ["alpha", "beta", "gamma", "delta", "value", "result", "index", "count", "item", "self"]

    def content() -> str:
        out, size = [], 0
        while size < file_bytes:
            line = " ".join(rng.choice(words) for _ in range(8)) + f" = {rng.randint(0, 10**9)}\n"
            out.append(line)
            size += len(line)
        return "".join(out)

    for name in names:
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(content())
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "initial")
    for c in range(commits - 1):
        for name in rng.sample(names, max(1, files // 100)):
            (path / name).write_text(content())
        git(path, "commit", "-q", "-am", f"change {c}")
    return path


def resolved_cluster(args: argparse.Namespace) -> Any:
    from prodigy.k8s.config.resolve import ClusterOverrides, resolve_cluster
    from prodigy.k8s.config.schema import KubernetesConfig
    from prodigy.k8s.clients import kube_contexts

    contexts = kube_contexts(args.kubeconfig)
    context = args.context or contexts[0]
    config = KubernetesConfig.model_validate({"clusters": {"bench": {
        "kubeconfig_path": args.kubeconfig, "context": context, "namespace": args.namespace,
        "image": args.image, "ttl_seconds": 300}}})
    return resolve_cluster(config, "bench", ClusterOverrides(), contexts)


def measure_transport_in_memory(repo: Path, args: argparse.Namespace) -> dict[str, float]:
    """Child-process body: prepare (spool) + upload for `repo`; report times and peak RSS."""
    from prodigy.k8s.clients import connect
    from prodigy.k8s.manifests.inputs import JobSpecInputs, RunIdentity
    from prodigy.k8s.manifests.metadata import run_labels
    from prodigy.k8s.manifests.run import RunObjects, build_run_objects
    from prodigy.k8s.submit import submit
    from prodigy.k8s.transport.run import RunTransport

    cluster = resolved_cluster(args)
    run_id = uuid.uuid4().hex[:10]
    session_id = f"session-{uuid.uuid4()}"
    t0 = time.perf_counter()
    transport = RunTransport.prepare(repo, cluster, run_id=run_id, session_id=session_id)
    t1 = time.perf_counter()
    identity = RunIdentity(run_id=run_id, session_id=session_id, workflow_name="bench", workflow_file="bench.yml",
                             submitted_by="bench", submitted_at=datetime.now(UTC), base_sha=transport.base_sha)
    inputs = JobSpecInputs(identity=identity, cluster=cluster, workflow_text="commands: []\n",
                             additions=transport.additions)
    objects = build_run_objects(inputs)
    kube = connect("bench", kubeconfig_path=args.kubeconfig, context=cluster.context)
    uploaded: list[float] = []

    def upload(name: str, uid: str) -> None:
        start = time.perf_counter()
        transport.upload(kube, namespace=cluster.namespace, job_name=name, job_uid=uid, labels=run_labels(identity))
        uploaded.append(time.perf_counter() - start)

    # Never resumed: the Job stays suspended and is deleted; only spool + upload are measured.
    suspended = RunObjects(job=objects.job, owned=())
    from prodigy.k8s import submit as submit_module

    original_resume = submit_module.resume
    submit_module.resume = lambda *a, **k: None  # type: ignore[assignment]
    try:
        run = submit(kube, suspended, run_id=run_id, on_job_created=upload)
    finally:
        submit_module.resume = original_resume
    kube.request("DELETE", f"/apis/batch/v1/namespaces/{cluster.namespace}/jobs/{run.job_name}",
                 body={"propagationPolicy": "Background"})
    assert transport.manifest is not None
    result = {"pack_mib": transport.manifest.total_bytes / 2**20, "chunks": len(transport.manifest.chunks),
              "spool_s": t1 - t0, "upload_s": uploaded[0],
              "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    transport.close()
    kube.close()
    return result


def full_round_trip(repo: Path, args: argparse.Namespace) -> dict[str, float]:
    from prodigy.k8s.clients import connect
    from prodigy.k8s.manifests.contract import AGENT_CONTAINER
    from prodigy.k8s.manifests.inputs import JobSpecInputs, RunIdentity
    from prodigy.k8s.manifests.metadata import run_labels
    from prodigy.k8s.manifests.run import build_run_objects
    from prodigy.k8s.submit import submit
    from prodigy.k8s.transport.run import RunTransport, git_identity

    cluster = resolved_cluster(args)
    run_id = uuid.uuid4().hex[:10]
    session_id = f"session-{uuid.uuid4()}"
    t0 = time.perf_counter()
    transport = RunTransport.prepare(repo, cluster, run_id=run_id, session_id=session_id)
    t_prepared = time.perf_counter()
    identity = RunIdentity(run_id=run_id, session_id=session_id, workflow_name="bench", workflow_file="bench.yml",
                             submitted_by="bench", submitted_at=datetime.now(UTC), base_sha=transport.base_sha)
    inputs = JobSpecInputs(identity=identity, cluster=cluster, workflow_text="commands: []\n",
                             git_identity=git_identity(repo), additions=transport.additions)
    objects = build_run_objects(inputs)
    agent = next(c for c in objects.job["spec"]["template"]["spec"]["containers"] if c["name"] == AGENT_CONTAINER)
    agent["args"] = ["python", "-c", AGENT_SCRIPT]
    session = transport.open_session(original_branch="main", workflow_path=None, namespace=cluster.namespace,
                                     job=objects.job["metadata"]["name"])
    kube = connect("bench", kubeconfig_path=args.kubeconfig, context=cluster.context)
    t_submit = time.perf_counter()
    run = submit(kube, objects, run_id=run_id, on_job_created=lambda name, uid: transport.upload(
        kube, namespace=cluster.namespace, job_name=name, job_uid=uid, labels=run_labels(identity)))
    t_submitted = time.perf_counter()
    pod = _wait_pod_done(kube, cluster.namespace, run.job_name)
    t_seen_done = time.time()
    summary = transport.collect_and_land(kube, session, namespace=cluster.namespace, job_name=run.job_name)
    t_landed = time.time()
    assert summary is not None and summary.commits == 1, summary
    assert git(repo, "rev-parse", session.branch) == summary.head_sha
    exported_at = _exported_at(kube, cluster.namespace, pod)
    init_seconds = _init_seconds(kube, cluster.namespace, pod)
    transport.close()
    kube.close()
    return {"pack_kib": (transport.manifest.total_bytes if transport.manifest else 0) / 1024,
            "spool_s": t_prepared - t0, "submit_incl_upload_s": t_submitted - t_submit,
            "init_container_fetch_repo_s": init_seconds,
            "export_to_landed_s": t_landed - exported_at, "collect_and_land_s": t_landed - t_seen_done}


def _wait_pod_done(kube: Any, namespace: str, job: str) -> dict[str, Any]:
    # A bench may poll; the product watches.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pods = kube.request("GET", f"/api/v1/namespaces/{namespace}/pods",
                            query=[("labelSelector", f"job-name={job}")]).get("items", [])
        if pods and pods[0].get("status", {}).get("phase") in ("Succeeded", "Failed"):
            return dict(pods[0])
        time.sleep(0.05)
    raise TimeoutError(f"pod of {job} did not finish")


def _log(kube: Any, namespace: str, pod: dict[str, Any], container: str) -> str:
    response = kube.open_stream(f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/log",
                                query=[("container", container)], read_timeout=30)
    try:
        return bytes(response.read()).decode()
    finally:
        response.release_conn()


def _exported_at(kube: Any, namespace: str, pod: dict[str, Any]) -> float:
    for line in _log(kube, namespace, pod, "prodigy-agent").splitlines():
        if line.startswith("EXPORTED_AT "):
            return float(line.split()[1])
    raise AssertionError("agent did not report its export time")


def _init_seconds(kube: Any, namespace: str, pod: dict[str, Any]) -> float:
    text = _log(kube, namespace, pod, "prodigy-repo")
    # "prodigy: repository at <sha> on <branch> (N KiB in K chunks, 0.4s)"
    return float(text.strip().rsplit(", ", 1)[-1].rstrip("s)"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--context")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--image", default="prodigy-agent:latest")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child-memory", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_memory is not None:
        print(json.dumps(measure_transport_in_memory(args.child_memory, args)))
        return 0

    with tempfile.TemporaryDirectory(prefix="prodigy-bench-transport-") as scratch:
        base = Path(scratch)
        print("building repositories ...", file=sys.stderr)
        small = make_repo(base / "small", files=2000, commits=200, file_bytes=2000)
        big = make_repo(base / "big", files=8000, commits=20, file_bytes=4000, seed=11)
        for name in ("small", "big"):
            (base / name / "blob.bin").write_bytes(os.urandom(24 << 20 if name == "big" else 0))
            git(base / name, "add", "-A")
            git(base / name, "commit", "-q", "-m", "binary", "--allow-empty")

        print("\n== round trip (2,000 files, 200 commits) ==")
        rows = [full_round_trip(small, args) for _ in range(args.runs)]
        for key in rows[0]:
            values = sorted(r[key] for r in rows)
            print(f"  {key:32s} median {values[len(values) // 2]:8.3f}   all {', '.join(f'{v:.3f}' for v in values)}")

        print("\n== CLI memory during spool + upload (fresh process per size) ==")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        for repo in (small, big):
            out = subprocess.run([sys.executable, __file__, "--kubeconfig", args.kubeconfig,
                                  *(["--context", args.context] if args.context else []),
                                  "--namespace", args.namespace, "--image", args.image, "--child-memory", str(repo)],
                                 check=True, capture_output=True, text=True, env=env).stdout
            row = json.loads(out.strip().splitlines()[-1])
            print(f"  pack {row['pack_mib']:7.2f} MiB in {row['chunks']:3d} chunks: spool {row['spool_s']:.2f}s "
                  f"upload {row['upload_s']:.2f}s peak RSS {row['peak_rss_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
