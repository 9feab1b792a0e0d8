"""Cluster-run latency and memory, side by side with kubectl, run by hand against a cluster.

    .venv/bin/python bench/k8s_submit.py                      # starts its own testcluster
    .venv/bin/python bench/k8s_submit.py --kubeconfig PATH [--context NAME] [--namespace NS]

Per round, `prodigy cook W --cluster bench -y` (from a scratch git repository), then the kubectl
baseline on an equivalent Job (`kubectl create -f` + `kubectl logs -f` + `kubectl wait`):

  submit      process start -> the Job's ADDED event seen by a watch in this process
  line        a line's own wall-clock stamp (written in the pod) -> the line read from the
              client's stdout here (the pod and this process share the machine's clock)
  exit        the last line's stamp (printed right before the step exits) -> client process exit
              (prodigy: includes the repository transport's result collection and the merge)

Then 10 `prodigy cook --cluster` processes at once: all must succeed; peak RSS of each.
Last, the floor: a fresh interpreter importing the official client vs one kubectl call.
`PRODIGY_TRACE=1 prodigy cook ...` shows where one submission's time goes.
Targets (issue 4): submit p50 <= 1.0 s and <= 1.5x kubectl; line p50 <= 0.3 s;
exit <= 1.5 s; 10 concurrent runs succeed with each client <= 150 MiB.

Measured 2026-11-27 (2 cores, testcluster, other test suites running: load 3-5), 7 rounds:
submit p50 0.85 s (kubectl 0.07 s); line 0.001 s; last line -> exit 1.23 s (kubectl 1.04 s);
10/10 concurrent, 57-58 MiB each. Interleaved A/B of submit alone, before/after the threaded
connect+preflight (12 rounds each): load ~4: 0.90 -> 0.75 s; load ~2.5: 0.67 -> 0.65 s. The
floor is the client import (0.41 s quiet), so 1.5x kubectl (~0.1 s) is out of reach; see
docs/kubernetes/architecture.md "Where a submission's time goes".
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PRODIGY = ROOT / ".venv" / "bin" / "prodigy"
STAMP_SCRIPT = ("import time\n"
                "for i in range(15):\n"
                "    print(f'tick {i} {time.time():.6f}', flush=True); time.sleep(0.2)\n"
                "print(f'last {time.time():.6f}', flush=True)\n")


class JobWatch:
    """Records when each Job name is first seen (ADDED), using prodigy's own watch."""

    def __init__(self, kube: Any, namespace: str) -> None:
        from prodigy.k8s.watch import Collection, Watcher

        self.seen: dict[str, float] = {}
        self.events: queue.SimpleQueue[str] = queue.SimpleQueue()
        self.stop = threading.Event()
        self.watcher = Watcher(kube, Collection("jobs", f"/apis/batch/v1/namespaces/{namespace}/jobs"),
                               self._sink, stop=self.stop)
        self.watcher.start()

    def _sink(self, event: Any) -> None:
        now = time.monotonic()
        objects = list(event.items) if event.type == "SYNC" else [event.obj] if event.obj else []
        for obj in objects:
            name = obj["metadata"]["name"]
            if name not in self.seen:
                self.seen[name] = now
                self.events.put(name)

    def wait_for(self, predicate: Any, timeout: float = 30) -> tuple[str, float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                name = self.events.get(timeout=0.1)
            except queue.Empty:
                continue
            if predicate(name):
                return name, self.seen[name]
        raise TimeoutError("no matching Job appeared")

    def close(self) -> None:
        self.stop.set()
        self.watcher.shutdown()


def read_lines(process: subprocess.Popen[str]) -> list[tuple[float, str]]:
    assert process.stdout is not None
    return [(time.time(), line.rstrip("\n")) for line in process.stdout]


def stamped(lines: list[tuple[float, str]]) -> tuple[list[float], float | None]:
    delays, last = [], None
    for received, text in lines:
        parts = text.split()
        if len(parts) >= 3 and parts[-3] == "tick":
            delays.append(received - float(parts[-1]))
        elif len(parts) >= 2 and parts[-2] == "last":
            delays.append(received - float(parts[-1]))
            last = float(parts[-1])
    return delays, last


def prodigy_round(env: dict[str, str], repo: Path, workflow: Path, watch: JobWatch) -> dict[str, float]:
    started_wall, started = time.time(), time.monotonic()
    process = subprocess.Popen([str(PRODIGY), "cook", str(workflow), "--cluster", "bench", "-y"], cwd=repo, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _, created = watch.wait_for(lambda n: n.startswith("prodigy-bench-") and watch.seen[n] >= started)
    lines = read_lines(process)
    err = process.stderr.read() if process.stderr else ""
    process.wait()
    ended = time.time()
    if process.returncode != 0:
        raise SystemExit(f"prodigy run failed:\n{err}")
    delays, last = stamped(lines)
    return {"submit": created - started, "line": statistics.median(delays), "exit": ended - (last or ended),
            "total": ended - started_wall}


def kubectl_round(kubectl: list[str], namespace: str, image: str, watch: JobWatch, index: int) -> dict[str, float]:
    name = f"kubectl-bench-{os.getpid()}-{index}"
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": namespace},
           "spec": {"backoffLimit": 0, "ttlSecondsAfterFinished": 60, "template": {"spec": {
               "restartPolicy": "Never",
               "containers": [{"name": "main", "image": image, "args": ["python3", "-c", STAMP_SCRIPT],
                               "env": [{"name": "PYTHONUNBUFFERED", "value": "1"}]}]}}}}
    started_wall, started = time.time(), time.monotonic()
    subprocess.run([*kubectl, "create", "-f", "-"], input=json.dumps(job), text=True, check=True,
                   capture_output=True)
    _, created = watch.wait_for(lambda n: n == name)
    subprocess.run([*kubectl, "-n", namespace, "wait", "--for=condition=Ready", f"pod", "-l", f"job-name={name}",
                    "--timeout=60s"], check=False, capture_output=True)
    logs = subprocess.Popen([*kubectl, "-n", namespace, "logs", "-f", f"job/{name}"], stdout=subprocess.PIPE,
                            text=True)
    lines = read_lines(logs)
    logs.wait()
    subprocess.run([*kubectl, "-n", namespace, "wait", "--for=condition=complete", f"job/{name}", "--timeout=60s"],
                   check=True, capture_output=True)
    ended = time.time()
    delays, last = stamped(lines)
    return {"submit": created - started, "line": statistics.median(delays) if delays else float("nan"),
            "exit": ended - (last or ended), "total": ended - started_wall}


def concurrent(env: dict[str, str], repo: Path, count: int) -> list[tuple[int, int]]:
    """(exit code, peak RSS KiB) of `count` simultaneous runs; a failed run's stderr is shown."""
    processes = []
    for i in range(count):
        workflow = repo / f"c{i}.yaml"
        workflow.write_text(f"name: bench\ncommands:\n  - shell: \"echo concurrent-{i}; sleep 2\"\n")
        rss_file = repo.parent / f"rss-{i}.txt"
        err_file = repo.parent / f"err-{i}.txt"
        with err_file.open("w") as err:
            processes.append((subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", str(rss_file), str(PRODIGY),
                                                "cook", str(workflow), "--cluster", "bench", "-y"], cwd=repo,
                                               env=env, stdout=subprocess.DEVNULL, stderr=err), rss_file, err_file))
    results = []
    for process, rss_file, err_file in processes:
        process.wait()
        if process.returncode != 0:
            print(f"concurrent run failed ({process.returncode}):\n{err_file.read_text()[-2000:]}", file=sys.stderr)
        results.append((process.returncode, int(rss_file.read_text().split()[-1])))
    return results


def floor(kubectl: list[str], namespace: str) -> tuple[float, float]:
    """p50 seconds of what no Python CLI on the official client can go below (a fresh
    interpreter importing ``kubernetes.config``), and of one whole ``kubectl`` call."""
    def timed(argv: list[str]) -> float:
        started = time.monotonic()
        subprocess.run(argv, check=True, capture_output=True)
        return time.monotonic() - started

    python = str(ROOT / ".venv" / "bin" / "python")
    imports = [timed([python, "-c", "import kubernetes.config"]) for _ in range(5)]
    kubectl_get = [timed([*kubectl, "-n", namespace, "get", "jobs", "-o", "name"]) for _ in range(5)]
    return p50(imports), p50(kubectl_get)


def p50(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path)
    parser.add_argument("--context")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--image", default="prodigy-agent:bench")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    from testing.repos import make_repo

    work = Path(tempfile.mkdtemp(prefix="k8s-bench-"))
    started_cluster = None
    if args.kubeconfig is None:
        from testing import cluster as clusters

        started_cluster = clusters.start(work / "cluster", "bench")
        # On a real node the image must exist under the bench's name (a no-op on the process node).
        started_cluster.tag_image(started_cluster.test_image, args.image)
        kubeconfig, context, kubectl_bin = started_cluster.kubeconfig, started_cluster.admin_context, \
            str(started_cluster.kubectl_path)
    else:
        kubeconfig, context, kubectl_bin = args.kubeconfig, args.context, "kubectl"
    try:
        from prodigy.k8s.clients import connect

        home = work / "home"
        home.mkdir()
        (home / "kubernetes.yaml").write_text(json.dumps({"clusters": {"bench": {
            "kubeconfig_path": str(kubeconfig), "context": context, "namespace": args.namespace,
            "image": args.image}}}))
        repo = make_repo(work / "repo")
        (repo / "stamp.py").write_text(STAMP_SCRIPT)     # shipped to the pod with the repository
        workflow = repo / "bench.yaml"
        workflow.write_text("name: bench\ncommands:\n  - shell: \"python3 stamp.py\"\n")
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", "commit", "-qm", "bench workflow"], cwd=repo, check=True)
        env = {**os.environ, "PRODIGY_HOME": str(home), "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        kubectl = [kubectl_bin, f"--kubeconfig={kubeconfig}"] + ([f"--context={context}"] if context else [])
        kube = connect("bench", kubeconfig_path=kubeconfig, context=context)
        watch = JobWatch(kube, args.namespace)
        time.sleep(0.5)
        prodigy_runs, kubectl_runs = [], []
        prodigy_round(env, repo, workflow, watch)          # warm-up: page cache, first image map lookups
        for i in range(args.rounds):
            prodigy_runs.append(prodigy_round(env, repo, workflow, watch))
            kubectl_runs.append(kubectl_round(kubectl, args.namespace, args.image, watch, i))
        watch.close()
        kube.close()
        conc = concurrent(env, repo, 10)
        import_floor, kubectl_call = floor(kubectl, args.namespace)

        def row(label: str, key: str) -> str:
            ours, theirs = p50([r[key] for r in prodigy_runs]), p50([r[key] for r in kubectl_runs])
            return f"{label:<28} prodigy p50 {ours:6.3f}s   kubectl p50 {theirs:6.3f}s   ratio {ours / theirs:5.2f}x"

        print(f"rounds: {args.rounds} (plus one warm-up)")
        print(row("submit (start -> Job seen)", "submit"))
        print(row("line -> printed", "line"))
        print(row("last line -> client exit", "exit"))
        print(row("whole run", "total"))
        print("prodigy submit samples:", " ".join(f"{r['submit']:.3f}" for r in prodigy_runs))
        print(f"floor: `python -c 'import kubernetes.config'` p50 {import_floor:.3f}s; "
              f"one `kubectl get` p50 {kubectl_call:.3f}s")
        ok = sum(1 for code, _ in conc if code == 0)
        print(f"10 concurrent runs: {ok}/10 succeeded; peak RSS per client MiB: "
              + " ".join(f"{rss / 1024:.0f}" for _, rss in conc) + f" (max {max(r for _, r in conc) / 1024:.0f})")
    finally:
        if started_cluster is not None:
            from testing import cluster as clusters

            clusters.stop(started_cluster)


if __name__ == "__main__":
    main()
