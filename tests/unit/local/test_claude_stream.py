"""Rendering real Claude Code stream-json events into progress lines."""

from __future__ import annotations

import json

from prodigy.ui.claude_stream import StreamOutcome, describe_tool_use, fold, format_event, format_result, parse_line

INIT = {"type": "system", "subtype": "init", "session_id": "abc", "model": "claude-sonnet-4-5", "tools": ["Bash"]}
TOOL_USE = {"type": "assistant", "message": {"role": "assistant", "content": [
    {"type": "text", "text": "Let me run the tests."},
    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "cargo test", "description": "Run"}}]}}
TOOL_ERROR = {"type": "user", "message": {"role": "user", "content": [
    {"type": "tool_result", "tool_use_id": "toolu_1", "content": "error: 2 tests failed", "is_error": True}]}}
RESULT = {"type": "result", "subtype": "success", "is_error": False, "duration_ms": 12345, "num_turns": 6,
          "result": "Fixed both tests.", "total_cost_usd": 0.0421,
          "usage": {"input_tokens": 1000, "cache_creation_input_tokens": 200, "cache_read_input_tokens": 34,
                    "output_tokens": 567}}


def test_parse_line_accepts_only_json_objects_with_a_type() -> None:
    assert parse_line(json.dumps(INIT) + "\n") == INIT
    assert parse_line("plain text") is None
    assert parse_line('{"no": "type"}') is None
    assert parse_line("{broken") is None


def test_tool_uses_are_shown_with_their_key_argument() -> None:
    assert format_event(TOOL_USE) == ["→ Bash(cargo test)"]
    assert describe_tool_use("Edit", {"file_path": "src/lib.rs", "old_string": "a"}) == "Edit(src/lib.rs)"
    assert describe_tool_use("TodoWrite", {"todos": [{}, {}]}) == "TodoWrite(2 todos)"
    assert describe_tool_use("Mystery", {"x": 1}) == "Mystery"


def test_assistant_prose_and_init_only_when_verbose() -> None:
    assert format_event(INIT) == []
    assert format_event(INIT, verbosity=1) == ["claude session abc (model claude-sonnet-4-5)"]
    assert format_event(TOOL_USE, verbosity=1) == ["  Let me run the tests.", "→ Bash(cargo test)"]


def test_failed_tool_results_are_reported() -> None:
    assert format_event(TOOL_ERROR) == ["  ✗ tool error: error: 2 tests failed"]


def test_result_shows_cost_tokens_turns_and_duration() -> None:
    assert format_event(RESULT) == [
        "✓ Claude finished: $0.0421, 1,234 in / 567 out tokens, 6 turns, 12.3 s",
        "  Fixed both tests.",
    ]


def test_error_result_names_its_subtype() -> None:
    outcome = fold(StreamOutcome(), {"type": "result", "subtype": "error_max_turns", "is_error": True})
    assert format_result(outcome) == ["✗ Claude reported an error (error_max_turns)"]


def test_fold_accumulates_a_whole_stream() -> None:
    outcome = StreamOutcome()
    for event in (INIT, TOOL_USE, TOOL_ERROR, TOOL_USE, RESULT):
        outcome = fold(outcome, event)
    assert outcome.session_id == "abc" and outcome.model == "claude-sonnet-4-5"
    assert outcome.tool_uses == 2
    assert outcome.is_error is False and outcome.result_text == "Fixed both tests."
    assert outcome.cost_usd == 0.0421 and outcome.input_tokens == 1234 and outcome.output_tokens == 567
