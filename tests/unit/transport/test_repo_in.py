"""Repository in: pack -> chunks -> reassemble -> a repository at the same commit id."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prodigy.k8s.transport.checkout import materialize
from prodigy.k8s.transport.manifest import MANIFEST_KEY, TransportError, TransportManifest
from prodigy.k8s.transport.spool import RepositoryTooLarge, spool_commit

from .conftest import commit_all, run_git

BRANCH = "prodigy-session-1234"


def ship(repo: Path, tmp_path: Path, **kwargs: object) -> tuple[TransportManifest, Path]:
    base = run_git(repo, "rev-parse", "HEAD")
    chunks = tmp_path / "chunks"
    manifest = spool_commit(repo, base, BRANCH, chunks, max_bytes=64 << 20, **kwargs)  # type: ignore[arg-type]
    return manifest, chunks


def test_pod_repository_has_the_same_commit_tree_and_files(user_repo: Path, tmp_path: Path) -> None:
    manifest, chunks = ship(user_repo, tmp_path)
    pod = tmp_path / "pod" / "repo"

    materialize(chunks, pod)

    base = run_git(user_repo, "rev-parse", "HEAD")
    assert run_git(pod, "rev-parse", "HEAD") == base == manifest.base_sha
    assert run_git(pod, "symbolic-ref", "--short", "HEAD") == BRANCH
    assert run_git(pod, "rev-parse", "HEAD^{tree}") == run_git(user_repo, "rev-parse", "HEAD^{tree}")
    assert run_git(pod, "status", "--porcelain") == ""
    assert os.access(pod / "tool.sh", os.X_OK)
    assert os.readlink(pod / "readme-link") == "README.md"
    assert (pod / "blob.bin").read_bytes() == (user_repo / "blob.bin").read_bytes()
    assert run_git(pod, "fsck", "--no-progress") == ""


def test_only_the_tree_at_head_is_sent_not_the_history(user_repo: Path, tmp_path: Path) -> None:
    big = user_repo / "big.bin"
    for i in range(5):  # 5 versions of a 300 KiB incompressible file: ~1.5 MiB of history
        big.write_bytes(os.urandom(300 * 1024))
        commit_all(user_repo, f"big {i}")
    big.unlink()
    commit_all(user_repo, "drop big")

    manifest, chunks = ship(user_repo, tmp_path)
    pod = tmp_path / "pod"
    materialize(chunks, pod)

    assert manifest.total_bytes < 64 * 1024
    assert run_git(pod, "rev-list", "--count", "HEAD") == "1"  # shallow: the base, its parents not sent
    assert run_git(pod, "log", "-1", "--format=%s") == "drop big"


def test_large_pack_is_cut_into_chunks_that_reassemble(user_repo: Path, tmp_path: Path) -> None:
    (user_repo / "noise.bin").write_bytes(os.urandom(200 * 1024))
    commit_all(user_repo, "noise")
    manifest, chunks = ship(user_repo, tmp_path, chunk_bytes=32 * 1024)

    assert len(manifest.chunks) >= 7
    assert all(c.size <= 32 * 1024 for c in manifest.chunks)
    pod = tmp_path / "pod"
    materialize(chunks, pod)
    assert (pod / "noise.bin").read_bytes() == (user_repo / "noise.bin").read_bytes()


def test_corrupt_chunk_is_detected_before_git_sees_it(user_repo: Path, tmp_path: Path) -> None:
    manifest, chunks = ship(user_repo, tmp_path, chunk_bytes=256)
    victim = chunks / manifest.chunks[1].path
    data = bytearray(victim.read_bytes())
    data[10] ^= 0xFF
    victim.write_bytes(bytes(data))

    with pytest.raises(TransportError, match="chunk-0001 is corrupt"):
        materialize(chunks, tmp_path / "pod")


def test_missing_chunk_is_named(user_repo: Path, tmp_path: Path) -> None:
    manifest, chunks = ship(user_repo, tmp_path, chunk_bytes=256)
    (chunks / manifest.chunks[-1].path).unlink()

    with pytest.raises(TransportError, match=f"{manifest.chunks[-1].path} is missing"):
        materialize(chunks, tmp_path / "pod")


def test_over_the_cap_is_a_clear_error_recommending_remote_mode(user_repo: Path, tmp_path: Path) -> None:
    (user_repo / "noise.bin").write_bytes(os.urandom(300 * 1024))
    base = commit_all(user_repo, "noise")

    with pytest.raises(RepositoryTooLarge) as caught:
        spool_commit(user_repo, base, BRANCH, tmp_path / "chunks", max_bytes=100 * 1024,
                     describe_limit="repo.max_bundle_mib of cluster 'dev'")

    assert "repo.max_bundle_mib of cluster 'dev'" in caught.value.message
    assert "mode: remote" in (caught.value.hint or "")
    assert caught.value.exit_code == 2


def test_checkpoint_travels_with_the_repository(user_repo: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    (state / "checkpoints").mkdir(parents=True)
    (state / "checkpoints" / "wf.checkpoint.json").write_text('{"current_step_index": 2}')
    manifest, chunks = ship(user_repo, tmp_path, state_dir=state)

    pod_state = tmp_path / "pod-state"
    materialize(chunks, tmp_path / "pod", state_dir=pod_state)

    assert (pod_state / "checkpoints" / "wf.checkpoint.json").read_text() == '{"current_step_index": 2}'
    assert TransportManifest.from_json((chunks / MANIFEST_KEY).read_text()) == manifest


def test_manifest_from_a_newer_prodigy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TransportError, match="version 99 is not supported"):
        TransportManifest.from_json('{"version": 99}')


def test_shipped_size_reads_well_for_people() -> None:
    from prodigy.k8s.transport.manifest import MIB, Chunk, ShippedFile, TransportManifest

    def manifest(*sizes: int) -> TransportManifest:
        chunks = tuple(Chunk(path=f"chunk-{i:04d}", size=size, sha256="0" * 64) for i, size in enumerate(sizes))
        shipped = ShippedFile(name="repo.pack", size=sum(sizes), sha256="0" * 64, chunks=chunks)
        return TransportManifest(base_sha="a" * 40, branch="prodigy-session-x", files=(shipped,))

    assert manifest(300).size_text() == "1 KiB in 1 chunk"
    assert manifest(900 * 1024, 420 * 1024).size_text() == "1.3 MiB in 2 chunks"
    assert manifest(5 * 1024).size_text() == "5 KiB in 1 chunk"
    assert MIB == 1024 * 1024


def test_spools_live_under_prodigy_home_and_stale_ones_are_removed(tmp_path: Path) -> None:
    import os as _os

    from prodigy.k8s.transport.run import STALE_SPOOL_SECONDS, spool_root

    root = spool_root(tmp_path)
    assert root == tmp_path / "spool" and root.is_dir()
    stale, fresh = root / "run-a-x", root / "run-b-y"
    for directory in (stale, fresh):
        (directory / "chunk-0000").parent.mkdir()
        (directory / "chunk-0000").write_bytes(b"pack")
    now = 1_900_000_000.0
    _os.utime(stale, (now - STALE_SPOOL_SECONDS - 60, now - STALE_SPOOL_SECONDS - 60))
    _os.utime(fresh, (now - 60, now - 60))

    spool_root(tmp_path, now=now)

    assert not stale.exists() and fresh.exists()
