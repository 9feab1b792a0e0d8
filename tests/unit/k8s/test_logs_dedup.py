"""The log follower's pure core: timestamps, line splitting and de-duplication on resume."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from prodigy.k8s.logs import Deduper, LineSplitter, LogCut, Timestamp, container_state, parse_line, parse_timestamp


def test_parse_timestamp_keeps_nanoseconds_and_orders_trimmed_fractions() -> None:
    a = parse_timestamp("2026-11-27T10:00:01.5Z")
    b = parse_timestamp("2026-11-27T10:00:01.123456789Z")
    c = parse_timestamp("2026-11-27T10:00:01Z")
    assert a is not None and b is not None and c is not None
    assert a.nanos == 500_000_000 and b.nanos == 123_456_789 and c.nanos == 0
    assert c < b < a
    assert a.rfc3339_second() == "2026-11-27T10:00:01Z"


def test_parse_timestamp_accepts_offsets_and_rejects_garbage() -> None:
    assert parse_timestamp("2026-11-27T11:00:01+01:00") == parse_timestamp("2026-11-27T10:00:01Z")
    assert parse_timestamp("hello") is None
    assert parse_timestamp("2026-11-27T10:00:01") is None  # no zone: cannot be placed


def test_parse_line_strips_the_timestamp_and_keeps_the_text_verbatim() -> None:
    ts, text = parse_line("2026-11-27T10:00:01.000000001Z   indented  text ")
    assert ts == Timestamp(parse_timestamp("2026-11-27T10:00:01Z").seconds, 1)  # type: ignore[union-attr]
    assert text == "  indented  text "
    assert parse_line("no timestamp here") == (None, "no timestamp here")
    assert parse_line("2026-11-27T10:00:01Z ")[1] == ""  # an empty line stays an empty line


def _stamp(second: int, nanos: int = 0) -> Timestamp:
    return Timestamp(1_790_000_000 + second, nanos)


def test_resume_within_the_boundary_second_prints_each_line_once() -> None:
    dedup = Deduper()
    first = [(_stamp(1, 1), "a"), (_stamp(1, 2), "b"), (_stamp(2, 5), "c")]
    assert [dedup.accept(ts, t) for ts, t in first] == [True, True, True]
    assert dedup.since_time() == _stamp(2).rfc3339_second()
    # The server resumes from the whole second: it repeats "c", then sends new lines.
    dedup.begin_resume()
    resumed = [(_stamp(2, 5), "c"), (_stamp(2, 7), "d"), (_stamp(3, 0), "e")]
    assert [dedup.accept(ts, t) for ts, t in resumed] == [False, True, True]


def test_identical_lines_at_the_same_nanosecond_are_not_collapsed() -> None:
    dedup = Deduper()
    assert dedup.accept(_stamp(1, 9), "same") and dedup.accept(_stamp(1, 9), "same")
    dedup.begin_resume()
    # The replay holds both copies once each, and a third (new) copy is still shown.
    assert [dedup.accept(_stamp(1, 9), "same") for _ in range(3)] == [False, False, True]


def test_attaching_shows_what_comes_after_the_last_line_printed_so_far() -> None:
    """`cluster attach` cuts a running container's log at its last line (LogCut): the first read
    (from that second, as after a reconnect) repeats nothing, and new lines in that second pass."""
    cut = LogCut("prodigy-agent", _stamp(7, 300), "  step 2 working")
    agent, init = Deduper(), Deduper()
    agent.start_after(*cut.start_for("prodigy-agent"))
    init.start_after(*cut.start_for("prodigy-repo"))
    assert agent.since_time() == _stamp(7).rfc3339_second()
    agent.begin_resume()
    history = [(_stamp(6, 0), "  step 1"), (_stamp(7, 100), "[2/2] shell: x"), (_stamp(7, 300), "  step 2 working"),
               (_stamp(7, 300), "  same instant, new"), (_stamp(8, 0), "  later")]
    assert [agent.accept(ts, text) for ts, text in history] == [False, False, False, True, True]
    assert [init.accept(ts, text) for ts, text in [(_stamp(1, 0), "fetched repo"), (_stamp(9, 0), "late")]] == \
        [False, True]


def test_lines_before_the_resume_point_are_dropped() -> None:
    dedup = Deduper()
    dedup.accept(_stamp(5, 500), "x")
    dedup.begin_resume()
    assert not dedup.accept(_stamp(5, 100), "earlier in the same second")
    assert dedup.accept(_stamp(5, 600), "later")


@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 3), st.sampled_from("abc")), max_size=30),
       st.lists(st.integers(0, 30), max_size=4))
def test_any_sequence_of_reconnects_prints_every_line_exactly_once(
        raw: list[tuple[int, int, str]], cuts: list[int]) -> None:
    """Simulate the API server: lines in timestamp order; after each cut the stream restarts at
    the whole second of the last printed line."""
    lines = sorted((_stamp(s, n), t) for s, n, t in raw)
    dedup = Deduper()
    printed: list[tuple[Timestamp, str]] = []
    position = 0
    for cut in sorted(cuts) + [len(lines)]:
        if printed:
            dedup.begin_resume()
            since = dedup.last
            assert since is not None
            position = next(i for i, (ts, _) in enumerate(lines) if ts.seconds >= since.seconds)
        for ts, text in lines[position:max(cut, position)]:
            if dedup.accept(ts, text):
                printed.append((ts, text))
        position = max(cut, position)
    assert printed == lines


def test_line_splitter_joins_chunks_and_multibyte_characters() -> None:
    splitter = LineSplitter()
    data = "héllo wörld\nsecond line\r\nunterminated".encode()
    out: list[str] = []
    for i in range(len(data)):
        out += splitter.feed(data[i:i + 1])
    assert out == ["héllo wörld", "second line"]
    assert splitter.flush() == "unterminated"
    assert splitter.flush() is None


def test_container_state_covers_init_containers() -> None:
    pod = {"status": {
        "initContainerStatuses": [{"name": "setup", "state": {"terminated": {"exitCode": 0}}}],
        "containerStatuses": [{"name": "prodigy-agent", "state": {"waiting": {"reason": "PodInitializing"}}}],
    }}
    assert container_state(pod, "setup") == "terminated"
    assert container_state(pod, "prodigy-agent") == "waiting"
    assert container_state(pod, "missing") == "unknown"
    assert container_state({}, "prodigy-agent") == "unknown"
