"""Step shapes from upstream's files and docs that are not this project's own schema, turned into it.

`normalise_step(raw)` runs before a step is validated (pure; plain data in, plain data out):

- a plain string step, ``- "prodigy-code-review"``: upstream's oldest form, a Claude slash command
  (``/prodigy-code-review``) that must commit (``commit_required: true``), except for the
  commands upstream registers as not committing (``prodigy-lint``);
- the older command form ``{name, args, options, metadata, id, outputs}``: the Claude command
  ``/name args...`` with ``metadata.commit_required``/``timeout``/``env``;
- ``analyze:``: upstream removed analysis in v0.3.0 and skips it; here it becomes a step that does
  nothing (``shell: "true"``), so the rest of the workflow runs as upstream runs it;
- keys upstream's step schema ignores (`NO_EFFECT_KEYS`): dropped.

The loader reports every dropped key and every `analyze:` once, with its line (`no_effect_notes`).
Anything else that is not a known key stays an error with a did-you-mean.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from typing import Any, Final

__all__ = ["NO_EFFECT_KEYS", "STEP_KINDS", "no_effect_notes", "normalise_step"]

STEP_KINDS: Final = ("claude", "shell", "write_file", "foreach", "test", "analyze", "goal_seek")

# Keys upstream's standard step schema accepts by ignoring them (serde drops unknown fields), each
# with what to say about it.
NO_EFFECT_KEYS: Final[Mapping[str, str]] = {
    "temporary": "`temporary` has no effect (step `env:` applies to that step only anyway)",
    "clear_env": "`clear_env` has no effect: steps always see the environment plus their `env:`",
    "retry_config": "`retry_config` has no effect on a step; use `on_failure:` with `max_attempts`",
    "timeout_secs": "`timeout_secs` has no effect; the step option is `timeout:` (seconds)",
    "options": "`options` has no effect; put the arguments in the command",
    "args": "`args` has no effect on a `claude:`/`shell:` step; put the arguments in the command",
    "metadata": "`metadata` has no effect on a `claude:`/`shell:` step",
    "analysis": "`analysis` has no effect (upstream removed analysis in v0.3.0)",
    "description": "`description` has no effect (use a YAML comment, or `name:` to label the step)",
    "allow_failure": "`allow_failure` has no effect; write `on_failure: true` to let the workflow go on",
}

# Upstream's command registry: the commands that do not make commits by default.
_NON_COMMITTING: Final = frozenset({"prodigy-lint"})
ANALYZE_PLACEHOLDER_NAME: Final = "analyze (no effect: removed upstream)"


def _slash(name: str) -> str:
    return name if name.startswith("/") else f"/{name}"


def normalise_step(raw: Any) -> Any:
    if isinstance(raw, str):
        command = raw.strip()
        name = _slash(command).split()[0][1:] if command else ""
        return {"claude": _slash(command), "commit_required": name not in _NON_COMMITTING}
    if not isinstance(raw, dict):
        return raw
    if "analyze" in raw:
        return {"shell": "true", "name": ANALYZE_PLACEHOLDER_NAME}
    if "name" in raw and not any(kind in raw for kind in STEP_KINDS):
        return _command_form(raw)
    return {key: value for key, value in raw.items() if key not in NO_EFFECT_KEYS}


def _command_form(raw: dict[str, Any]) -> dict[str, Any]:
    """``{name, args, options, metadata, id, outputs}`` -> a claude step (upstream's `Command`)."""
    metadata = raw.get("metadata") if isinstance(raw.get("metadata"), dict) else {}
    assert isinstance(metadata, dict)
    args = raw.get("args") or []
    words = [str(arg) for arg in args] if isinstance(args, list) else [str(args)]
    command = " ".join([_slash(str(raw["name"]).strip()), *(shlex.quote(word) if " " in word else word
                                                            for word in words)])
    step: dict[str, Any] = {"claude": command}
    name = str(raw["name"]).lstrip("/")
    step["commit_required"] = bool(metadata.get("commit_required", name not in _NON_COMMITTING))
    if metadata.get("timeout") is not None:
        step["timeout"] = metadata["timeout"]
    if isinstance(metadata.get("env"), dict) and metadata["env"]:
        step["env"] = metadata["env"]
    for key in ("id", "outputs", "when", "on_failure", "on_success", "validate", "capture_output"):
        if key in raw:
            step[key] = raw[key]
    return step


def no_effect_notes(node: Any, path: tuple[int | str, ...] = ()) -> Iterator[tuple[tuple[int | str, ...], str]]:
    """Every (location, note) in a raw document where a step has a key with no effect, or an
    `analyze:` step (depth first; the loader turns locations into line numbers)."""
    if isinstance(node, dict):
        is_step = any(kind in node for kind in STEP_KINDS)
        if is_step and "analyze" in node:
            yield path, "`analyze:` does nothing: upstream removed analysis in v0.3.0 (this step is skipped)"
        elif is_step:
            for key in node:
                if key in NO_EFFECT_KEYS:
                    yield (*path, key), NO_EFFECT_KEYS[key]
        elif "name" in node and isinstance(node.get("options"), dict) and node["options"]:
            yield (*path, "options"), NO_EFFECT_KEYS["options"]
        for key, value in node.items():
            yield from no_effect_notes(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from no_effect_notes(value, (*path, index))
