"""No value handed to git is read as an option (issue 10).

URLs, branch names and shas come from outside: kubernetes.yaml, session metadata, a pod's result,
a remote's listing. Each is passed after `--` or `--end-of-options`, so a value such as
`--upload-pack=<command>` or `--output=<file>` is an operand git rejects, never an option it obeys.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from prodigy.errors import GitError, ProdigyError
from prodigy.k8s.transport.remote import delete_remote_ref, ensure_base_on_remote, fetch_pushed_branch
from prodigy.repo import git as gitops

from .conftest import run_git


def test_a_url_that_looks_like_an_option_runs_nothing(user_repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    url = f"--upload-pack=touch {marker};"
    base = run_git(user_repo, "rev-parse", "HEAD")

    with pytest.raises(GitError):
        ensure_base_on_remote(user_repo, url, base, session_id="s", push_allowed=True)
    with pytest.raises(GitError):
        fetch_pushed_branch(user_repo, url, "prodigy-session-s", "refs/prodigy/incoming/x")
    assert not delete_remote_ref(user_repo, f"--receive-pack=touch {marker};", "refs/x")

    assert not marker.exists()


def test_revisions_that_look_like_options_write_nothing(user_repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "written"
    hostile = f"--output={marker}"

    for call in (lambda: gitops.files_changed(user_repo, hostile, "HEAD"),
                 lambda: gitops.commits_between(user_repo, hostile, "HEAD"),
                 lambda: gitops.count_commits(user_repo, hostile, "HEAD")):
        with pytest.raises(GitError):
            call()
    assert not gitops.is_ancestor(user_repo, hostile, "HEAD")
    assert not gitops.branch_exists(user_repo, "--all")
    assert not marker.exists()


def test_branch_names_that_look_like_options_are_operands(user_repo: Path) -> None:
    result = gitops.merge_no_ff(user_repo, "--abort", "merge")
    assert not result.ok and "--abort - not something we can merge" in result.stderr     # not an abort
    with pytest.raises(ProdigyError):
        gitops.delete_branch(user_repo, "--all", force=True)
    assert run_git(user_repo, "branch", "--format=%(refname:short)") == "main"
    with pytest.raises(GitError, match="malformed object name --contains"):
        gitops.is_merged(user_repo, "main", into="--contains")
