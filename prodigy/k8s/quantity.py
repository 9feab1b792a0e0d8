"""Kubernetes resource quantities as exact numbers, for comparing what a pod asks with what a
namespace allows (a ResourceQuota's ``hard``, a LimitRange's ``max``).

Pure. ``parse_quantity("500m") == Decimal("0.5")``, ``parse_quantity("1Gi") == 2**30``. The
grammar is the apiserver's (``resource.Quantity``): a signed decimal number, then an optional
binary suffix (Ki..Ei), decimal suffix (n, u, m, k, M..E) or exponent (e3, E-2).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

_QUANTITY = re.compile(r"([+-]?(?:\d+(?:\.\d*)?|\.\d+))(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1), "k": Decimal("1e3"),
            "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"), "P": Decimal("1e15"), "E": Decimal("1e18")}


def parse_quantity(text: object) -> Decimal | None:
    """The quantity's value, or None when it is not a quantity."""
    match = _QUANTITY.fullmatch(str(text).strip())
    if match is None:
        return None
    number, suffix = match.group(1), match.group(2) or ""
    try:
        value = Decimal(number)
    except InvalidOperation:
        return None
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    if suffix in _DECIMAL:
        return value * _DECIMAL[suffix]
    return value * (Decimal(10) ** int(suffix[1:]))


def exceeds(value: object, bound: object) -> bool:
    """``value > bound`` for two quantities; False when either is not a quantity."""
    parsed, limit = parse_quantity(value), parse_quantity(bound)
    return parsed is not None and limit is not None and parsed > limit


def pod_totals(containers: Iterable[Mapping[str, Any]], init_containers: Iterable[Mapping[str, Any]] = ()
               ) -> dict[str, Decimal]:
    """What a pod counts for against a ResourceQuota: ``requests.cpu``, ``limits.memory``, ...

    As the quota evaluator computes it: the sum over the containers, or the largest init
    container when that is more (init containers run one at a time, before the others).
    """
    def amounts(container: Mapping[str, Any]) -> dict[str, Decimal]:
        found: dict[str, Decimal] = {}
        resources = container.get("resources") or {}
        for kind in ("requests", "limits"):
            for name, raw in (resources.get(kind) or {}).items():
                value = parse_quantity(raw)
                if value is not None:
                    found[f"{kind}.{name}"] = value
        return found

    totals: dict[str, Decimal] = {}
    for container in containers:
        for key, value in amounts(container).items():
            totals[key] = totals.get(key, Decimal(0)) + value
    for container in init_containers:
        for key, value in amounts(container).items():
            totals[key] = max(totals.get(key, Decimal(0)), value)
    # A quota on plain `cpu`/`memory` means requests.
    for name in ("cpu", "memory"):
        if f"requests.{name}" in totals:
            totals[name] = totals[f"requests.{name}"]
    return totals


def format_quantity(value: Decimal) -> str:
    """A short human form: whole numbers as is, CPU fractions in millicores."""
    if value == value.to_integral_value():
        return str(int(value))
    return f"{int(value * 1000)}m"
