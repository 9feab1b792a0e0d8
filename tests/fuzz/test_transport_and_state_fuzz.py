"""Fuzz the results-frame decoder, the result archive checks and the state files a resume reads."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from prodigy.k8s.transport.framing import PREFIX, decode_frames, encode_frames
from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.results import ResultSummary, check_archive
from prodigy.local.checkpoints import Checkpoint, CheckpointProblem
from prodigy.repo.worktrees import SessionMetadata

from .conftest import FUZZ

LINE_PIECES = st.lists(st.one_of(
    st.sampled_from([PREFIX, " ", "begin", "data", "end", "none", "0", "1", "²", "١", "AAAA", "=", "\r", "-1",
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "ÿ"]),
    st.text(max_size=6)), max_size=12)


@FUZZ
@given(st.lists(LINE_PIECES.map("".join), max_size=12))
def test_decoder_gives_an_outcome_or_a_transport_error(lines: list[str]) -> None:
    sink = io.BytesIO()
    try:
        outcome = decode_frames(lines, sink)
    except TransportError as error:
        assert error.message
        return
    if outcome.found:
        assert len(sink.getvalue()) == outcome.size


@FUZZ
@given(st.binary(max_size=20_000), st.lists(st.tuples(st.integers(0, 10**6), st.sampled_from(
    ["drop", "dup", "flip", "truncate", "noise"])), max_size=3))
def test_damaged_frames_are_detected_never_misread(payload: bytes, damage: list[tuple[int, str]]) -> None:
    lines = list(encode_frames(io.BytesIO(payload)))
    for position, kind in damage:
        at = position % len(lines)
        if kind == "drop":
            del lines[at]
        elif kind == "dup":
            lines.insert(at, lines[at])
        elif kind == "flip" and lines[at]:
            lines[at] = lines[at][:-1] + ("A" if lines[at][-1] != "A" else "B")
        elif kind == "truncate":
            lines[at] = lines[at][: len(lines[at]) // 2]
        else:
            lines.insert(at, "kubelet: some unrelated line")
        if not lines:
            break
    sink = io.BytesIO()
    try:
        outcome = decode_frames(lines, sink)
    except TransportError:
        return
    if outcome.found:
        assert sink.getvalue() == payload


MEMBER_NAMES = st.one_of(
    st.sampled_from(["result.json", "commits.bundle", "state/checkpoints/a.json", "state/../x", "/etc/passwd",
                     "state/", "state//x", "state/a/../../b", "other", "state/./x", "../state/x", "state/\x00"]),
    st.text(max_size=12).map(lambda text: "state/" + text),
)
SHA = "a" * 40


@FUZZ
@given(st.lists(st.tuples(MEMBER_NAMES, st.sampled_from([tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE,
                                                          tarfile.LNKTYPE])), max_size=6),
       st.sampled_from(["bundle", "push", "none"]))
def test_archive_check_admits_only_plain_files_inside_state(members: list[tuple[str, bytes]], carried_by: str) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, kind in members:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
                info.linkname = "/etc/passwd"
            tar.addfile(info, io.BytesIO(b"") if kind == tarfile.REGTYPE else None)
    buffer.seek(0)
    summary = ResultSummary(SHA, SHA, "prodigy-session-x", 0, 0, carried_by)
    with tarfile.open(fileobj=buffer, mode="r") as tar:
        try:
            check_archive(tar, summary)
        except TransportError:
            return
        for member in tar.getmembers():
            assert member.name in ("result.json", "commits.bundle") or (
                member.name.startswith("state/") and ".." not in member.name.split("/")
                and (member.isfile() or member.isdir()))


JSONISH = st.recursive(
    st.one_of(st.text(max_size=10), st.integers(-2, 10**9), st.floats(), st.booleans(), st.none()),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=20,
)
GOOD_CHECKPOINT: dict[str, Any] = {
    "version": 1, "workflow_id": "workflow-1", "session_id": "session-x", "workflow_hash": "h", "status": "failed",
    "execution_state": {"next_pass": 0, "next_step": 1, "total_steps": 2, "total_passes": 1},
    "completed_steps": [], "variables": {}, "retry_state": None, "updated_at": 1.0,
}


@FUZZ
@given(st.one_of(JSONISH, st.builds(lambda key, value: {**GOOD_CHECKPOINT, key: value},
                                    st.sampled_from(sorted(GOOD_CHECKPOINT)), JSONISH),
                 st.builds(lambda key, value: {**GOOD_CHECKPOINT, "execution_state": {
                     **GOOD_CHECKPOINT["execution_state"], key: value}},
                     st.sampled_from(["next_pass", "next_step", "total_steps", "total_passes"]), JSONISH)))
def test_checkpoints_are_loaded_or_refused_with_a_reason(data: Any) -> None:
    try:
        checkpoint = Checkpoint.from_json(json.loads(json.dumps(data)))
    except CheckpointProblem as problem:
        assert str(problem)
        return
    assert 0 <= checkpoint.next_step < checkpoint.total_steps
    assert 0 <= checkpoint.next_pass <= checkpoint.total_passes


GOOD_METADATA = {"session_id": "session-x", "branch": "prodigy-session-x", "original_branch": "main",
                 "repo_path": "/r", "worktree_path": "/w", "status": "failed", "created_at": "2026-01-01"}


@FUZZ
@given(st.one_of(JSONISH, st.builds(lambda key, value: {**GOOD_METADATA, key: value},
                                    st.sampled_from(sorted(GOOD_METADATA) + ["run_args", "max_iterations", "merged"]),
                                    JSONISH)))
@example({**GOOD_METADATA, "created_at": None})   # found here: a null creation time broke sorting sessions
def test_session_metadata_is_loaded_or_refused_with_a_reason(data: Any) -> None:
    try:
        metadata = SessionMetadata.from_json(data)
    except ValueError as problem:
        assert str(problem)
        return
    assert isinstance(metadata.created_at, str) and all(isinstance(arg, str) for arg in metadata.run_args)
