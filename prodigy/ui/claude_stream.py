"""Claude Code ``--output-format stream-json`` events, turned into readable progress lines.

Pure functions over the decoded JSON objects. The real CLI emits one JSON object per line with
a ``type`` of ``system`` (``subtype: init``), ``assistant`` (``message.content`` blocks: ``text``,
``tool_use``), ``user`` (``tool_result`` blocks) and a final ``result`` carrying ``is_error``,
``result``, ``num_turns``, ``duration_ms``, ``total_cost_usd`` and ``usage``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

Event = Mapping[str, Any]

MAX_DETAIL = 120


@dataclass(frozen=True)
class StreamOutcome:
    """What a whole stream said, folded event by event."""

    session_id: str | None = None
    model: str | None = None
    tool_uses: int = 0
    result_text: str | None = None
    result_subtype: str | None = None
    is_error: bool | None = None       # None until a result event arrives
    cost_usd: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    num_turns: int | None = None
    duration_ms: int | None = None


def parse_line(line: str) -> dict[str, Any] | None:
    """Decode one stdout line; None for blank or non-JSON lines (which are shown as they are)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "type" in value else None


def _content_blocks(event: Event) -> list[Mapping[str, Any]]:
    message = event.get("message")
    content = message.get("content") if isinstance(message, Mapping) else None
    if isinstance(content, list):
        return [block for block in content if isinstance(block, Mapping)]
    return []


def _shorten(text: str, limit: int = MAX_DETAIL) -> str:
    one_line = " ".join(str(text).split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1] + "…"


_TOOL_DETAIL_KEYS = ("command", "file_path", "path", "pattern", "url", "description", "query", "prompt")


def describe_tool_use(name: str, tool_input: Any) -> str:
    """`Bash(git commit -m "x")`: the tool and the one argument that says what it does."""
    if isinstance(tool_input, Mapping):
        if name == "TodoWrite" and isinstance(tool_input.get("todos"), list):
            return f"TodoWrite({len(tool_input['todos'])} todos)"
        for key in _TOOL_DETAIL_KEYS:
            if isinstance(tool_input.get(key), str):
                return f"{name}({_shorten(tool_input[key])})"
    return name


def _tool_result_text(block: Mapping[str, Any]) -> str:
    content = block.get("content")
    if isinstance(content, list):
        return " ".join(str(part.get("text", "")) for part in content if isinstance(part, Mapping))
    return str(content or "")


def fold(outcome: StreamOutcome, event: Event) -> StreamOutcome:
    kind = event.get("type")
    if kind == "system" and event.get("subtype") == "init":
        return replace(outcome, session_id=event.get("session_id"), model=event.get("model"))
    if kind == "assistant":
        uses = sum(1 for block in _content_blocks(event) if block.get("type") == "tool_use")
        return replace(outcome, tool_uses=outcome.tool_uses + uses)
    if kind == "result":
        raw_usage = event.get("usage")
        usage: Mapping[str, Any] = raw_usage if isinstance(raw_usage, Mapping) else {}
        return replace(
            outcome,
            session_id=event.get("session_id") or outcome.session_id,
            result_text=event.get("result") if isinstance(event.get("result"), str) else None,
            result_subtype=event.get("subtype"), is_error=bool(event.get("is_error")),
            cost_usd=event.get("total_cost_usd", event.get("cost_usd")),
            input_tokens=_total_input_tokens(usage), output_tokens=usage.get("output_tokens"),
            num_turns=event.get("num_turns"), duration_ms=event.get("duration_ms"),
        )
    return outcome


def _total_input_tokens(usage: Mapping[str, Any]) -> int | None:
    parts = [usage.get(k) for k in ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")]
    numbers = [p for p in parts if isinstance(p, int)]
    return sum(numbers) if numbers else None


def format_event(event: Event, verbosity: int = 0) -> list[str]:
    """Progress lines for one event: tool uses always, assistant prose and init with -v."""
    kind = event.get("type")
    lines: list[str] = []
    if kind == "system" and event.get("subtype") == "init":
        if verbosity >= 1:
            lines.append(f"claude session {event.get('session_id', '?')} (model {event.get('model', '?')})")
    elif kind == "assistant":
        for block in _content_blocks(event):
            if block.get("type") == "tool_use":
                lines.append(f"→ {describe_tool_use(str(block.get('name', 'tool')), block.get('input'))}")
            elif block.get("type") == "text" and verbosity >= 1 and str(block.get("text", "")).strip():
                lines.append(f"  {_shorten(str(block['text']), 200)}")
    elif kind == "user":
        for block in _content_blocks(event):
            if block.get("type") == "tool_result" and block.get("is_error"):
                lines.append(f"  ✗ tool error: {_shorten(_tool_result_text(block))}")
    elif kind == "result":
        lines.extend(format_result(fold(StreamOutcome(), event)))
    return lines


def format_cost(outcome: StreamOutcome) -> str:
    """`$0.0123, 1,234 in / 56 out tokens, 4 turns, 12.3 s` with whatever the result reported."""
    parts = []
    if outcome.cost_usd is not None:
        parts.append(f"${outcome.cost_usd:.4f}")
    if outcome.input_tokens is not None or outcome.output_tokens is not None:
        parts.append(f"{outcome.input_tokens or 0:,} in / {outcome.output_tokens or 0:,} out tokens")
    if outcome.num_turns is not None:
        parts.append(f"{outcome.num_turns} turns")
    if outcome.duration_ms is not None:
        parts.append(f"{outcome.duration_ms / 1000:.1f} s")
    return ", ".join(parts)


def format_result(outcome: StreamOutcome) -> list[str]:
    mark = "✗ Claude reported an error" if outcome.is_error else "✓ Claude finished"
    if outcome.is_error and outcome.result_subtype and outcome.result_subtype != "success":
        mark += f" ({outcome.result_subtype})"
    cost = format_cost(outcome)
    lines = [f"{mark}{': ' + cost if cost else ''}"]
    if outcome.result_text and outcome.result_text.strip():
        lines.append(f"  {_shorten(outcome.result_text, 300)}")
    return lines
