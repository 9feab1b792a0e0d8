"""MapReduce workflows through the real CLI: setup -> items -> agents -> merges -> reduce -> merge back."""

from __future__ import annotations

import json
from pathlib import Path

from testing.repos import FakeClaude, branches, log_subjects

from .conftest import RunProdigy, session_dirs, write
from .mapreduce_support import (
    MAPREDUCE,
    agent_branches,
    agent_dirs,
    file_at,
    merges_of,
    session_id_of,
    tracked_files,
)


def test_setup_creates_the_input_agents_commit_and_everything_is_merged_and_cleaned(
        run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    result = run_prodigy("cook", str(MAPREDUCE / "three-files.yml"), "-y")
    assert result.exit_code == 0, result.output
    assert "Map: 3 items from work.json" in result.stdout
    assert "found 3 result files" in result.stdout              # reduce ran in the session worktree
    subjects = log_subjects(repo)
    assert subjects[0].startswith("Merge worktree 'prodigy-session-") and subjects[0].endswith("into main")
    for name, number in (("alpha", 1), ("beta", 2), ("gamma", 3)):
        assert subjects.count(f"Handle {name} (id={number})") == 1
        assert file_at(repo, f"result-{name}.txt") == f"agent for {name} (id {number})\n"
    assert len(merges_of(repo, "Merge agent item_")) == 3
    assert "work.json" not in tracked_files(repo)                # setup's untracked input stays behind
    assert session_dirs(prodigy_home, repo) == [] and agent_dirs(prodigy_home, repo) == []
    assert agent_branches(repo) == [] and branches(repo) == ["main"]
    assert not (prodigy_home / "worktrees" / repo.name / "agents").exists()


def test_filter_sort_distinct_offset_and_max_items_select_the_right_items(
        run_prodigy: RunProdigy, repo: Path) -> None:
    result = run_prodigy("cook", str(MAPREDUCE / "scored.yml"), "-y")
    assert result.exit_code == 0, result.output
    # a9 d8 c7 e6 h5.5 pass the filter; distinct group drops e; offset 1 drops a; max_items keeps two.
    picked = sorted(name for name in tracked_files(repo) if name.startswith("picked-"))
    assert picked == ["picked-c.txt", "picked-d.txt"]
    assert file_at(repo, "picked-d.txt") == "0/2 d 8\n"           # ${item_index} follows the sort order
    assert file_at(repo, "picked-c.txt") == "1/2 c 7\n"
    assert file_at(repo, "reduce-saw.txt") == "2 2\n"
    assert "filter `item.score >= 5 && group != 'w'` kept 5 of 8" in result.stdout
    assert "distinct `group` kept 4 of 5" in result.stdout
    assert "max_items 2 kept 2 of 3" in result.stdout


def test_a_filter_that_selects_nothing_says_so_with_counts(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "none.yml", """\
name: none
mode: mapreduce
map:
  input: "printf '%s\\\\n' one two three"
  filter: "item == 'four'"
  agent_template:
    - shell: "echo never > never.txt && git add . && git commit -qm never"
reduce:
  - shell: "echo total=${map.total} ok=${map.successful}"
""")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert "filter `item == 'four'` kept 0 of 3" in result.stdout
    assert "no work items selected: 3 found, 0 left" in result.stderr
    assert "total=0 ok=0" in result.stdout
    assert "never.txt" not in tracked_files(repo)


def test_claude_agents_with_validation_and_workflow_env(run_prodigy: RunProdigy, repo: Path,
                                                        fake_claude: FakeClaude) -> None:
    fake_claude.scenario([
        {"match": "^/prodigy-docs-drift-analyze", "actions": []},
        {"match": "^/prodigy-docs-drift-update minor", "actions": [
            {"write": "docs/minor.md", "content": "minor fixes\n"}, {"commit": "Fix minor drift"}]},
        {"match": "^/prodigy-docs-drift-update", "actions": [
            {"write": "docs/{arg:--area}.md", "content": "updated {arg:--area}\n"},
            {"commit": "Update {arg:--area} docs"}]},
        {"match": "^/prodigy-validate-doc-fix --area guide", "calls": [1], "actions": [
            {"write": "{arg:--output}", "content": '{"completion_percentage": 50, "gaps": {"x": {}}}'}]},
        {"match": "^/prodigy-validate-doc-fix", "actions": [
            {"write": "{arg:--output}", "content": '{"completion_percentage": 100}'}]},
        {"match": "^/prodigy-complete-doc-fix", "actions": [
            {"write": "docs/{arg:--area}-more.md", "content": "more\n"}, {"commit": "Complete {arg:--area}"}]},
    ])
    result = run_prodigy("cook", str(MAPREDUCE / "drift-claude.yml"), "-y")
    assert result.exit_code == 0, result.output
    files = tracked_files(repo)
    assert {"docs/readme.md", "docs/guide.md", "docs/api.md", "docs/guide-more.md", "docs/minor.md"} <= set(files)
    assert file_at(repo, "drift-summary.txt") == "agents: 3, fixed: 3, failed: 0\n"
    calls = fake_claude.calls()
    updates = [call for call in calls if call["prompt"].startswith("/prodigy-docs-drift-update --area")]
    assert sorted(call["prompt"] for call in updates) == [
        f"/prodigy-docs-drift-update --area {area} --project Demo" for area in ("api", "guide", "readme")]
    # Each agent ran in its own worktree with its item's id; setup and reduce in the session's.
    assert len({call["cwd"] for call in updates}) == 3
    assert sorted(call["env"]["PRODIGY_ITEM_ID"] for call in updates) == ["item_0", "item_1", "item_2"]
    assert all(call["env"]["PRODIGY_WORKTREE"].endswith(call["env"]["PRODIGY_ITEM_ID"]) for call in updates)
    session_calls = [call for call in calls if "PRODIGY_ITEM_ID" not in call["env"]]
    assert {Path(call["cwd"]).name for call in session_calls} == {session_id_of(result.stdout)}
    assert "Map: 3 items to run, up to 2 agents at once" in result.stdout     # max_parallel: ${MAX_PARALLEL}


def test_dry_run_prints_the_plan_and_creates_nothing(run_prodigy: RunProdigy, repo: Path,
                                                     prodigy_home: Path) -> None:
    result = run_prodigy("cook", str(MAPREDUCE / "scored.yml"), "--dry-run")
    assert result.exit_code == 0, result.output
    assert "MapReduce workflow: scored" in result.stdout
    assert "filter: item.score >= 5 && group != 'w'" in result.stdout
    assert "Dry run: nothing was executed." in result.stdout
    assert not (prodigy_home / "worktrees").exists()


def test_validate_accepts_a_mapreduce_file_and_names_a_misspelt_key(run_prodigy: RunProdigy, repo: Path) -> None:
    ok = run_prodigy("validate", str(MAPREDUCE / "three-files.yml"))
    assert ok.exit_code == 0, ok.output
    assert "valid MapReduce workflow 'three-files'" in ok.stdout
    wf = write(repo / "typo.yml", "name: t\nmode: mapreduce\nmap:\n  input: x.json\n  agent_template:\n"
                                  "    - shell: 'true'\nreduec:\n  - shell: 'true'\n")
    bad = run_prodigy("validate", str(wf))
    assert bad.exit_code == 2
    assert "typo.yml:7" in bad.stderr and "did you mean `reduce`?" in bad.stderr


def test_a_cluster_run_of_a_mapreduce_file_naming_an_unknown_cluster_is_refused_before_anything_happens(
        run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    result = run_prodigy("cook", str(MAPREDUCE / "three-files.yml"), "--cluster", "dev", "-y")
    assert result.exit_code == 2
    assert "unknown cluster 'dev'" in result.stderr
    assert not (prodigy_home / "worktrees").exists()


def test_each_agents_output_is_kept_and_shown_by_logs(run_prodigy: RunProdigy, repo: Path) -> None:
    result = run_prodigy("cook", str(MAPREDUCE / "three-files.yml"), "-y")
    assert result.exit_code == 0, result.output
    session = session_id_of(result.stdout)
    listing = run_prodigy("logs", session)
    assert listing.exit_code == 0, listing.output
    assert [line.split()[0] for line in listing.stdout.splitlines()[1:]] == ["item_0", "item_1", "item_2"]
    shown = run_prodigy("logs", session, "--agent", "1")
    assert shown.exit_code == 0, shown.output
    assert "agent for beta (id 2)" in shown.stdout and "item_1 attempt 1" in shown.stdout
    missing = run_prodigy("logs", session, "--agent", "7")
    assert missing.exit_code == 2 and "item_7" in missing.stderr


def test_items_from_a_command_and_the_json_of_an_item(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "cmd.yml", """\
name: from-command
mode: mapreduce
map:
  input: "printf '%s\\\\n' '{\\"n\\": 1, \\"tags\\": [\\"x\\"]}' plain-line"
  sort_by: n
  max_parallel: 1
  agent_template:
    - shell: |
        echo '${item}' > item-${item_index}.json
        git add . && git commit -qm "item ${item_index} of ${item_total}"
reduce:
  - shell: "echo '${map.results[1].item}' > second.txt && git add . && git commit -qm second"
""")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 0, result.output
    assert json.loads(file_at(repo, "item-0.json")) == {"n": 1, "tags": ["x"]}
    assert file_at(repo, "item-1.json") == "plain-line\n"
    assert "item 1 of 2" in log_subjects(repo)
    assert file_at(repo, "second.txt") == "plain-line\n"


def test_on_a_terminal_the_map_phase_is_a_live_display(repo: Path, fake_claude: FakeClaude) -> None:
    import os
    import pty
    import select
    import sys

    pid, fd = pty.fork()
    if pid == 0:                                                     # the child: prodigy on a terminal
        try:
            os.chdir(repo)
            os.execve(sys.executable, [sys.executable, "-m", "prodigy", "run", str(MAPREDUCE / "three-files.yml"),
                                       "-y"], {**fake_claude.env(), "COLUMNS": "100"})
        finally:
            os._exit(127)                                            # never return into pytest
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 120)
        if not ready:
            break
        try:
            data = os.read(fd, 65536)
        except OSError:                                              # the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    screen = b"".join(chunks).decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 0, screen
    assert "━" in screen                                             # the progress bar
    assert "3/3 items done · 0 running" in screen
    assert all(f"item_{n} merged 1 commit" in screen for n in range(3))
    assert "[item_0] started" not in screen                          # not the plain-line form
    assert "found 3 result files" in screen
