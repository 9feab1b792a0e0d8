"""The application layer's part of detached runs, without a cluster: which runs a repository's
table shows, what the sessions say about collection, one finishing client per run, and the
workflow text a later client finishes with."""

from __future__ import annotations

import io
import multiprocessing
import re
from pathlib import Path

import pytest

from prodigy import paths
from prodigy.app.detach import next_steps
from prodigy.app.attach import submitted_workflow
from prodigy.app.existing import RunClaimed, claim, find_run
from prodigy.app.runs import Sessions, select_records
from prodigy.k8s import runindex
from prodigy.k8s.executor import DetachedRun
from prodigy.k8s.runindex import RunRecord
from prodigy.repo import worktrees
from prodigy.repo.locks import session_lock
from prodigy.repo.placement import ClusterPlacement, mark_collected, place
from prodigy.ui.console import Console
from testing.repos import make_repo


def record(run_id: str, repo: str | None, cluster: str = "dev", session: str | None = None) -> RunRecord:
    return RunRecord(run_id=run_id, cluster=cluster, namespace="ns", job="j", workflow="w", submitted_at="t",
                     repo=repo, session_id=session)


def test_a_repository_sees_its_own_runs_newest_last_and_all_shows_every_one() -> None:
    records = [record("old0000001", "/src/a"), record("other00002", "/src/b"), record("legacy0003", None),
               record("fromsess04", None), record("elsewhere5", "/src/a", cluster="prod"), record("new0000006", "/src/a")]
    by_session = {"fromsess04": "/src/a"}      # an old record without a repo, whose session says where
    mine = select_records(records, repo=Path("/src/a"), cluster=None, session_repos=by_session, limit=20)
    assert [r.run_id for r in mine] == ["old0000001", "fromsess04", "elsewhere5", "new0000006"]
    assert [r.run_id for r in select_records(records, repo=Path("/src/a"), cluster="dev", session_repos=by_session,
                                             limit=2)] == ["fromsess04", "new0000006"]
    assert len(select_records(records, repo=None, cluster=None, session_repos={}, limit=20)) == 6


def _placed_session(repo: Path, run_id: str) -> worktrees.Session:
    session = worktrees.create_session(repo, original_branch="main")
    return place(session, ClusterPlacement(cluster="dev", namespace="ns", job=f"prodigy-w-{run_id}", run_id=run_id,
                                           base_sha="a" * 40))


def test_collection_comes_from_the_sessions_and_their_removal_records(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"README.md": "x\n"})
    waiting = _placed_session(repo, "waiting001")
    home = mark_collected(_placed_session(repo, "collected2"), "b" * 40)
    merged = _placed_session(repo, "merged0003")
    worktrees.remove_session(worktrees.update(merged, status=worktrees.SessionStatus.MERGED), force=True)
    sessions = Sessions.read()
    records = [record("waiting001", None, session=waiting.id), record("collected2", None, session=home.id),
               record("merged0003", None, session=merged.id), record("unknown004", None)]
    assert sessions.collected_by_run(records) == {"waiting001": "no", "collected2": "yes", "merged0003": "merged"}
    assert sessions.repos["waiting001"] == str(repo)


def test_a_run_is_found_by_run_id_in_the_index_or_by_its_session(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"README.md": "x\n"})
    session = _placed_session(repo, "placed0001")
    runindex.record_submitted(run_id="indexed002", cluster="dev", context=None, namespace="ns", job="prodigy-w-x",
                              workflow="w", image="img")
    assert find_run("indexed002").job == "prodigy-w-x"
    assert find_run(session.id).run_id == "placed0001"          # not in the index: from the placement
    assert find_run("placed0001").job == "prodigy-w-placed0001"
    with pytest.raises(Exception, match="no cluster run 'nope' is known here"):
        find_run("nope")


def _hold(state_dir: str, session_id: str, ready: multiprocessing.synchronize.Event,
          done: multiprocessing.synchronize.Event) -> None:
    with session_lock(Path(state_dir), session_id):
        ready.set()
        done.wait(30)


def test_a_second_client_is_refused_while_one_finishes_the_run(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"README.md": "x\n"})
    session = _placed_session(repo, "claimed001")
    placement = ClusterPlacement("dev", "ns", "j", "claimed001", "a" * 40)
    ready, done = multiprocessing.Event(), multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold, args=(str(paths.state_dir(session.id)), session.id, ready, done))
    holder.start()
    try:
        assert ready.wait(30)
        with pytest.raises(RunClaimed) as refused:
            with claim(session, placement):
                pytest.fail("a second client must not get the run")
        assert refused.value.message == (f"run claimed001 (session {session.id}) is already attached: process "
                                         f"{holder.pid} follows it and will collect and merge it, and only one "
                                         "client may finish a run")
        assert refused.value.exit_code == 2
        assert "prodigy cluster logs claimed001 -f" in (refused.value.hint or "")
    finally:
        done.set()
        holder.join(30)
    with claim(session, placement):       # released when its holder ended
        pass


def test_a_later_client_finishes_with_the_workflow_text_the_run_was_submitted_with(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "project", {"README.md": "x\n"})
    session = worktrees.update(_placed_session(repo, "textrun001"), workflow_path=str(repo / "wf.yml"))
    (repo / "wf.yml").write_text("- shell: echo edited since\n")
    submitted = "commands:\n  - shell: echo as submitted\nmerge:\n  - shell: echo merge block\n"
    err = io.StringIO()
    workflow = submitted_workflow(submitted, session, Console(err=err))
    assert workflow is not None and workflow.merge is not None
    edited = submitted_workflow(None, session, Console(err=err))           # the ConfigMap is gone
    assert edited is not None and edited.merge is None
    (repo / "wf.yml").unlink()
    assert submitted_workflow(None, session, Console(err=err)) is None
    assert "a merge: block it has will not run" in err.getvalue()


def test_a_detached_submission_says_how_to_find_the_run_again() -> None:
    lines = next_steps(DetachedRun("k3x9q2m7ab", "session-1", "prodigy-w-k3x9q2m7ab", "dev", "ns"))
    assert lines[0] == "Detached: run k3x9q2m7ab runs as Job prodigy-w-k3x9q2m7ab on cluster dev (namespace ns)"
    assert lines[1] == "Session: session-1"
    parts = [re.fullmatch(r"  (\S.*?\S)( {3,})(\S.*)", line) for line in lines[2:]]
    assert all(parts)
    assert [p.group(1) for p in parts if p] == ["prodigy cluster runs", "prodigy cluster logs k3x9q2m7ab -f",
                                                "prodigy cluster attach k3x9q2m7ab",
                                                "prodigy cluster cancel k3x9q2m7ab"]
    assert len({p.start(3) for p in parts if p}) == 1        # the descriptions line up


def test_detach_needs_a_cluster_and_no_resume() -> None:
    from prodigy.app.run import check_detach
    from prodigy.errors import UsageError
    from prodigy.options import RunOptions

    with pytest.raises(UsageError, match="--detach needs --cluster NAME"):
        check_detach(RunOptions(workflow_path=Path("w.yml"), repo_path=Path("."), detach=True))
    with pytest.raises(UsageError, match="--detach cannot be combined with --resume"):
        check_detach(RunOptions(workflow_path=Path("w.yml"), repo_path=Path("."), detach=True, cluster="dev",
                                resume_session="session-1"))
    check_detach(RunOptions(workflow_path=Path("w.yml"), repo_path=Path("."), detach=True, cluster="dev"))
