"""Regular files out of a tar, with the "data" filter's checks on any Python 3.11."""

from __future__ import annotations

import io
import stat
import tarfile
from pathlib import Path

import pytest

from prodigy.k8s.transport.manifest import TransportError
from prodigy.k8s.transport.untar import extract_regular_file


def _tar(name: str, data: bytes, mode: int) -> tarfile.TarFile:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as archive:
        info = tarfile.TarInfo(name)
        info.size, info.mode = len(data), mode
        archive.addfile(info, io.BytesIO(data))
    out.seek(0)
    return tarfile.open(fileobj=out, mode="r")


def test_a_file_is_written_with_unsafe_mode_bits_cleared(tmp_path: Path) -> None:
    with _tar("a/b/run.sh", b"#!/bin/sh\n", 0o4777) as archive:
        written = extract_regular_file(archive, archive.getmembers()[0], tmp_path)
    assert written == tmp_path / "a" / "b" / "run.sh" and written.read_bytes() == b"#!/bin/sh\n"
    assert stat.S_IMODE(written.stat().st_mode) == 0o755


@pytest.mark.parametrize("name", ["/etc/passwd", "../outside", "a/../../outside"])
def test_names_that_leave_the_destination_are_refused(tmp_path: Path, name: str) -> None:
    dest = tmp_path / "dest"
    with _tar(name, b"x", 0o644) as archive, pytest.raises(TransportError, match="outside"):
        extract_regular_file(archive, archive.getmembers()[0], dest)
    assert not (tmp_path / "outside").exists()
