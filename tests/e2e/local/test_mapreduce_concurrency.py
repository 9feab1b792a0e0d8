"""Agents run at the same time (observed, not assumed), never more than max_parallel, and a
conflicting agent is merged through Claude's /prodigy-merge-worktree."""

from __future__ import annotations

from pathlib import Path

from testing.repos import FakeClaude, commit_files, log_subjects

from .conftest import RunProdigy, write
from .mapreduce_support import file_at, merges_of, session_id_of

# Each agent notes when it starts and ends (nanoseconds) in a directory outside the repository, and
# waits (up to 60 s) until three agents have started: with max_parallel 3 the first three meet, the
# rest pass straight through. A scheduler that ran them one at a time would fail every wait.
BARRIER = """\
name: barrier
mode: mapreduce
map:
  input: "seq 1 7"
  max_parallel: 3
  agent_template:
    - shell: |
        echo "$(date +%s%N)" > "$MARKERS/start-${item}"
        waited=0
        while [ "$(ls "$MARKERS" | grep -c '^start-')" -lt 3 ] && [ $waited -lt 600 ]; do
          sleep 0.1; waited=$((waited + 1))
        done
        [ "$(ls "$MARKERS" | grep -c '^start-')" -ge 3 ]
        echo "$(date +%s%N)" > "$MARKERS/end-${item}"
        echo "${item}" > agent-${item}.txt && git add . && git commit -qm "agent ${item}"
      commit_required: true
"""


def _most_at_once(markers: Path) -> int:
    events = []
    for start in markers.glob("start-*"):
        name = start.name.removeprefix("start-")
        events.append((int(start.read_text()), 1))
        events.append((int((markers / f"end-{name}").read_text()), -1))
    running = most = 0
    for _, change in sorted(events, key=lambda event: (event[0], event[1])):
        running += change
        most = max(most, running)
    return most


def test_up_to_max_parallel_agents_run_at_once(run_prodigy: RunProdigy, repo: Path, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    wf = write(repo / "barrier.yml", BARRIER)
    result = run_prodigy("cook", str(wf), "-y", env={"MARKERS": str(markers)}, timeout=300)
    assert result.exit_code == 0, result.output
    assert len(list(markers.glob("end-*"))) == 7
    assert _most_at_once(markers) == 3
    assert sorted(subject for subject in log_subjects(repo) if subject.startswith("agent ")) == [
        f"agent {n}" for n in range(1, 8)]


CONFLICT = """\
name: conflict
mode: mapreduce
map:
  input: "printf '%s\\\\n' first second"
  max_parallel: 2
  agent_template:
    - shell: |
        echo "line from ${item}" >> shared.txt
        git add shared.txt && git commit -qm "${item} edits shared.txt"
      commit_required: true
"""


def test_an_agent_that_conflicts_is_merged_by_claude(run_prodigy: RunProdigy, repo: Path,
                                                     fake_claude: FakeClaude) -> None:
    commit_files(repo, {"shared.txt": "base\n"}, "add shared.txt")
    fake_claude.scenario([{"match": "^/prodigy-merge-worktree ", "actions": [{"merge": "keep both"}]}])
    wf = write(repo / "conflict.yml", CONFLICT)
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    session = session_id_of(result.stdout)
    (merge_call,) = fake_claude.calls()
    branch, target = merge_call["prompt"].split()[1:]
    assert branch.startswith(f"prodigy-agent-{session}-item_")
    assert target == f"prodigy-{session}"
    assert Path(merge_call["cwd"]).name == session                  # resolved in the session worktree
    final = file_at(repo, "shared.txt").splitlines()
    assert final[0] == "base" and sorted(final[1:]) == ["line from first", "line from second"]
    assert len(merges_of(repo, "Merge agent item_")) == 1             # the one git could merge itself
    assert len(merges_of(repo, f"Merge worktree '{branch}'")) == 1     # the one Claude merged
    assert {"first edits shared.txt", "second edits shared.txt"} <= set(log_subjects(repo))
