"""Many runs at once in one repository: how many succeed and merge, wall and CPU time (issue 9).

    .venv/bin/python bench/concurrent_runs.py                         # 10 and 20: local, cluster, mixed
    .venv/bin/python bench/concurrent_runs.py --runs 10 --modes local
    .venv/bin/python bench/concurrent_runs.py --source /path/to/other/checkout   # A/B another version

Each run is `prodigy cook W -y` (cluster: `--cluster bench`, a testcluster started here) whose one
step commits a file of its own. All N processes start together from one repository; a round
counts the processes that exit 0, the commits merged into `main`, and whether `git status` is the
same afterwards as before. Wall time is the round's, from the first start to the last exit; CPU
is user+system of every process of the round (prodigy and the git it runs, from
`getrusage(RUSAGE_CHILDREN)`; the cluster's own processes are not included).

`--source DIR` runs prodigy from another checkout (PYTHONPATH) with this checkout's .venv, to
compare a version before a change with the one after it.

Measured 2026-11-30 on 2 cores shared with other engineers' builds and tests (load average
13-27 during the runs, so wall times are inflated), testcluster:

    before (04f2fea, no repository lock)      runs  ok  git status   wall s  CPU s
      local                                     10   3  CHANGED        19.2    5.3
      local                                     20   5  CHANGED        33.2   10.4
      cluster                                   10   9  unchanged      60.6   15.3
      mixed (every other run on the cluster)    10   8  unchanged      33.5    9.9
    after
      local                                     10  10  unchanged      18.9    4.7
      cluster                                   10  10  unchanged      70.2   14.7
      mixed                                     10  10  unchanged      50.2   10.0
      local                                     20  20  unchanged      53.8   10.4
      cluster                                   20  20  unchanged      83.8   29.1
      mixed                                     20  20  unchanged      80.8   21.4

Every successful run merged its commit. CPU per run stays the same (local ~0.5 s, cluster
~1.5 s): the lock costs waiting, not work.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PYTHON = ROOT / ".venv" / "bin" / "python"


@dataclass(frozen=True)
class Round:
    mode: str
    runs: int
    succeeded: int
    merged: int
    clean: bool
    wall: float
    cpu: float


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def one_round(mode: str, runs: int, work: Path, env: dict[str, str], cluster: str | None) -> Round:
    from testing.repos import make_repo

    base = Path(tempfile.mkdtemp(prefix=f"{mode}-{runs}-", dir=work))
    repo = make_repo(base / "repo")
    before = _git(repo, "status", "--porcelain")
    commands = []
    for i in range(runs):
        workflow = base / f"w{i}.yml"
        workflow.write_text(f"name: w{i}\ncommands:\n  - shell: \"echo {i} > file-{i}.txt && "
                            f"git add file-{i}.txt && git commit -qm 'add file {i}'\"\n")
        on_cluster = mode == "cluster" or (mode == "mixed" and i % 2 == 1)
        commands.append([str(PYTHON), "-m", "prodigy", "cook", str(workflow), "-y",
                         *(["--cluster", cluster] if on_cluster and cluster else [])])
    usage_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    processes = [subprocess.Popen(c, cwd=repo, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for c in commands]
    errors = [p.communicate()[1] for p in processes]
    wall = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (usage.ru_utime - usage_before.ru_utime) + (usage.ru_stime - usage_before.ru_stime)
    succeeded = sum(p.returncode == 0 for p in processes)
    for p, err in zip(processes, errors, strict=True):
        if p.returncode != 0:
            print(f"  [{mode} {runs}] exit {p.returncode}: {err.strip().splitlines()[-1:] or ''}", file=sys.stderr)
    merged = sum(1 for s in _git(repo, "log", "--pretty=%s", "main").splitlines() if s.startswith("add file"))
    return Round(mode, runs, succeeded, merged, _git(repo, "status", "--porcelain") == before, wall, cpu)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, action="append", help="runs per round (repeatable; default 10 and 20)")
    parser.add_argument("--modes", default="local,cluster,mixed")
    parser.add_argument("--source", type=Path, help="run prodigy from this checkout instead")
    args = parser.parse_args()
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    counts = args.runs or [10, 20]

    work = Path(tempfile.mkdtemp(prefix="concurrent-bench-"))
    env = {**os.environ, "PRODIGY_HOME": str(work / "home"), "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
           "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "bench@localhost"}
    if args.source is not None:
        env["PYTHONPATH"] = str(args.source.resolve())
    started_cluster = None
    if any(m in ("cluster", "mixed") for m in modes):
        from testing import cluster as clusters

        started_cluster = clusters.start(work / "cluster", "bench")
        # On a real node the image must exist under the bench's name (a no-op on the process node).
        started_cluster.tag_image(started_cluster.test_image, "prodigy-agent:bench")
        (work / "home").mkdir(parents=True, exist_ok=True)
        (work / "home" / "kubernetes.yaml").write_text(json.dumps({"clusters": {"bench": {
            "kubeconfig_path": str(started_cluster.kubeconfig), "context": started_cluster.admin_context,
            "namespace": "default", "image": "prodigy-agent:bench"}}}))
        env["KUBECONFIG"] = str(started_cluster.kubeconfig)
    try:
        rounds = [one_round(mode, runs, work, env, "bench" if started_cluster else None)
                  for runs in counts for mode in modes]
    finally:
        if started_cluster is not None:
            from testing import cluster as clusters

            clusters.stop(started_cluster)
    print(f"{'mode':8} {'runs':>4} {'ok':>4} {'merged':>6} {'status':>9} {'wall s':>7} {'CPU s':>7} {'CPU/run':>7}")
    for r in rounds:
        print(f"{r.mode:8} {r.runs:>4} {r.succeeded:>4} {r.merged:>6} {'unchanged' if r.clean else 'CHANGED':>9} "
              f"{r.wall:>7.1f} {r.cpu:>7.1f} {r.cpu / r.runs:>7.2f}")


if __name__ == "__main__":
    main()
