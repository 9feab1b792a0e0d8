"""The crash reporter never crashes, and never writes a secret."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from prodigy import redact
from prodigy.cli.crash import report_crash


def _raised() -> BaseException:
    try:
        {}["missing-key"]
    except KeyError as error:
        return error
    raise AssertionError("unreachable")


def test_the_traceback_goes_to_a_private_log(capsys: pytest.CaptureFixture[str]) -> None:
    redact.remember(["crash-secret-1234"])
    error = RuntimeError("token crash-secret-1234 leaked")
    assert report_crash(error, 3) == 3
    err = capsys.readouterr().err
    assert "Error: unexpected RuntimeError: token ***REDACTED*** leaked" in err
    log = Path(err.split("the traceback is in ")[1].strip())
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert "crash-secret-1234" not in log.read_text() and "***REDACTED***" in log.read_text()


def test_without_a_writable_home_it_prints_the_last_frame_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("PRODIGY_HOME", str(blocker / "home"))
    assert report_crash(_raised(), 3) == 3
    err = capsys.readouterr().err
    assert "Error: unexpected KeyError: 'missing-key'" in err
    assert "it happened at " in err and "test_crash_reporter.py:" in err and "in _raised" in err
    assert f"the traceback could not be saved to {blocker / 'home'}" in err and "Not a directory" in err
    assert "Traceback" not in err


def test_an_exception_that_cannot_be_printed_is_still_reported(capsys: pytest.CaptureFixture[str]) -> None:
    class Unprintable(Exception):
        def __str__(self) -> str:
            raise ValueError("no")

    assert report_crash(Unprintable(), 3) == 3
    assert "Error: unexpected Unprintable: <Unprintable>" in capsys.readouterr().err
