"""Local speed targets (run by hand: .venv/bin/python bench/local_overhead.py).

1. `prodigy --help` wall time, target <= 150 ms, and no `kubernetes` module imported on that path.
2. Whole-run overhead of `prodigy cook` with 10 `shell: "true"` steps (worktree, checkpoints,
   merge check, cleanup included) minus running the same 10 commands through `sh`; target <= 0.5 s.
Each number is the median of several runs.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PRODIGY = ROOT / ".venv" / "bin" / "prodigy"
PYTHON = ROOT / ".venv" / "bin" / "python"
RUNS = 7


def timed(argv: list[str], **kw: object) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]
    return time.perf_counter() - started


def median(argv: list[str], **kw: object) -> float:
    timed(argv, **kw)  # warm the page cache and .pyc files
    return statistics.median(timed(argv, **kw) for _ in range(RUNS))


def kubernetes_imported_by_help() -> bool:
    code = ("import sys\nfrom prodigy.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(any(m == 'kubernetes' or m.startswith('kubernetes.') for m in sys.modules))")
    out = subprocess.run([str(PYTHON), "-c", code], capture_output=True, text=True, check=True).stdout
    return out.strip().splitlines()[-1] == "True"


def main() -> int:
    help_time = median([str(PRODIGY), "--help"])
    k8s = kubernetes_imported_by_help()
    print(f"prodigy --help: {help_time * 1000:.0f} ms (target <= 150 ms); kubernetes imported: {k8s}")

    with tempfile.TemporaryDirectory() as tmp:
        repo = Path(tmp) / "repo"
        repo.mkdir()
        env = {**os.environ, "PRODIGY_HOME": str(Path(tmp) / "home"), "GIT_AUTHOR_NAME": "bench",
               "GIT_AUTHOR_EMAIL": "bench@localhost", "GIT_COMMITTER_NAME": "bench",
               "GIT_COMMITTER_EMAIL": "bench@localhost"}
        subprocess.run(["git", "init", "-q", "-b", "main"], cwd=repo, check=True)
        subprocess.run(["git", "commit", "-q", "--allow-empty", "-m", "init"], cwd=repo, check=True, env=env)
        workflow = Path(tmp) / "ten.yml"
        workflow.write_text('- shell: "true"\n' * 10)
        cook = median([str(PRODIGY), "cook", str(workflow), "-y", "-q"], cwd=repo, env=env)
        shell = median(["sh", "-c", "; ".join(["sh -c true"] * 10)], cwd=repo, env=env)
        overhead = cook - shell
        print(f"prodigy cook (10 x true): {cook * 1000:.0f} ms; same commands via sh: {shell * 1000:.0f} ms; "
              f"overhead {overhead * 1000:.0f} ms (target <= 500 ms)")
    ok = help_time <= 0.150 and not k8s and overhead <= 0.5
    print("OK" if ok else "OVER TARGET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
