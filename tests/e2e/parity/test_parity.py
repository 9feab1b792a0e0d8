"""A cluster run ends exactly like a local run: same trees, commit messages, authors, exit codes."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from testing.repos import git

from .conftest import PRODIGY, Outcome, Parity

pytestmark = pytest.mark.timeout(420)


def assert_merged_alike(local: Outcome, cluster: Outcome, expected_exit: int = 0) -> None:
    assert local.exit_code == expected_exit, local.output
    assert cluster.exit_code == local.exit_code, cluster.output
    assert cluster.tree("main") == local.tree("main")
    assert cluster.history("main") == local.history("main")
    for side in (local, cluster):   # merged and cleaned up: no session branch left behind
        assert git(side.repo, "branch", "--list", "prodigy-session-*").strip() == "", side.output


def assert_kept_alike(local: Outcome, cluster: Outcome) -> None:
    """A failed run: same exit code, same partial commits on the kept session branch, main untouched."""
    assert local.exit_code == 1, local.output
    assert cluster.exit_code == 1, cluster.output
    for side in (local, cluster):
        assert git(side.repo, "rev-parse", "main").strip() == side.base
        session = side.session_branch().removeprefix("prodigy-")
        assert f"Resume with: prodigy resume {session}" in side.output
        assert (side.home / "worktrees" / side.repo.name / session).is_dir()
    assert cluster.history(cluster.session_branch()) == local.history(local.session_branch())
    assert cluster.tree(cluster.session_branch()) == local.tree(local.session_branch())


SHELL_COMMITS = """\
name: shell-commits
commands:
  - shell: "printf 'v2\\n' > src/app.txt && git mv src/old_name.txt src/new_name.txt && git rm -q doomed.txt && git commit -qam 'edit, rename, delete'"
  - shell: "ln -s src/app.txt app-link && printf '#!/bin/sh\\n' > run.sh && chmod +x run.sh && chmod -x tool.sh && git add -A && git commit -qm 'link and modes'"
  - shell: "git commit -q --allow-empty -m 'an empty commit'"
"""


def test_shell_commits_with_renames_deletions_links_modes_and_an_empty_commit(parity: Parity) -> None:
    local, cluster = parity.run_both(SHELL_COMMITS)

    assert_merged_alike(local, cluster)
    subjects = [line.split("|")[2] for line in cluster.history("main")]
    assert subjects[:3] == ["edit, rename, delete", "link and modes", "an empty commit"]
    assert os.readlink(cluster.repo / "app-link") == "src/app.txt"
    assert os.access(cluster.repo / "run.sh", os.X_OK) and not os.access(cluster.repo / "tool.sh", os.X_OK)
    assert "Test Author <author@example.com>" in cluster.history("main")[0]


def test_fake_claude_commits(parity: Parity) -> None:
    scenario = [{"match": "^/implement", "actions": [{"write": "feature.txt", "content": "implemented 7\n"},
                                                     {"commit": "implement spec 7"}]}]
    # The last step prints the fake's call log where it ran: inside the pod on the cluster side.
    workflow = '- claude: "/implement 7"\n  commit_required: true\n- shell: "cat \\"$FAKE_CLAUDE_LOG\\""\n'
    local, cluster = parity.run_both(workflow, scenario=scenario)

    assert_merged_alike(local, cluster)
    assert (cluster.repo / "feature.txt").read_text() == "implemented 7\n"
    calls = [json.loads(found) for found in re.findall(r'\{"argv".*\}', cluster.stdout)]
    assert [c["prompt"] for c in calls] == ["/implement 7"]          # Claude ran in the pod, once
    assert calls[0]["cwd"] == "/workspace/repo" or calls[0]["cwd"].endswith("/repo")


ON_FAILURE = """\
- shell: "test -f fixed"
  on_failure:
    claude: "/fix ${shell.output}"
    max_attempts: 3
    fail_workflow: true
"""


def test_on_failure_fix_loop(parity: Parity) -> None:
    scenario = [{"match": "^/fix", "actions": [{"write": "fixed", "content": "ok\n"}, {"commit": "fix: create fixed"}]}]
    local, cluster = parity.run_both(ON_FAILURE, scenario=scenario)

    assert_merged_alike(local, cluster)
    assert [line.split("|")[2] for line in cluster.history("main")][0] == "fix: create fixed"


VALIDATE = """\
- claude: "/implement"
  validate:
    claude: "/check"
    result_file: ".prodigy/validation.json"
    threshold: 100
    on_incomplete:
      claude: "/complete --missing ${validation.missing}"
      fail_workflow: true
"""


def _validation(percent: int) -> str:
    return json.dumps({"completion_percentage": percent, "status": "incomplete" if percent < 100 else "complete",
                       "implemented": ["a"], "missing": [] if percent == 100 else ["b"], "gaps": {}})


def test_validate_and_on_incomplete_loop(parity: Parity) -> None:
    scenario = [
        {"match": "^/implement", "actions": [{"write": "a.txt", "content": "a\n"}, {"commit": "implement a"}]},
        {"match": "^/check", "calls": [1], "actions": [{"write": ".prodigy/validation.json", "content": _validation(60)}]},
        {"match": "^/check", "actions": [{"write": ".prodigy/validation.json", "content": _validation(100)}]},
        {"match": "^/complete", "actions": [{"write": "b.txt", "content": "b\n"}, {"commit": "complete b"}]},
    ]
    local, cluster = parity.run_both(VALIDATE, scenario=scenario)

    assert_merged_alike(local, cluster)
    assert "Validation passed" in cluster.stdout


def test_failing_step_after_partial_commits_keeps_them_for_resume(parity: Parity) -> None:
    workflow = ("- shell: \"echo one > one.txt && git add one.txt && git commit -qm 'step 1'\"\n"
                "- shell: \"echo two > two.txt && git add two.txt && git commit -qm 'step 2'\"\n"
                "- shell: \"echo broken; exit 3\"\n"
                "- shell: \"echo never\"\n")
    local, cluster = parity.run_both(workflow)

    assert_kept_alike(local, cluster)
    assert [line.split("|")[2] for line in cluster.history(cluster.session_branch())] == ["step 1", "step 2"]


def test_no_commit_workflow_skips_the_merge(parity: Parity) -> None:
    local, cluster = parity.run_both('- shell: "echo nothing to commit here"\n')

    assert_merged_alike(local, cluster)
    for side in (local, cluster):
        assert git(side.repo, "rev-parse", "main").strip() == side.base
        assert "nothing to commit here" in side.stdout


BINARY = """\
- shell: "python3 -c \\"import hashlib,sys; b=b''.join(hashlib.sha256(i.to_bytes(4,'big')).digest() for i in range(163840)); open('big.bin','wb').write(b)\\" && git add big.bin && git commit -qm 'add a 5 MiB binary'"
"""


def test_five_mib_binary_file(parity: Parity) -> None:
    local, cluster = parity.run_both(BINARY)

    assert_merged_alike(local, cluster)
    data = (cluster.repo / "big.bin").read_bytes()
    assert len(data) == 5 * 1024 * 1024
    assert data == (local.repo / "big.bin").read_bytes()


MERGE_BLOCK = """\
commands:
  - shell: "echo feature > feature.txt && git add feature.txt && git commit -qm 'feature'"
merge:
  - shell: "echo custom-merge ${merge.source_branch} into ${merge.target_branch}"
  - shell: "cd \\"$(git rev-parse --path-format=absolute --git-common-dir)/..\\" && git merge -q --no-ff ${merge.source_branch} -m 'custom merge of the session'"
"""


def test_merge_block_runs_locally_after_a_cluster_run(parity: Parity) -> None:
    local, cluster = parity.run_both(MERGE_BLOCK)

    assert_merged_alike(local, cluster)
    assert git(cluster.repo, "log", "-1", "--format=%s", "main").strip() == "custom merge of the session"
    assert "custom-merge prodigy-session-" in cluster.stdout


def test_remote_mode_clones_from_a_bare_repository_and_pushes_the_session_branch(
        parity_on_process_node: Parity) -> None:
    # On the process node agent: the "remote" is a bare repository on this machine
    # (file://). Pods of the real node cannot reach it: they have no network by design
    # (testcluster/realnode/podnet.py) and see no host path, and this machine has no git server.
    parity = parity_on_process_node
    bare = parity.root / "remote.git"
    git(parity.root, "clone", "-q", "--bare", str(parity.template), str(bare))
    local, cluster = parity.run_both(SHELL_COMMITS, repo_entry={"mode": "remote", "remote_url": f"file://{bare}"})

    assert_merged_alike(local, cluster)
    pushed = git(bare, "branch", "--list", "prodigy-session-*").split()
    assert len(pushed) == 1   # the pod pushed its branch; the CLI fetched it from there
    assert "cloned file://" in cluster.stdout


def test_repository_over_the_cap_fails_before_anything_is_created(parity: Parity) -> None:
    (parity.template / "noise.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    git(parity.template, "add", "-A")
    git(parity.template, "commit", "-q", "-m", "3 MiB of noise")

    cluster = parity.run("cluster", '- shell: "echo hi"\n', repo_entry={"max_bundle_mib": 1})

    assert cluster.exit_code == 2, cluster.output
    assert "too large for bundle mode" in cluster.stderr and "mode: remote" in cluster.stderr
    assert parity.prodigy_objects() == []
    assert git(cluster.repo, "branch", "--list", "prodigy-session-*").strip() == ""
    assert not (cluster.home / "worktrees").exists()


def test_resume_continues_a_failed_cluster_run_from_its_checkpoint(parity: Parity) -> None:
    workflow = ("- shell: \"echo one > one.txt && git add one.txt && git commit -qm 'step 1'\"\n"
                "- shell: \"if [ -f retry ]; then echo second try; else echo 1 > retry && git add retry && "
                "git commit -qm 'recorded a try' && exit 3; fi\"\n"
                "- shell: \"echo three > three.txt && git add three.txt && git commit -qm 'step 3'\"\n")
    first = parity.run("cluster", workflow)
    assert first.exit_code == 1, first.output
    session = first.session_branch().removeprefix("prodigy-")
    assert f"Resume with: prodigy resume {session}" in first.output

    env = {**os.environ, "PRODIGY_HOME": str(first.home), "KUBECONFIG": str(parity.cluster.kubeconfig)}
    resumed = subprocess.run([str(PRODIGY), "resume", session, "-y"],
                             cwd=first.repo, env=env, capture_output=True, text=True, timeout=180, check=False)

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    subjects = [line.split("|")[2] for line in first.history("main")]
    assert subjects[:3] == ["step 1", "recorded a try", "step 3"]
    assert "second try" in resumed.stdout
    assert "Created worktree" not in resumed.stdout     # the resume reuses the session's worktree, as locally


SLOW_COMMIT = ("- shell: \"echo done > done.txt && git add done.txt && git commit -qm 'made while the client was gone'\"\n"
               "- shell: \"sleep 4; echo finished\"\n")


@pytest.mark.parametrize("pick_up", ["resume", "collect"])
def test_a_killed_client_picks_up_the_finished_job(parity: Parity, pick_up: str) -> None:
    side = parity.prepare("cluster", SLOW_COMMIT)
    client = subprocess.Popen(side.command, cwd=side.repo, env=side.env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        parity.wait_until(lambda: parity.pod_phases() == ["Running"], timeout=60, what="the pod runs")
    finally:
        client.kill()                      # SIGKILL: no cleanup, no collection
        client.wait(timeout=10)
    parity.cluster.kubectl("-n", parity.namespace, "wait", "--for=condition=complete", "job", "-l", "app=prodigy",
                           "--timeout=90s")
    (metadata_file,) = (side.home / "worktrees" / side.repo.name / ".metadata").glob("session-*.json")
    record = json.loads(metadata_file.read_text())
    name = record["session_id"] if pick_up == "resume" else record["cluster"]["run_id"]
    command = ["resume", name, "-y"] if pick_up == "resume" else ["cluster", "collect", name, "-y"]

    picked = subprocess.run([str(PRODIGY), *command], cwd=side.repo, env=side.env, capture_output=True, text=True,
                            timeout=120, check=False)

    assert picked.returncode == 0, picked.stdout + picked.stderr
    assert "Collecting the results of Job" in picked.stdout
    assert git(side.repo, "log", "-2", "--format=%s", "main").split("\n")[1] == "made while the client was gone"
    assert parity.pod_phases() == ["Succeeded"]          # nothing was run again
