"""Detached cluster runs: how fast `--detach` returns, `cluster runs` answers and `attach` shows
output, run by hand against a cluster.

    .venv/bin/python bench/detach.py                  # starts its own testcluster
    .venv/bin/python bench/detach.py --kubeconfig PATH [--context NAME] [--namespace NS]

  detach   `prodigy cook W --cluster bench --detach`: process exit minus the moment the Job was
           resumed (the submission complete: Job, ConfigMaps and Secret created, repository
           uploaded, `spec.suspend: false`), both seen from this process (a watch on the Jobs).
           Target: <= 0.2 s. Also shown: the whole command, and exit minus the Job's creation.
  runs     `prodigy cluster runs -n 50` with 50 detached runs in the index, 10 of them running
           (their current step is read from their log tails), 40 finished and not collected
           (so all 50 are looked up). Target: <= 1.5 s.
  attach   `prodigy cluster attach RUN -y` on a running run that then prints a line with its own
           wall-clock stamp every 0.2 s (pod and client share this machine's clock): line written
           -> line read from the client's stdout. Target: <= 1 s.

Measured 2026-11-30 (2 cores, testcluster, other test suites running: load 4-7), 7 rounds each:
detach: exit - Job resumed p50 0.017-0.027 s (max 0.057 s); the whole command p50 1.25 s.
cluster runs, 50 runs (10 running): wall p50 1.54-1.82 s, CPU p50 0.76 s: the command is
CPU-bound (client import ~0.45 s, prodigy's config models ~0.25 s, the lookups ~0.15 s of wall),
so on a quiet machine its wall time is about its CPU time; with 50 finished runs and load ~4,
p50 1.22 s, best 0.78 s. attach: line written -> shown p50 0.001 s, max 0.028 s.
Again with no other suite running (load 3-5 from the bench's own cluster), 7 rounds: detach p50 0.010 s
(max 0.026 s); cluster runs, 50 runs (10 running) p50 0.82 s (max 0.87 s), CPU 0.78 s; attach p50 0.001 s.
Before `cook --detach` skipped the interpreter's teardown, exit - Job resumed was p50 0.53 s.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
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
RUN_ID = re.compile(r"Detached: run ([a-z0-9]{10})")


class JobTimes:
    """When each Job was first seen, and first seen resumed (``spec.suspend`` false)."""

    def __init__(self, kube: Any, namespace: str) -> None:
        from prodigy.k8s.watch import Collection, Watcher

        self.created: dict[str, float] = {}
        self.resumed: dict[str, float] = {}
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
            self.created.setdefault(name, now)
            if not (obj.get("spec") or {}).get("suspend") and name not in self.resumed:
                self.resumed[name] = now
                self.events.put(name)

    def resumed_at(self, suffix: str, timeout: float = 30) -> tuple[float, float]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, at in list(self.resumed.items()):
                if name.endswith(suffix):
                    return self.created[name], at
            time.sleep(0.01)
        raise TimeoutError(f"Job *{suffix} never resumed")

    def close(self) -> None:
        self.stop.set()
        self.watcher.shutdown()


def detach(env: dict[str, str], repo: Path, workflow: Path) -> tuple[str, float, float]:
    """(run id, started, exited) of one `cook --detach` (monotonic clock)."""
    started = time.monotonic()
    result = subprocess.run([str(PRODIGY), "cook", str(workflow), "--cluster", "bench", "--detach"], cwd=repo,
                            env=env, capture_output=True, text=True, check=False)
    exited = time.monotonic()
    found = RUN_ID.search(result.stdout)
    if result.returncode != 0 or found is None:
        raise SystemExit(f"detach failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return found.group(1), started, exited


def p50(values: list[float]) -> float:
    return statistics.median(values)


def timed_runs(env: dict[str, str], repo: Path, rounds: int) -> tuple[list[float], list[float], int]:
    """Wall and CPU (user + system) seconds of each `cluster runs`; on a quiet machine the wall
    time is about the CPU time (the command is CPU-bound), on a busy one it is longer."""
    import resource

    samples, cpu, rows = [], [], 0
    for _ in range(rounds):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        result = subprocess.run([str(PRODIGY), "cluster", "runs", "-n", "50"], cwd=repo, env=env,
                                capture_output=True, text=True, check=True)
        samples.append(time.monotonic() - started)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        rows = sum(1 for line in result.stdout.splitlines() if re.match(r"[a-z0-9]{10}\s", line))
    return samples, cpu, rows


def attach_latency(env: dict[str, str], repo: Path, marker: Path) -> list[float]:
    workflow = repo / "ticks.yaml"
    script = ("import time\nfor i in range(15):\n    print(f'tick {i} {time.time():.6f}', flush=True); "
              "time.sleep(0.2)\n")
    (repo / "ticks.py").write_text(script)
    workflow.write_text("name: ticks\ncommands:\n"
                        f"  - shell: \"echo waiting; while [ ! -f {marker} ]; do sleep 0.05; done; python3 ticks.py\"\n")
    subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
    subprocess.run(["git", "commit", "-qm", "ticks"], cwd=repo, check=True)
    run_id, _, _ = detach(env, repo, workflow)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:          # wait until its step runs (the pod started)
        shown = subprocess.run([str(PRODIGY), "cluster", "runs"], cwd=repo, env=env, capture_output=True, text=True)
        if any(line.startswith(run_id) and "1/1 shell" in line for line in shown.stdout.splitlines()):
            break
        time.sleep(0.5)
    process = subprocess.Popen([str(PRODIGY), "cluster", "attach", run_id, "-y"], cwd=repo, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    assert process.stdout is not None
    delays = []
    for line in process.stdout:
        if line.startswith("Attached to run"):
            marker.touch()
        parts = line.split()
        if len(parts) == 3 and parts[0] == "tick":
            delays.append(time.time() - float(parts[2]))
    process.wait()
    return delays


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kubeconfig", type=Path)
    parser.add_argument("--context")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--image", default="prodigy-agent:bench")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--runs", type=int, default=50, help="runs in the index for the `cluster runs` round")
    parser.add_argument("--running", type=int, default=10, help="of which still running")
    args = parser.parse_args()

    from testing.repos import make_repo

    work = Path(tempfile.mkdtemp(prefix="detach-bench-"))
    started_cluster = None
    if args.kubeconfig is None:
        from testing import cluster as clusters

        started_cluster = clusters.start(work / "cluster", "bench")
        # On a real node the image must exist under the bench's name (a no-op on the process node).
        started_cluster.tag_image(started_cluster.test_image, args.image)
        kubeconfig, context = started_cluster.kubeconfig, started_cluster.admin_context
    else:
        kubeconfig, context = args.kubeconfig, args.context
    try:
        from prodigy.k8s.clients import connect

        home = work / "home"
        home.mkdir()
        # Small requests: the test cluster's one node has this machine's CPUs, and 50 pods share it.
        (home / "kubernetes.yaml").write_text(json.dumps({"clusters": {"bench": {
            "kubeconfig_path": str(kubeconfig), "context": context, "namespace": args.namespace,
            "image": args.image, "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}}}}}))
        repo = make_repo(work / "repo")
        quick = repo / "quick.yaml"
        quick.write_text("name: quick\ncommands:\n  - shell: \"echo done\"\n")
        markers = work / "markers"
        markers.mkdir()
        waiting = repo / "waiting.yaml"
        waiting.write_text("name: waiting\ncommands:\n"
                           f"  - shell: \"echo waiting; while [ ! -f {markers}/go ]; do sleep 1; done\"\n")
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", "commit", "-qm", "bench workflows"], cwd=repo, check=True)
        env = {**os.environ, "PRODIGY_HOME": str(home), "KUBECONFIG": str(kubeconfig), "PYTHONUNBUFFERED": "1"}
        kube = connect("bench", kubeconfig_path=kubeconfig, context=context)
        jobs = JobTimes(kube, args.namespace)
        time.sleep(0.5)

        detach(env, repo, quick)                                 # warm-up
        after_resume, after_create, whole = [], [], []
        for _ in range(args.rounds):
            run_id, started, exited = detach(env, repo, quick)
            created, resumed = jobs.resumed_at(run_id)
            after_resume.append(exited - resumed)
            after_create.append(exited - created)
            whole.append(exited - started)
        print(f"detach ({args.rounds} rounds): exit - Job resumed p50 {p50(after_resume):.3f}s "
              f"max {max(after_resume):.3f}s; exit - Job created p50 {p50(after_create):.3f}s; "
              f"whole command p50 {p50(whole):.3f}s")

        submitted = 1 + args.rounds
        for i in range(args.runs - submitted):
            detach(env, repo, waiting if i < args.running else quick)
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:                       # the quick ones finish, the others wait
            shown = subprocess.run([str(PRODIGY), "cluster", "runs", "-n", "50"], cwd=repo, env=env,
                                   capture_output=True, text=True).stdout
            going = sum(1 for line in shown.splitlines() if " running " in f" {line} ")
            steps = sum(1 for line in shown.splitlines() if "1/1 shell: echo waiting" in line)
            if going == args.running and steps == args.running:
                break
            time.sleep(2)
        samples, cpu, rows = timed_runs(env, repo, args.rounds)
        print(f"cluster runs ({rows} runs shown, {args.running} running, {args.rounds} rounds): "
              f"p50 {p50(samples):.3f}s max {max(samples):.3f}s; CPU p50 {p50(cpu):.3f}s")
        traced = subprocess.run([str(PRODIGY), "cluster", "runs", "-n", "50"], cwd=repo,
                                env={**env, "PRODIGY_TRACE": "1"}, capture_output=True, text=True, check=True)
        print("one traced `cluster runs`:\n" + "".join(f"  {line}\n" for line in traced.stderr.splitlines()
                                                       if line.startswith("[trace]")), end="")
        (markers / "go").touch()

        delays = attach_latency(env, repo, work / "ticks-go")
        print(f"attach: line written -> shown p50 {p50(delays):.3f}s max {max(delays):.3f}s "
              f"({len(delays)} lines; first {delays[0]:.3f}s)")
        jobs.close()
        kube.close()
    finally:
        if started_cluster is not None:
            from testing import cluster as clusters

            clusters.stop(started_cluster)


if __name__ == "__main__":
    main()
