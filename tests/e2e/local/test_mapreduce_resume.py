"""Ctrl+C during the map phase stops every agent and keeps their commits; `prodigy resume`
finishes the run with every item merged exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from testing.repos import FakeClaude, log_subjects
from testing.waiting import eventually

from .conftest import RunProdigy, metadata, session_dirs, write
from .mapreduce_support import agent_branches, agent_dirs, merges_of, session_id_of

# Items 1 and 2 run straight through; items 3.. commit once, then wait for $GO (recording their
# shell's pid), so Ctrl+C lands while two agents are mid-step with a commit made.
WAITING = """\
name: waiting
mode: mapreduce
setup:
  - shell: "seq 1 5 > numbers.txt"
map:
  input: "cat numbers.txt"
  max_parallel: 2
  agent_template:
    - shell: "echo ${item} > first-${item}.txt && git add . && git commit -qm 'first ${item}'"
    - shell: |
        if [ ${item} -gt 2 ]; then
          echo $$ > "$MARKERS/pid-${item}"
          while [ ! -f "$GO" ]; do sleep 0.1; done
        fi
    - shell: "echo ${item} > second-${item}.txt && git add . && git commit -qm 'second ${item}'"
reduce:
  - shell: "echo 'reduce saw ${map.successful} of ${map.total}'"
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigint_during_map_then_resume_merges_each_item_once(
        run_prodigy: RunProdigy, repo: Path, fake_claude: FakeClaude, prodigy_home: Path, tmp_path: Path) -> None:
    markers, go = tmp_path / "markers", tmp_path / "go"
    markers.mkdir()
    env = {**fake_claude.env(), "MARKERS": str(markers), "GO": str(go)}
    wf = write(repo / "waiting.yml", WAITING)
    proc = subprocess.Popen([sys.executable, "-m", "prodigy", "cook", str(wf), "-y"], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        eventually(lambda: len(list(markers.glob("pid-*"))) == 2, timeout=120, what="two agents waiting")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, out + err
    waiting = [int(path.read_text()) for path in markers.glob("pid-*")]
    assert not any(_alive(pid) for pid in waiting), "every agent's process group must be ended"
    session = session_id_of(out)
    (meta,) = metadata(prodigy_home, repo)
    assert meta["status"] == "interrupted"
    assert f"Resume with: prodigy resume {session}" in out
    kept = agent_dirs(prodigy_home, repo)
    assert len(kept) == 2                                             # the two interrupted agents
    for path in kept:                                                # ... with their first commit
        assert subprocess.run(["git", "log", "--pretty=%s", "-1"], cwd=path, capture_output=True,
                              text=True).stdout.startswith("first ")
    assert log_subjects(repo)[0] == "initial commit"                  # nothing merged into main yet

    go.write_text("")
    resumed = run_prodigy("resume", session, "-y", env={"MARKERS": str(markers), "GO": str(go)})
    assert resumed.exit_code == 0, resumed.output
    assert "Continuing the map phase" in resumed.stdout
    assert "reduce saw 5 of 5" in resumed.stdout
    subjects = log_subjects(repo)
    for number in range(1, 6):
        assert subjects.count(f"first {number}") == 1, subjects
        assert subjects.count(f"second {number}") == 1, subjects
        assert len(merges_of(repo, f"Merge agent item_{number - 1} ")) == 1
    assert session_dirs(prodigy_home, repo) == [] and agent_dirs(prodigy_home, repo) == []
    assert agent_branches(repo) == []


def test_a_failed_setup_or_input_resumes_without_running_setup_again(
        run_prodigy: RunProdigy, repo: Path, prodigy_home: Path, tmp_path: Path) -> None:
    counter = tmp_path / "setup-runs"
    wf = write(repo / "input.yml", f"""\
name: input
mode: mapreduce
setup:
  - shell: "echo run >> {counter}"
map:
  input: items.json
  agent_template:
    - shell: "echo ${{item}} > got-${{item}}.txt && git add . && git commit -qm 'got ${{item}}'"
""")
    failed = run_prodigy("cook", str(wf), "-y")
    assert failed.exit_code == 1
    assert "map input items.json does not exist in the session worktree" in failed.stderr
    (worktree,) = session_dirs(prodigy_home, repo)
    (worktree / "items.json").write_text('["a", "b"]')             # the user supplies the input by hand
    resumed = run_prodigy("resume", worktree.name, "-y")
    assert resumed.exit_code == 0, resumed.output
    assert "Setup phase: already done" in resumed.stdout
    assert counter.read_text() == "run\n"
    assert {"got a", "got b"} <= set(log_subjects(repo))
