"""Paths stay inside (containment, --map), and state files are checked before they are trusted."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest

from prodigy.errors import UsageError
from prodigy.local import checkpoints
from prodigy.repo import worktrees
from prodigy.local.checkpoints import Checkpoint, CheckpointError
from prodigy.local.containment import PathRefused, Roots, contain
from prodigy.local.map_inputs import map_matches
from prodigy.redact import MASK, Redactor


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """worktree/ with sub/, a symlink to a directory outside, a symlink inside; outside/ next to it."""
    worktree = tmp_path / "worktree"
    (worktree / "sub").mkdir(parents=True)
    (tmp_path / "outside").mkdir()
    os.symlink(tmp_path / "outside", worktree / "escape")
    os.symlink("sub", worktree / "alias")
    return worktree


@pytest.mark.parametrize("text", ["out.txt", "sub/x.txt", "alias/x.txt", "new/dir/x.txt", "sub/../x.txt", "."])
def test_paths_that_stay_inside_are_accepted(tree: Path, text: str) -> None:
    assert contain(tree, text, Roots.of((tree,)), what="output_file") == tree / text


@pytest.mark.parametrize("text", ["../x.txt", "../../etc/passwd", "/etc/passwd", "escape/x.txt", "sub/../../x",
                                  "escape"])
def test_paths_that_lead_outside_are_refused(tree: Path, text: str) -> None:
    with pytest.raises(PathRefused) as refused:
        contain(tree, text, Roots.of((tree,)), what="output_file")
    assert f"output_file {text!r} leads outside the worktree" in str(refused.value)
    assert "outside_paths:" in str(refused.value)


def test_outside_paths_is_the_explicit_way_out(tree: Path) -> None:
    outside = str(tree.parent / "outside")
    roots = Roots.of((tree,), [outside])
    assert contain(tree, "escape/x.txt", roots, what="write_file path") == tree / "escape" / "x.txt"
    assert contain(tree, f"{outside}/x.txt", roots, what="write_file path") == Path(outside) / "x.txt"
    with pytest.raises(PathRefused):
        contain(tree, f"{outside}-sibling/x.txt", roots, what="write_file path")   # a prefix is not a parent


@pytest.mark.parametrize("text", ["a\x00b", "", "  "])
def test_no_path_at_all_is_refused(tree: Path, text: str) -> None:
    with pytest.raises(PathRefused):
        contain(tree, text, Roots.of((tree,)), what="working_dir")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "specs").mkdir(parents=True)
    for name in ("1-a.md", "2-b.md"):
        (repo / "specs" / name).write_text(name)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "9-x.md").write_text("x")
    return repo


def _map_error(pattern: str, repo: Path, outside: tuple[str, ...] = ()) -> str:
    with pytest.raises(UsageError) as caught:
        map_matches(pattern, repo, outside)
    assert caught.value.exit_code == 2
    return caught.value.message


def test_map_globs_inside_the_repository(repo: Path) -> None:
    assert [path.name for path in map_matches("specs/*.md", repo)] == ["1-a.md", "2-b.md"]
    assert [path.name for path in map_matches("**/2-*.md", repo)] == ["2-b.md"]
    assert [path.name for path in map_matches(f"{repo}/specs/1-*", repo)] == ["1-a.md"]


def test_map_globs_that_look_outside_are_refused_before_globbing(repo: Path) -> None:
    assert _map_error("", repo) == "--map was given an empty pattern"
    assert _map_error("/etc/*", repo).startswith("--map '/etc/*' looks outside the repository")
    assert _map_error("/**", repo).startswith("--map '/**' looks outside the repository")
    assert _map_error("../elsewhere/*.md", repo).startswith("--map '../elsewhere/*.md' looks outside")
    assert _map_error("specs/../../*", repo).startswith("--map 'specs/../../*' looks outside")
    assert _map_error("nothing/*.md", repo) == f"--map 'nothing/*.md' matched no files in {repo}"


def test_map_matches_are_judged_by_where_their_symlinks_lead(repo: Path) -> None:
    os.symlink(repo.parent / "elsewhere" / "9-x.md", repo / "specs" / "3-link.md")
    message = _map_error("specs/*.md", repo)
    assert "3-link.md -> " in message and "lead outside the repository" in message
    allowed = map_matches("specs/*.md", repo, (str(repo.parent / "elsewhere"),))
    assert [path.name for path in allowed] == ["1-a.md", "2-b.md", "3-link.md"]
    assert [path.name for path in map_matches("../elsewhere/*", repo, (str(repo.parent / "elsewhere"),))] == \
        ["9-x.md"]


# -- checkpoints -----------------------------------------------------------------------------------

def _checkpoint(**state: int) -> Checkpoint:
    return replace(Checkpoint(workflow_id="workflow-1", session_id="session-1", workflow_hash="h", total_steps=2,
                              total_passes=1), **state)


def _saved(tmp_path: Path, data: object) -> Path:
    directory = checkpoints.checkpoints_dir(tmp_path / "session-1")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "workflow-1.checkpoint.json").write_text(data if isinstance(data, str) else json.dumps(data))
    return tmp_path / "session-1"


def _load_error(state_dir: Path) -> CheckpointError:
    with pytest.raises(CheckpointError) as caught:
        checkpoints.load_latest(state_dir)
    assert caught.value.exit_code == 2
    assert "prodigy worktree clean -f session-1" in (caught.value.hint or "")
    return caught.value


@pytest.mark.parametrize(("content", "reason"), [
    ('{"version": 1, "workflow_id": "w', "Unterminated string"),
    ("garbage", "Expecting value"),
    ("[1, 2]", "expected a JSON object, found list"),
])
def test_unreadable_checkpoints_name_the_file_and_the_way_out(tmp_path: Path, content: str, reason: str) -> None:
    error = _load_error(_saved(tmp_path, content))
    assert "the checkpoint of session session-1 cannot be used: " in error.message
    assert "workflow-1.checkpoint.json: " in error.message and reason in error.message


def test_checkpoints_from_another_version_or_past_the_end_are_refused(tmp_path: Path) -> None:
    good = _checkpoint(next_step=1).to_json()
    assert "it has version 2; this prodigy reads version 1" in _load_error(_saved(tmp_path, {**good, "version": 2})).message
    past = {**good, "execution_state": {**good["execution_state"], "next_step": 5}}
    assert "it continues at step 6 of 2, past the end" in _load_error(_saved(tmp_path, past)).message
    negative = {**good, "execution_state": {**good["execution_state"], "next_pass": -1}}
    assert "next_pass` is missing or not a whole number" in _load_error(_saved(tmp_path, negative)).message
    assert checkpoints.load_latest(_saved(tmp_path, good)) == Checkpoint.from_json(good)


def test_a_checkpoint_must_fit_the_workflow_it_resumes() -> None:
    checkpoints.check_resumable(_checkpoint(next_step=1), total_steps=2, total_passes=1, session_id="s")
    checkpoints.check_resumable(_checkpoint(next_pass=1), total_steps=1, total_passes=1, session_id="s")  # finished
    with pytest.raises(CheckpointError, match="continues at step 2, but the workflow now has 1 step"):
        checkpoints.check_resumable(_checkpoint(next_step=1), total_steps=1, total_passes=1, session_id="s")
    with pytest.raises(CheckpointError, match="continues at pass 4, but this run has 2 passes"):
        checkpoints.check_resumable(replace(_checkpoint(next_pass=3), total_passes=4), total_steps=2,
                                    total_passes=2, session_id="s")


def test_saved_checkpoints_are_private_and_mask_secrets(tmp_path: Path) -> None:
    checkpoint = replace(_checkpoint(), variables={"TOKEN": "tok-123456", "out": "said tok-123456"},
                         error="failed with tok-123456")
    path = checkpoints.save(tmp_path, checkpoint, Redactor.of(["tok-123456"]))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    assert "tok-123456" not in text and MASK in text


# -- session metadata --------------------------------------------------------------------------------

def _session_file(home: Path, name: str, data: object) -> Path:
    directory = home / "worktrees" / "repo" / ".metadata"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.json"
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def _metadata(name: str, created: str) -> dict[str, object]:
    return {"session_id": name, "branch": f"prodigy-{name}", "original_branch": "main", "repo_path": "/r",
            "worktree_path": f"/w/{name}", "status": "failed", "created_at": created}


def test_one_unreadable_metadata_file_affects_only_its_session(tmp_path: Path) -> None:
    home = tmp_path / "home"
    _session_file(home, "session-good", _metadata("session-good", "2026-01-01"))
    _session_file(home, "session-list", ["not", "a", "session"])
    _session_file(home, "session-trunc", '{"session_id": "sess')
    _session_file(home, "session-types", {**_metadata("session-types", "2026-01-02"), "created_at": 5})
    sessions, unreadable = worktrees.scan_sessions(home=home)
    assert [session.id for session in sessions] == ["session-good"]
    assert {broken.session_id: broken.reason for broken in unreadable} == {
        "session-list": "expected a JSON object, found list",
        "session-trunc": "Unterminated string starting at: line 1 column 16 (char 15)",
        "session-types": "`created_at` is not a string",
    }
    assert "remove it with: prodigy worktree clean -f session-list" in unreadable[0].message
    with pytest.raises(worktrees.MetadataError) as caught:
        worktrees.load_session("session-list", home=home)
    assert caught.value.exit_code == 2 and "prodigy worktree clean -f session-list" in (caught.value.hint or "")
    assert worktrees.load_session("session-good", home=home).id == "session-good"


# -- a command the system cannot start is a failed run, not a crash ---------------------------------

@pytest.mark.parametrize(("argv", "cwd_name", "expected"), [
    (["sh", "-c", "echo " + "x" * 300_000], ".", "Argument list too long (the command or its environment is too large"),
    (["sh", "-c", "echo a\x00b"], ".", "embedded null byte"),
    (["prodigy-no-such-program"], ".", "prodigy-no-such-program: command not found on PATH"),
    (["sh", "-c", "pwd"], "gone", "does not exist"),
])
def test_processes_that_cannot_start(tmp_path: Path, argv: list[str], cwd_name: str, expected: str) -> None:
    from prodigy.local.shell import NOT_STARTED_EXIT_CODE, run_process

    result = run_process(argv, cwd=tmp_path / cwd_name, env={"PATH": os.environ["PATH"]})
    assert result.exit_code == NOT_STARTED_EXIT_CODE and not result.success
    assert result.stderr.startswith(f"prodigy: cannot start {argv[0]}: ") and expected in result.stderr
