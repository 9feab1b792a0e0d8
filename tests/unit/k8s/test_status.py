"""Plain (non-terminal) status output: one line per change, never one per tick."""

from __future__ import annotations

import io

from prodigy.k8s.status import PlainDisplay, format_status


def test_plain_status_prints_changes_not_ticks() -> None:
    out, err = io.StringIO(), io.StringIO()
    display = PlainDisplay(out, err)
    for second in range(3):
        display.status(format_status("job-1", "Pending", f"image x cannot be pulled, gives up in {100 - second}s",
                                     second))
    display.status(format_status("job-1", "Running", "", 4))
    display.log("hello")
    # The first line of a pending reason says how long it is tolerated; ticks print nothing.
    assert err.getvalue().splitlines() == ["[prodigy] job-1: Pending — image x cannot be pulled, gives up in 100s",
                                           "[prodigy] job-1: Running"]
    assert out.getvalue() == "hello\n"


def test_plain_status_says_once_that_the_api_server_is_unreachable() -> None:
    out, err = io.StringIO(), io.StringIO()
    display = PlainDisplay(out, err)
    for second in range(5, 9):
        display.status(format_status("job-1", "Running", f"API server unreachable for {second}s, retrying", 20 + second))
    display.status(format_status("job-1", "Running", "", 30))
    assert err.getvalue().splitlines() == ["[prodigy] job-1: Running — API server unreachable for 5s, retrying",
                                           "[prodigy] job-1: Running"]
