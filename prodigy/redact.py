"""Masking secret values in everything prodigy writes: terminal, events, checkpoints, logs.

A workflow's ``secrets:`` values are passed to its steps as environment variables; their text
must never land in clear in a file prodigy writes. `Redactor` is the one rule (values shorter
than 4 characters are left alone: masking ``1`` or ``on`` everywhere would garble output without
protecting anything; longer values first, so overlapping secrets mask fully), applied to text or
recursively to JSON-like data.

Writers that cannot be handed a redactor — the crash reporter, the run index — use the
process-wide one: loading a workflow file calls `remember` with its secrets, and `known()`
returns everything remembered so far in this process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

__all__ = ["MASK", "MIN_SECRET_LENGTH", "Redactor", "known", "remember"]

MASK: Final = "***REDACTED***"
MIN_SECRET_LENGTH: Final = 4


@dataclass(frozen=True)
class Redactor:
    """Replaces every occurrence of its secret values with ``***REDACTED***``."""

    values: tuple[str, ...] = ()

    @classmethod
    def of(cls, secrets: Iterable[str]) -> Redactor:
        kept = {value for value in secrets if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH}
        return cls(tuple(sorted(kept, key=lambda value: (-len(value), value))))

    def __bool__(self) -> bool:
        return bool(self.values)

    def __or__(self, other: Redactor) -> Redactor:
        return Redactor.of((*self.values, *other.values))

    def text(self, text: str) -> str:
        for value in self.values:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def data(self, value: object) -> object:
        """``value`` with every string inside it (keys included) masked; other values unchanged."""
        if not self.values:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.data(key) if isinstance(key, str) else key: self.data(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [self.data(item) for item in value]
        return value


_lock = threading.Lock()
_remembered: set[str] = set()


def remember(secrets: Iterable[str]) -> None:
    """Add secret values to the process-wide redactor (see `known`)."""
    with _lock:
        _remembered.update(value for value in secrets if isinstance(value, str))


def known() -> Redactor:
    """A redactor for every secret remembered in this process so far."""
    with _lock:
        return Redactor.of(_remembered)
