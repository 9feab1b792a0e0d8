"""CLI side of `bundle` mode: pack one commit and its tree into checksummed chunk files on disk.

Only the base commit and the objects of its tree are sent (`git rev-list --objects --no-walk`),
so the size follows the tree at HEAD, not the history; the pod marks the repository shallow at
that commit, which keeps its id and lets the commits made in the pod apply on the user's side.

The pack streams from `git pack-objects` through a fixed-size buffer into chunk files, so the
CLI's memory stays flat in the repository's size. The cap is enforced while streaming, before
anything exists on the cluster: the caller uploads the chunks only after this returns.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from prodigy.errors import GitError, UsageError
from prodigy.k8s.transport.manifest import (
    DEFAULT_CHUNK_BYTES, MANIFEST_KEY, MIB, REPO_PACK, STATE_TAR, Chunk, ShippedFile, TransportManifest,
)

READ_BLOCK = 64 * 1024


class RepositoryTooLarge(UsageError):
    """The repository does not fit the bundle-mode cap; raised before any cluster object exists."""


class _Budget:
    """The byte cap shared by every file of one transport."""

    def __init__(self, limit: int, describe_limit: str) -> None:
        self.limit = limit
        self.used = 0
        self.describe_limit = describe_limit

    def spend(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise RepositoryTooLarge(
                f"the repository is too large for bundle mode: its packed tree exceeds "
                f"{self.limit / MIB:.0f} MiB ({self.describe_limit}); nothing was created on the cluster",
                hint="set `repo: {mode: remote, remote_url: <git URL>}` for this cluster in kubernetes.yaml so "
                     "the pod clones the base commit itself, or raise `repo.max_bundle_mib`",
            )


class ChunkWriter(io.RawIOBase):
    """A write-only stream that cuts what it is given into `chunk-NNNN` files and hashes it all."""

    def __init__(self, directory: Path, name: str, *, chunk_bytes: int, first_index: int, budget: _Budget) -> None:
        super().__init__()
        self._dir = directory
        self._name = name
        self._chunk_bytes = chunk_bytes
        self._index = first_index
        self._budget = budget
        self._whole = hashlib.sha256()
        self._size = 0
        self._chunks: list[Chunk] = []
        self._current: IO[bytes] | None = None
        self._current_hash = hashlib.sha256()
        self._current_size = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(data).cast("B")
        self._budget.spend(len(view))
        self._whole.update(view)
        self._size += len(view)
        offset = 0
        while offset < len(view):
            if self._current is None:
                self._open_next()
            assert self._current is not None
            take = min(self._chunk_bytes - self._current_size, len(view) - offset)
            piece = view[offset:offset + take]
            self._current.write(piece)
            self._current_hash.update(piece)
            self._current_size += take
            offset += take
            if self._current_size == self._chunk_bytes:
                self._close_current()
        return len(view)

    def finish(self) -> ShippedFile:
        self._close_current()
        return ShippedFile(self._name, self._size, self._whole.hexdigest(), tuple(self._chunks))

    def discard(self) -> None:
        """Close the open chunk file after a failure; the caller removes the directory."""
        if self._current is not None:
            self._current.close()
            self._current = None

    @property
    def next_index(self) -> int:
        return self._index

    def _open_next(self) -> None:
        self._current = (self._dir / chunk_path(self._index)).open("wb")
        self._current_hash = hashlib.sha256()
        self._current_size = 0

    def _close_current(self) -> None:
        if self._current is None:
            return
        self._current.close()
        self._chunks.append(Chunk(chunk_path(self._index), self._current_size, self._current_hash.hexdigest()))
        self._current = None
        self._index += 1


def chunk_path(index: int) -> str:
    return f"chunk-{index:04d}"


def spool_commit(
    repo: Path,
    base_sha: str,
    branch: str,
    out_dir: Path,
    *,
    max_bytes: int,
    describe_limit: str = "repo.max_bundle_mib",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    state_dir: Path | None = None,
    history_from: str | None = None,
    extra_tips: tuple[str, ...] = (),
) -> TransportManifest:
    """Write the chunks for `base_sha` (and optionally a checkpoint dir) plus manifest.json to `out_dir`.

    `history_from` (a resumed session's first base) also sends the commits history_from..base_sha,
    so the pod sees the session's whole history as a local resume would; the tree sent in full is
    history_from's, and the session's commits add only what they changed. `extra_tips` are more
    commits descending from history_from to send the same way (a MapReduce agent's branch, for
    the pod that resolves its merge conflict).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    budget = _Budget(max_bytes, describe_limit)
    pack_writer = ChunkWriter(out_dir, REPO_PACK, chunk_bytes=chunk_bytes, first_index=0, budget=budget)
    with _discard_on_error(pack_writer):
        _stream_pack(repo, base_sha, pack_writer, history_from=history_from, extra_tips=extra_tips)
    files = [pack_writer.finish()]
    if state_dir is not None:
        state_writer = ChunkWriter(out_dir, STATE_TAR, chunk_bytes=chunk_bytes,
                                   first_index=pack_writer.next_index, budget=budget)
        with _discard_on_error(state_writer):
            write_tree_tar(state_dir, state_writer)
        files.append(state_writer.finish())
    manifest = TransportManifest(base_sha=base_sha, branch=branch, files=tuple(files),
                                 shallow_sha=history_from or base_sha)
    (out_dir / MANIFEST_KEY).write_text(manifest.to_json())
    return manifest


@contextmanager
def _discard_on_error(writer: ChunkWriter) -> Iterator[None]:
    try:
        yield
    except BaseException:
        writer.discard()
        raise


def _stream_pack(repo: Path, sha: str, sink: ChunkWriter, *, history_from: str | None = None,
                 extra_tips: tuple[str, ...] = ()) -> None:
    # rev-list's "<oid> <path>" lines feed pack-objects directly; the paths guide its delta search.
    first = history_from or sha
    tips = tuple(tip for tip in (sha, *extra_tips) if tip != first)
    if not tips:
        listing = ["git", "rev-list", "--objects", "--no-walk", "--end-of-options", sha]
    else:
        # The first base with its full tree, then what the later commits added on top of it.
        listing = ["sh", "-c", 'first=$1; shift; git rev-list --objects --no-walk --end-of-options "$first" && '
                   'git rev-list --objects --end-of-options "$@" "^$first"',
                   "rev-list", first, *tips]
    rev_list = subprocess.Popen(
        listing, cwd=repo,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )
    assert rev_list.stdout is not None
    pack = subprocess.Popen(
        ["git", "pack-objects", "--stdout", "-q"], cwd=repo,
        stdin=rev_list.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    rev_list.stdout.close()  # pack-objects owns the pipe now; rev-list gets SIGPIPE if it dies
    assert pack.stdout is not None
    try:
        while block := pack.stdout.read(READ_BLOCK):
            sink.write(block)
    except BaseException:
        pack.kill()
        rev_list.kill()
        raise
    finally:
        pack.stdout.close()
        pack_err = pack.stderr.read().decode(errors="replace") if pack.stderr else ""
        rev_err = rev_list.stderr.read().decode(errors="replace") if rev_list.stderr else ""
        pack.wait()
        rev_list.wait()
        for stream in (pack.stderr, rev_list.stderr):
            if stream:
                stream.close()
    if rev_list.returncode != 0 or pack.returncode != 0:
        raise GitError(f"could not pack commit {sha} in {repo}: {(rev_err or pack_err).strip()}")


def write_tree_tar(directory: Path, sink: IO[bytes] | io.RawIOBase) -> None:
    """Stream `directory`'s files as an uncompressed tar (paths relative to it) into `sink`."""
    with tarfile.open(fileobj=sink, mode="w|") as tar:
        for path in sorted(directory.rglob("*")):
            if path.is_file() and not path.is_symlink():
                tar.add(path, arcname=path.relative_to(directory).as_posix(), recursive=False)
