"""Failed items: the dead-letter queue, `dlq retry`, the error policy, and what reduce sees."""

from __future__ import annotations

import json
from pathlib import Path

from testing.repos import log_subjects

from .conftest import RunProdigy, metadata, session_dirs, write
from .mapreduce_support import agent_dirs, dlq, file_at, session_id_of, tracked_files

# Items b and d fail until a flag file exists outside the repository.
FLAKY = """\
name: flaky
mode: mapreduce
map:
  input: "printf '%s\\\\n' a b c d"
  max_parallel: 2
  agent_template:
    - shell: |
        case "${item}" in b|d) test -f "$FIXED" || { echo "item ${item} is broken" >&2; exit 3; } ;; esac
        echo "${item}" > out-${item}.txt && git add . && git commit -qm "out ${item}"
      commit_required: true
reduce:
  - shell: |
      printf '%s|%s|%s|%s\\n' '${map.total}' '${map.successful}' '${map.failed}' '${map.success_rate}' > reduce.txt
      cat > results.json <<'JSON'
      ${map.results_json}
      JSON
      git add reduce.txt results.json && git commit -qm "reduce"
"""


def test_failed_items_go_to_the_dlq_reduce_sees_the_counts_and_dlq_retry_merges_them(
        run_prodigy: RunProdigy, repo: Path, prodigy_home: Path, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    env = {"FIXED": str(flag)}
    wf = write(repo / "flaky.yml", FLAKY)
    result = run_prodigy("cook", str(wf), "-y", env=env)
    assert result.exit_code == 0, result.output
    session = session_id_of(result.stdout)
    assert "2 failed items in the dead-letter queue" in result.stderr, result.stderr
    assert file_at(repo, "reduce.txt") == "4|2|2|50\n"
    results = {entry["item_id"]: entry for entry in json.loads(file_at(repo, "results.json"))}
    assert [results[key]["success"] for key in ("item_0", "item_1", "item_2", "item_3")] == [True, False, True, False]
    assert "item b is broken" in results["item_1"]["error"] and results["item_1"]["item"] == "b"
    assert sorted(name for name in tracked_files(repo) if name.startswith("out-")) == ["out-a.txt", "out-c.txt"]

    queue = dlq(prodigy_home, repo, session)
    assert [item["item_id"] for item in queue["items"]] == ["item_1", "item_3"]
    assert all(item["failure_count"] == 1 for item in queue["items"])
    listed = run_prodigy("dlq", "list", session)
    assert listed.exit_code == 0, listed.output
    assert [line.split()[0] for line in listed.stdout.splitlines()[1:3]] == ["item_1", "item_3"]
    shown = run_prodigy("dlq", "show", session, "3")
    assert shown.exit_code == 0, shown.output
    assert '"d"' in shown.stdout and "item d is broken" in shown.stdout and "attempt 1" in shown.stdout

    # Still broken: both stay queued, now with two failures each, and nothing new is merged.
    again = run_prodigy("dlq", "retry", session, "-y", env=env)
    assert again.exit_code == 0, again.output
    assert all(item["failure_count"] == 2 for item in dlq(prodigy_home, repo, session)["items"])
    assert sorted(name for name in tracked_files(repo) if name.startswith("out-")) == ["out-a.txt", "out-c.txt"]

    flag.write_text("")
    fixed = run_prodigy("dlq", "retry", session, "-y", env=env)
    assert fixed.exit_code == 0, fixed.output
    assert "was merged and removed; retrying its 2 failed items in a new session" in fixed.stdout
    assert sorted(name for name in tracked_files(repo) if name.startswith("out-")) == [
        "out-a.txt", "out-b.txt", "out-c.txt", "out-d.txt"]
    assert dlq(prodigy_home, repo, session)["items"] == []
    assert log_subjects(repo).count("out b") == 1 and log_subjects(repo).count("out d") == 1
    assert session_dirs(prodigy_home, repo) == [] and agent_dirs(prodigy_home, repo) == []
    assert "empty" in run_prodigy("dlq", "list", session).stdout


def test_dlq_retry_in_a_kept_session_merges_into_it_then_asks_to_merge(
        run_prodigy: RunProdigy, repo: Path, prodigy_home: Path, tmp_path: Path) -> None:
    flag = tmp_path / "fixed"
    wf = write(repo / "flaky.yml", FLAKY)
    result = run_prodigy("cook", str(wf), input="n\n", env={"FIXED": str(flag)})
    assert result.exit_code == 0, result.output
    session = session_id_of(result.stdout)
    assert log_subjects(repo)[0] == "initial commit"                 # not merged: kept
    kept = agent_dirs(prodigy_home, repo)
    assert [path.name for path in kept] == ["item_1", "item_3"]      # failed agents stay for inspection
    listing = run_prodigy("worktree", "ls")
    assert "item_1" in listing.stdout and "item_3" in listing.stdout

    flag.write_text("")
    retried = run_prodigy("dlq", "retry", session, input="y\n", env={"FIXED": str(flag)})
    assert retried.exit_code == 0, retried.output
    assert f"Merge {session} to main [Y/n]" in retried.stdout
    assert sorted(name for name in tracked_files(repo) if name.startswith("out-")) == [
        "out-a.txt", "out-b.txt", "out-c.txt", "out-d.txt"]
    assert session_dirs(prodigy_home, repo) == [] and agent_dirs(prodigy_home, repo) == []


def test_max_failures_stops_the_map_phase_and_resume_goes_on(run_prodigy: RunProdigy, repo: Path,
                                                            prodigy_home: Path, tmp_path: Path) -> None:
    wf = write(repo / "strict.yml", """\
name: strict
mode: mapreduce
map:
  input: "seq 1 6"
  max_parallel: 1
  agent_template:
    - shell: |
        [ ${item} -ne 2 ] || test -f "$FIXED" || exit 1
        echo ${item} > n-${item}.txt && git add . && git commit -qm "n ${item}"
error_policy:
  max_failures: 0
""")
    flag = tmp_path / "fixed"
    result = run_prodigy("cook", str(wf), "-y", env={"FIXED": str(flag)})
    assert result.exit_code == 1, result.output
    assert "Map phase stopped: 1 item failed (max_failures: 0)" in result.stderr
    assert "4 items not started" in result.stdout
    session = session_id_of(result.stdout)
    (meta,) = metadata(prodigy_home, repo)
    assert meta["status"] == "failed"
    resumed = run_prodigy("resume", session, "-y", env={"FIXED": str(flag)})
    assert resumed.exit_code == 0, resumed.output                    # the failed item stays in the DLQ
    names = sorted(name for name in tracked_files(repo) if name.startswith("n-"))
    assert names == ["n-1.txt", "n-3.txt", "n-4.txt", "n-5.txt", "n-6.txt"]
    assert [item["item_id"] for item in dlq(prodigy_home, repo, session)["items"]] == ["item_1"]


def test_on_item_failure_retry_runs_a_flaky_item_again(run_prodigy: RunProdigy, repo: Path, tmp_path: Path) -> None:
    counter = tmp_path / "tries"
    wf = write(repo / "retry.yml", f"""\
name: retry
mode: mapreduce
on_item_failure: retry
map:
  input: "echo only"
  agent_template:
    - shell: |
        echo x >> {counter}
        [ "$(wc -l < {counter})" -ge 2 ] || exit 1
        echo done > done.txt && git add . && git commit -qm done
""")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert counter.read_text() == "x\nx\n"
    assert "done.txt" in tracked_files(repo)
