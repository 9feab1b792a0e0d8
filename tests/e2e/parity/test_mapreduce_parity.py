"""Parity of MapReduce workflows: the same file, from the same commit, run locally and on the test
cluster ends with the same tree, the same agent commits, the same dead-letter queue and the same
reduce output.

How parity is compared: commit ids differ between the two runs only because commits record the
time they were made (author and committer dates); everything else must be equal. So for every
commit after the base we compare author, committer, subject and tree (`Outcome.history`), the
agents' own commits as a set (agents finish in a different order on each side, so the merges
interleave differently), the merge commits' subjects as a set (session ids normalised), and the
final tree of the user's branch exactly. The dead-letter queue is compared by item id, failed step
and error; the reduce output byte for byte.

The cluster side reaches the fake `claude` as the other parity tests do (the test image on the real
node, the pod's PATH on the process node); the MapReduce steps themselves are `shell:` only.
"""

from __future__ import annotations

import json
import subprocess
from typing import Any

import pytest

from testing.repos import git, path_without_claude

from .conftest import SESSION_ID, Outcome, Parity

pytestmark = pytest.mark.timeout(600)

NOTES = """\
name: notes
mode: mapreduce
env:
  GREETING: hello
setup:
  - shell: |
      cat > notes.json <<'JSON'
      {"notes": [
        {"id": 1, "title": "install", "priority": 3},
        {"id": 2, "title": "configure", "priority": 1},
        {"id": 3, "title": "upgrade", "priority": 2},
        {"id": 4, "title": "rollback", "priority": 5},
        {"id": 5, "title": "broken", "priority": 4}
      ]}
      JSON
  - shell: "echo prepared > setup.txt && git add setup.txt && git commit -qm 'Prepare the notes'"
map:
  input: notes.json
  json_path: "$.notes[*]"
  filter: "item.priority >= 2"
  sort_by: "priority DESC"
  max_parallel: 2
  agent_template:
    - shell: "test '${item.title}' != broken"
    - shell: |
        mkdir -p notes
        printf '%s: %s, item %s of %s\\n' "$GREETING" "${item.title}" "${item_index}" "${item_total}" \\
          > notes/${item.title}.md
        git add notes && git commit -q -m "Write the ${item.title} note"
reduce:
  - shell: |
      echo "${map.successful} of ${map.total} written, ${map.failed} failed (${map.success_rate}%)" > SUMMARY.md
      git add SUMMARY.md && git commit -q -m "Summarise ${map.total} notes"
"""


def normalised(text: str) -> str:
    return SESSION_ID.sub("session-<id>", text)


def agent_commits(outcome: Outcome) -> list[str]:
    out = git(outcome.repo, "log", "--no-merges", "--format=%an <%ae>|%cn <%ce>|%s|%T", f"{outcome.base}..main")
    return sorted(out.splitlines())


def merge_subjects(outcome: Outcome) -> list[str]:
    out = git(outcome.repo, "log", "--merges", "--format=%s", f"{outcome.base}..main")
    return sorted(normalised(line) for line in out.splitlines())


def dead_letters(outcome: Outcome) -> dict[str, Any]:
    (queue_file,) = (outcome.home / "dlq").glob("*/*.json")
    queue = json.loads(queue_file.read_text())
    return {item["item_id"]: (item["item"], [(f["step"], f["error"]) for f in item["failures"]])
            for item in queue["items"]}


def test_a_mapreduce_file_ends_the_same_locally_and_on_the_cluster(parity: Parity) -> None:
    local, cluster = parity.run_both(NOTES, timeout=400)
    assert local.exit_code == 0, local.output
    assert cluster.exit_code == 0, cluster.output
    assert "on cluster parity" in cluster.output and "Map: 4 items to run, up to 2 agents at once" in cluster.output

    assert local.tree("main") == cluster.tree("main")
    assert agent_commits(local) == agent_commits(cluster)
    assert len(agent_commits(cluster)) == 5          # setup, 3 agents, reduce
    assert merge_subjects(local) == merge_subjects(cluster)
    assert dead_letters(local) == dead_letters(cluster)
    assert list(dead_letters(cluster)) == ["item_1"]  # "broken" is second by priority
    assert git(local.repo, "show", "main:SUMMARY.md") == git(cluster.repo, "show", "main:SUMMARY.md") == \
        "3 of 4 written, 1 failed (75%)\n"
    assert git(cluster.repo, "show", "main:notes/rollback.md") == "hello: rollback, item 0 of 4\n"
    # Nothing is left behind on either side but the failed item's evidence.
    assert git(cluster.repo, "branch", "--format=%(refname:short)").split() == ["main"]


CONFLICT = """\
name: conflict
mode: mapreduce
map:
  input: "printf '%s\\\\n' alpha beta"
  max_parallel: 1
  agent_template:
    - shell: "echo ${item} >> shared.txt && git add shared.txt && git commit -qm add-${item}"
"""

MERGE_SCENARIO = [{"match": "^/prodigy-merge-worktree", "actions": [{"merge": "union"}]}]


def test_a_merge_conflict_is_resolved_by_claude_in_the_cluster_without_a_local_claude(
        parity_on_process_node: Parity) -> None:
    # On the process node: the fake claude's call log (where it ran) is a file on this machine.
    parity = parity_on_process_node
    local = parity.run("local", CONFLICT, scenario=MERGE_SCENARIO, timeout=300)
    prepared = parity.prepare("cluster", CONFLICT, scenario=MERGE_SCENARIO)
    prepared.env["PATH"] = path_without_claude(prepared.env)       # this machine has no Claude at all
    proc = subprocess.run(prepared.command, cwd=prepared.repo, env=prepared.env, capture_output=True, text=True,
                          timeout=400, check=False)
    cluster = Outcome(proc.returncode, proc.stdout, proc.stderr, prepared.repo, prepared.home, prepared.base)
    assert local.exit_code == 0, local.output
    assert cluster.exit_code == 0, cluster.output
    assert "resolving them in the cluster" in cluster.output
    calls = [json.loads(line) for line in (prepared.home.parent / "fake-claude" / "calls.jsonl").read_text()
             .splitlines()]
    assert [call["cwd"] for call in calls] == ["/workspace/repo"]            # in the merge pod
    assert calls[0]["prompt"].startswith("/prodigy-merge-worktree prodigy-agent-session-")
    assert git(cluster.repo, "show", "main:shared.txt") == "alpha\nbeta\n"
    assert local.tree("main") == cluster.tree("main")
    assert merge_subjects(local) == merge_subjects(cluster)
