"""Pod side of `bundle` mode: verified chunks -> a shallow repository at the exact base commit.

Run by the init container (`prodigy agent fetch-repo`). Every chunk is checked against the
manifest before git sees a byte of it, the whole pack is checked at the end, and `git index-pack`
checks the objects themselves. The result is a normal repository whose branch
`prodigy-session-<uuid>` points at the same commit id as the user's HEAD.
"""

from __future__ import annotations

import contextlib

import hashlib
import subprocess
import tarfile
from collections.abc import Callable, Iterator
from pathlib import Path

from prodigy.k8s.transport.manifest import MANIFEST_KEY, REPO_PACK, STATE_TAR, ShippedFile, TransportError, TransportManifest
from prodigy.k8s.transport.untar import extract_regular_file
from prodigy.repo.git import GitResult, git


def read_manifest(in_dir: Path) -> TransportManifest:
    path = in_dir / MANIFEST_KEY
    if not path.is_file():
        raise TransportError(f"no transport manifest at {path}: the repository ConfigMaps were not mounted")
    return TransportManifest.from_json(path.read_text())


def verified_blocks(in_dir: Path, shipped: ShippedFile) -> Iterator[bytes]:
    """Yield `shipped`'s chunks in order, each verified; the whole file's checksum is checked last."""
    whole = hashlib.sha256()
    size = 0
    for chunk in shipped.chunks:
        path = in_dir / chunk.path
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise TransportError(f"{shipped.name}: chunk {chunk.path} is missing from {in_dir}") from None
        if len(data) != chunk.size or hashlib.sha256(data).hexdigest() != chunk.sha256:
            raise TransportError(
                f"{shipped.name}: chunk {chunk.path} is corrupt "
                f"(expected {chunk.size} bytes sha256 {chunk.sha256[:12]}, got {len(data)} bytes "
                f"sha256 {hashlib.sha256(data).hexdigest()[:12]})"
            )
        whole.update(data)
        size += len(data)
        yield data
    if size != shipped.size or whole.hexdigest() != shipped.sha256:
        raise TransportError(f"{shipped.name}: reassembled file does not match its checksum")


def materialize(in_dir: Path, repo_dir: Path, *, state_dir: Path | None = None) -> TransportManifest:
    """Build the repository in `repo_dir` (created, must be empty) from the chunks in `in_dir`."""
    manifest = read_manifest(in_dir)
    pack = manifest.file(REPO_PACK)
    if pack is None:
        raise TransportError(f"transport manifest in {in_dir} lists no {REPO_PACK}")
    repo_dir.mkdir(parents=True, exist_ok=True)
    git("init", "--quiet", cwd=repo_dir)
    _index_pack(repo_dir, verified_blocks(in_dir, pack))
    # The base's parents were not sent on purpose; declaring the boundary keeps git from looking for them.
    git_dir = Path(git("rev-parse", "--absolute-git-dir", cwd=repo_dir).stdout.strip())
    (git_dir / "shallow").write_text(manifest.boundary + "\n")
    start_branch(repo_dir, manifest.branch, manifest.base_sha)
    state = manifest.file(STATE_TAR)
    if state is not None and state_dir is not None:
        extract_tar_stream(verified_blocks(in_dir, state), state_dir)
    return manifest


def start_branch(repo_dir: Path, branch: str, sha: str, *, run: Callable[..., GitResult] = git) -> None:
    """Point `branch` at `sha`, make it HEAD and check it out (modes and symlinks as committed).
    `run` is how git runs (remote mode's init container passes its isolated git)."""
    run("update-ref", "--", f"refs/heads/{branch}", sha, cwd=repo_dir)
    run("symbolic-ref", "HEAD", f"refs/heads/{branch}", cwd=repo_dir)
    run("checkout", "--force", "--quiet", cwd=repo_dir)       # HEAD: the branch just made


def _index_pack(repo_dir: Path, blocks: Iterator[bytes]) -> None:
    # --fsck-objects checks every object; not --strict, whose connectivity check would look for
    # the base's parents, which are deliberately absent.
    with subprocess.Popen(
        ["git", "index-pack", "--stdin", "--fsck-objects"], cwd=repo_dir,
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    ) as proc:
        assert proc.stdin is not None and proc.stderr is not None
        try:
            for block in blocks:
                try:
                    proc.stdin.write(block)
                except BrokenPipeError:
                    break       # index-pack stopped reading; its exit status and stderr say why
        except BaseException:
            proc.kill()         # a chunk failed verification: its error is the one to report
            raise
        finally:
            # After a kill, flushing the buffered rest into the dead pipe must not replace the
            # real error with a BrokenPipeError.
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
        err = proc.stderr.read().decode(errors="replace")
    if proc.returncode != 0:
        raise TransportError(f"git index-pack rejected the repository pack: {err.strip()}")


class _BlockReader:
    """A read() view over an iterator of byte blocks, for tarfile's streaming mode."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._block = b""
        self._pos = 0

    def read(self, n: int = -1) -> bytes:
        parts: list[bytes] = []
        wanted = n
        while n < 0 or wanted > 0:
            if self._pos >= len(self._block):
                block = next(self._blocks, None)
                if block is None:
                    break
                self._block, self._pos = block, 0
                continue
            available = len(self._block) - self._pos
            take = available if n < 0 else min(wanted, available)
            parts.append(self._block[self._pos:self._pos + take])
            self._pos += take
            wanted -= take
        return b"".join(parts)


def extract_tar_stream(blocks: Iterator[bytes], dest: Path) -> None:
    """Unpack a tar given as blocks into `dest`, refusing links and paths that leave `dest`."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=_BlockReader(blocks), mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            if not member.isfile():
                continue
            extract_regular_file(tar, member, dest)
