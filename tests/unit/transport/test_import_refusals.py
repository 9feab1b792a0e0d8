"""A damaged or hostile result archive is refused before the session branch or state directory change."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.results import BUNDLE_MEMBER, SUMMARY_MEMBER, ResultSummary, import_results

from .conftest import commit_all, run_git

BRANCH = "prodigy-session-abcd"


def _archive(path: Path, members: dict[str, bytes], *, extra: Callable[[tarfile.TarFile], None] | None = None) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if extra:
            extra(tar)
    return path


def _summary(base: str, head: str, carried_by: str, commits: int = 1) -> bytes:
    return ResultSummary(base, head, BRANCH, 0, commits, carried_by).to_json().encode()


@pytest.fixture
def landed(user_repo: Path, tmp_path: Path) -> tuple[Path, str, str, bytes]:
    """The session branch already at an earlier result (a resumed session), plus a real bundle of one commit."""
    base = run_git(user_repo, "rev-parse", "HEAD")
    run_git(user_repo, "branch", BRANCH, base)
    pod = tmp_path / "pod"
    run_git(tmp_path, "clone", "-q", str(user_repo), str(pod))
    run_git(pod, "checkout", "-q", "-b", BRANCH)
    (pod / "new.txt").write_text("from the pod\n")
    head = commit_all(pod, "pod commit")
    bundle = tmp_path / "c.bundle"
    run_git(pod, "bundle", "create", "-q", str(bundle), f"^{base}", f"refs/heads/{BRANCH}")
    return user_repo, base, head, bundle.read_bytes()


def _refused(repo: Path, archive: Path, base: str, state: Path) -> str:
    before = run_git(repo, "rev-parse", BRANCH)
    with pytest.raises(TransportError) as caught:
        import_results(repo, archive, expected_base=base, branch=BRANCH, state_dest=state)
    assert run_git(repo, "rev-parse", BRANCH) == before, "the branch moved although the result was refused"
    assert not state.exists() or not any(state.rglob("*")), "state files landed although the result was refused"
    assert not (repo.parent / "x").exists()
    return caught.value.message


def test_a_missing_bundle_is_refused(landed: tuple[Path, str, str, bytes], tmp_path: Path) -> None:
    repo, base, head, _ = landed
    archive = _archive(tmp_path / "r.tar", {SUMMARY_MEMBER: _summary(base, head, "bundle"),
                                            "state/checkpoints/c.json": b"{}"})
    assert "lacks it; nothing was applied" in _refused(repo, archive, base, tmp_path / "state")


def test_a_garbage_bundle_is_refused(landed: tuple[Path, str, str, bytes], tmp_path: Path) -> None:
    repo, base, head, _ = landed
    archive = _archive(tmp_path / "r.tar", {SUMMARY_MEMBER: _summary(base, head, "bundle"),
                                            BUNDLE_MEMBER: b"this is not a bundle\n",
                                            "state/checkpoints/c.json": b"{}"})
    assert "the returned commits do not apply" in _refused(repo, archive, base, tmp_path / "state")


@pytest.mark.parametrize("member", ["state/../x", "state/a/../../x", "/x", "../x", "surprise.txt"])
def test_members_outside_the_state_directory_are_refused(landed: tuple[Path, str, str, bytes], tmp_path: Path,
                                                        member: str) -> None:
    repo, base, head, bundle = landed
    archive = _archive(tmp_path / "r.tar", {SUMMARY_MEMBER: _summary(base, head, "bundle"), BUNDLE_MEMBER: bundle,
                                            "state/checkpoints/c.json": b"{}", member: b"planted"})
    message = _refused(repo, archive, base, tmp_path / "state")
    assert repr(member) in message and "nothing was applied" in message


def test_links_in_the_state_directory_are_refused(landed: tuple[Path, str, str, bytes], tmp_path: Path) -> None:
    repo, base, head, bundle = landed

    def link(tar: tarfile.TarFile) -> None:
        info = tarfile.TarInfo("state/checkpoints/evil.json")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)

    archive = _archive(tmp_path / "r.tar", {SUMMARY_MEMBER: _summary(base, head, "bundle"), BUNDLE_MEMBER: bundle},
                       extra=link)
    assert "not a plain file" in _refused(repo, archive, base, tmp_path / "state")


@pytest.mark.parametrize("field", ["base_sha", "head_sha"])
def test_summary_ids_that_are_not_commit_ids_are_refused(landed: tuple[Path, str, str, bytes], tmp_path: Path,
                                                        field: str) -> None:
    repo, base, head, bundle = landed
    summary = json.loads(_summary(base, head, "bundle"))
    summary[field] = "--upload-pack=touch /tmp/pwned"
    archive = _archive(tmp_path / "r.tar", {SUMMARY_MEMBER: json.dumps(summary).encode(), BUNDLE_MEMBER: bundle})
    assert "is not a commit id" in _refused(repo, archive, base, tmp_path / "state")


def test_a_garbage_archive_is_refused(landed: tuple[Path, str, str, bytes], tmp_path: Path) -> None:
    repo, base, _, _ = landed
    archive = tmp_path / "r.tar"
    archive.write_bytes(b"\x00garbage" * 200)
    assert "unreadable" in _refused(repo, archive, base, tmp_path / "state")


def test_a_sound_archive_still_lands(landed: tuple[Path, str, str, bytes], tmp_path: Path) -> None:
    repo, base, head, bundle = landed
    archive = _archive(tmp_path / "r.tar", {SUMMARY_MEMBER: _summary(base, head, "bundle"), BUNDLE_MEMBER: bundle,
                                            "state/checkpoints/c.json": b"{}"})
    import_results(repo, archive, expected_base=base, branch=BRANCH, state_dest=tmp_path / "state")
    assert run_git(repo, "rev-parse", BRANCH) == head
    assert (tmp_path / "state" / "checkpoints" / "c.json").read_bytes() == b"{}"


@pytest.mark.parametrize("branch, accepted", [
    ("prodigy-session-0b492fb1-c44b-4565-87ff-eb39d91b2e71", True),
    ("prodigy-agent-session-0b492fb1-c44b-4565-87ff-eb39d91b2e71-item_3", True),   # a MapReduce agent's
    ("main", False),
    ("refs/heads/prodigy-session-x", False),
    ("--force", False),
])
def test_the_summary_names_a_branch_of_a_session_or_of_one_of_its_agents(branch: str, accepted: bool) -> None:
    text = json.dumps({"base_sha": "a" * 40, "head_sha": "b" * 40, "branch": branch, "exit_code": 0, "commits": 1,
                       "carried_by": "bundle"})
    if accepted:
        assert ResultSummary.from_json(text).branch == branch
    else:
        with pytest.raises(TransportError, match="is not a session's branch"):
            ResultSummary.from_json(text)
