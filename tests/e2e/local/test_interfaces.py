"""The two entry points the Kubernetes path builds on, exercised with real git:

- `prodigy.local.executor.execute`: run a workflow in a given directory (the pod's checkout),
  no worktree, no prompt, no merge, checkpoints in a given state dir, resumable;
- `worktrees.adopt_branch` + `prodigy.app.finish`: a branch made elsewhere, finished
  exactly like a local run.
"""

from __future__ import annotations

import io
from pathlib import Path

from prodigy.repo import worktrees
from prodigy.app.finish import FinishPrefs, finish_reported
from prodigy.local.executor import ExecutionRequest, execute
from prodigy.ui.console import Console
from prodigy.workflow.loader import parse_workflow
from prodigy.workflow.model import Workflow
from prodigy.workflow.result import ExecutionResult, ExecutionStatus
from testing.repos import branches, commit_files, git, log_subjects

from .conftest import write


def _workflow(text: str, path: Path) -> Workflow:
    return parse_workflow(text, path).workflow


def test_execute_runs_in_place_and_resumes_from_its_state_dir(repo: Path, tmp_path: Path) -> None:
    wf = _workflow("- shell: \"echo a > a.txt && git add a.txt && git commit -qm a\"\n"
                   "- shell: 'test -f go'\n- shell: echo done\n", repo / "wf.yml")
    state = tmp_path / "state"
    out = io.StringIO()
    request = ExecutionRequest(workflow=wf, workdir=repo, state_dir=state, session_id="session-pod")
    first = execute(request, Console(out=out, err=out))
    assert first.status is ExecutionStatus.FAILED and first.exit_code == 1
    assert first.failed_step == "shell: test -f go" and "failed with exit code 1" in (first.error or "")
    assert first.steps_completed == 1 and first.steps_total == 3
    assert [git(repo, "log", "-1", "--format=%s", sha).strip() for sha in first.commits] == ["a"]
    assert first.to_json()["commits"] == 1
    assert git(repo, "worktree", "list").count("\n") == 1          # no worktree was created
    (repo / "go").write_text("")
    second = execute(ExecutionRequest(workflow=wf, workdir=repo, state_dir=state, session_id="session-pod",
                                      resume=True), Console(out=out, err=out))
    assert second.status is ExecutionStatus.COMPLETED and second.exit_code == 0
    assert second.steps_completed == 3
    assert log_subjects(repo).count("a") == 1
    assert [git(repo, "log", "-1", "--format=%s", sha).strip() for sha in second.commits] == ["a"]              # counted from the original base


def test_adopted_branch_finishes_like_a_local_run(repo: Path, prodigy_home: Path) -> None:
    session_id = "session-11111111-2222-3333-4444-555555555555"
    git(repo, "branch", f"prodigy-{session_id}")
    base = git(repo, "rev-parse", "HEAD").strip()
    git(repo, "checkout", "-q", f"prodigy-{session_id}")
    commit_files(repo, {"remote.txt": "made in a pod\n"}, "work from the pod")
    git(repo, "checkout", "-q", "main")
    session = worktrees.adopt_branch(repo, session_id, original_branch="main", base_sha=base,
                                     extra={"cluster": {"name": "kind-dev", "namespace": "ci"}})
    assert session.path.is_dir() and session.metadata.extra["cluster"]["name"] == "kind-dev"
    wf = _workflow("- shell: echo pod\n", write(repo / "wf.yml", "- shell: echo pod\n"))
    out = io.StringIO()
    result = ExecutionResult(status=ExecutionStatus.COMPLETED, exit_code=0, steps_completed=1, steps_total=1,
                             steps_skipped=0, duration=2.0, base_sha=base, head_sha=None)
    code = finish_reported(session, wf, result, FinishPrefs(yes=True), Console(out=out, err=out))
    assert code == 0, out.getvalue()
    assert "1 commit" in out.getvalue() and "work from the pod" in out.getvalue()
    assert log_subjects(repo)[0] == f"Merge worktree 'prodigy-{session_id}' into main"
    assert f"prodigy-{session_id}" not in branches(repo)
    assert not session.path.exists()


def test_adopted_branch_of_a_failed_run_is_kept_with_its_extra_metadata(repo: Path) -> None:
    session_id = "session-66666666-2222-3333-4444-555555555555"
    git(repo, "branch", f"prodigy-{session_id}")
    session = worktrees.adopt_branch(repo, session_id, original_branch="main",
                                     extra={"cluster": {"name": "kind-dev"}})
    wf = _workflow("- shell: 'exit 1'\n", repo / "wf.yml")
    out = io.StringIO()
    result = ExecutionResult(status=ExecutionStatus.FAILED, exit_code=1, steps_completed=0, steps_total=1,
                             steps_skipped=0, duration=1.0, base_sha=None, head_sha=None,
                             failed_step="shell: exit 1", error="Step 'shell: exit 1' failed with exit code 1")
    assert finish_reported(session, wf, result, FinishPrefs(yes=True), Console(out=out, err=out)) == 1
    assert f"Resume with: prodigy resume {session_id}" in out.getvalue()
    reloaded = worktrees.load_session(session_id)
    assert reloaded.metadata.status is worktrees.SessionStatus.FAILED
    assert reloaded.metadata.extra == {"cluster": {"name": "kind-dev"}}
    assert session.path.is_dir()
