"""The kubelet log endpoint's query parsing, container choice and rendering, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from testcluster.nodeagent.logquery import (
    LogEntry,
    LogQueryError,
    container_id_for_logs,
    format_cri_line,
    parse_cri_line,
    parse_log_query,
    parse_timestamp,
    render_all,
    tail,
)

NOW = datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)
NS = int(NOW.timestamp()) * 1_000_000_000


def entry(offset_s: int, text: bytes, stream: str = "stdout", partial: bool = False) -> LogEntry:
    line = format_cri_line(NS + offset_s * 1_000_000_000 + 123, stream, text.rstrip(b"\n"), partial)
    parsed = parse_cri_line(line.rstrip(b"\n"))
    assert parsed is not None
    return parsed._replace(text=parsed.text if partial else parsed.text + b"\n")


def test_cri_lines_round_trip_with_nanoseconds() -> None:
    line = format_cri_line(NS + 5, "stderr", b"hello world", partial=False)
    parsed = parse_cri_line(line.rstrip(b"\n"))

    assert line == b"2026-05-06T07:08:09.000000005Z stderr F hello world\n"
    assert parsed is not None
    assert (parsed.stream, parsed.partial, parsed.text, parsed.nanos) == ("stderr", False, b"hello world", 5)
    assert parsed.timestamp == NOW


def test_partial_records_are_marked() -> None:
    parsed = parse_cri_line(format_cri_line(NS, "stdout", b"no newline", partial=True).rstrip(b"\n"))

    assert parsed is not None and parsed.partial


def test_garbage_lines_are_skipped() -> None:
    assert parse_cri_line(b"not a log line") is None
    assert parse_cri_line(b"2026-05-06T07:08:09Z stdin F text") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-05-06T07:08:09Z", NOW),
        ("2026-05-06T07:08:09.5Z", NOW.replace(microsecond=500000)),
        ("2026-05-06T09:08:09+02:00", NOW),
        ("2026-05-06T07:08:09.123456789Z", NOW.replace(microsecond=123456)),
    ],
)
def test_rfc3339_timestamps(text: str, expected: datetime) -> None:
    assert parse_timestamp(text)[0] == expected


def test_default_query() -> None:
    options = parse_log_query("", NOW)

    assert (options.follow, options.previous, options.timestamps) == (False, False, False)
    assert (options.since, options.tail_lines, options.limit_bytes) == (None, None, None)
    assert options.streams == ("stdout", "stderr")


def test_full_query() -> None:
    options = parse_log_query("follow=true&previous=true&timestamps=true&tailLines=3&limitBytes=10", NOW)

    assert (options.follow, options.previous, options.timestamps) == (True, True, True)
    assert (options.tail_lines, options.limit_bytes) == (3, 10)


def test_since_seconds_and_since_time() -> None:
    assert parse_log_query("sinceSeconds=60", NOW).since == datetime(2026, 5, 6, 7, 7, 9, tzinfo=UTC)
    assert parse_log_query("sinceTime=2026-05-06T07:00:00Z", NOW).since == datetime(2026, 5, 6, 7, 0, tzinfo=UTC)


def test_legacy_tail_parameter() -> None:
    assert parse_log_query("tail=5", NOW).tail_lines == 5
    assert parse_log_query("tail=all&tailLines=2", NOW).tail_lines is None


def test_stream_selection() -> None:
    assert parse_log_query("stream=Stderr", NOW).streams == ("stderr",)


@pytest.mark.parametrize(
    "query",
    ["tailLines=-1", "limitBytes=0", "sinceSeconds=0", "sinceSeconds=5&sinceTime=2026-05-06T07:00:00Z",
     "stream=Stdout&tailLines=1", "stream=Nope"],
)
def test_invalid_queries_are_422(query: str) -> None:
    with pytest.raises(LogQueryError) as error:
        parse_log_query(query, NOW)

    assert error.value.status == 422


@pytest.mark.parametrize("query", ["tailLines=abc", "follow=maybe", "sinceTime=yesterday"])
def test_undecodable_queries_are_400(query: str) -> None:
    with pytest.raises(LogQueryError) as error:
        parse_log_query(query, NOW)

    assert error.value.status == 400


def status(state: dict, last: dict | None = None, cid: str = "process://9") -> dict:
    return {"containerStatuses": [{"name": "c", "containerID": cid, "state": state, "lastState": last or {}}]}


def test_running_container_serves_its_current_instance() -> None:
    assert container_id_for_logs("p", "c", status({"running": {}}), previous=False) == "process://9"


def test_previous_needs_a_last_terminated_instance() -> None:
    last = {"terminated": {"containerID": "process://8", "exitCode": 1}}

    assert container_id_for_logs("p", "c", status({"running": {}}, last), previous=True) == "process://8"
    with pytest.raises(LogQueryError) as error:
        container_id_for_logs("p", "c", status({"running": {}}), previous=True)
    assert (error.value.status, error.value.message) == (400, 'previous terminated container "c" in pod "p" not found')


def test_crash_looping_container_serves_the_last_instance() -> None:
    last = {"terminated": {"containerID": "process://8", "exitCode": 1}}

    assert container_id_for_logs("p", "c", status({"waiting": {"reason": "CrashLoopBackOff"}}, last), False) == "process://8"


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("ErrImagePull", "image can't be pulled"),
        ("ImagePullBackOff", "trying and failing to pull image"),
        ("ContainerCreating", "ContainerCreating"),
        ("PodInitializing", "PodInitializing"),
    ],
)
def test_waiting_containers_have_no_logs_yet(reason: str, words: str) -> None:
    with pytest.raises(LogQueryError) as error:
        container_id_for_logs("p", "c", status({"waiting": {"reason": reason}}), previous=False)

    assert error.value.message == f'container "c" in pod "p" is waiting to start: {words}'


def test_init_container_statuses_are_searched_too() -> None:
    pod_status = {"containerStatuses": [], "initContainerStatuses": status({"running": {}})["containerStatuses"]}

    assert container_id_for_logs("p", "c", pod_status, previous=False) == "process://9"


def test_rendering_timestamps_since_streams_and_limit() -> None:
    entries = [entry(0, b"one\n"), entry(1, b"two\n", "stderr"), entry(2, b"three\n")]

    def rendered(query: str) -> bytes:
        return b"".join(render_all(entries, parse_log_query(query, NOW)))

    assert rendered("") == b"one\ntwo\nthree\n"
    assert rendered("stream=Stderr") == b"two\n"
    assert rendered("sinceTime=2026-05-06T07:08:10Z") == b"two\nthree\n"
    assert rendered("limitBytes=6") == b"one\ntw"
    assert rendered("timestamps=true").splitlines()[0] == b"2026-05-06T07:08:09.000000123Z one"


def test_timestamps_only_at_the_start_of_a_line() -> None:
    entries = [entry(0, b"par", partial=True), entry(0, b"tial\n")]
    rendered = b"".join(render_all(entries, parse_log_query("timestamps=true", NOW)))

    assert rendered == b"2026-05-06T07:08:09.000000123Z partial\n"


def test_tail_takes_the_last_lines() -> None:
    entries = [entry(i, b"%d\n" % i) for i in range(5)]

    assert [e.text for e in tail(entries, 2)] == [b"3\n", b"4\n"]
    assert tail(entries, 0) == []
    assert len(tail(entries, 50)) == 5
    assert len(tail(entries, None)) == 5
