"""``--dry-run`` output: the run's objects as multi-document YAML, Secret values redacted.

The same function renders the golden files, so what they pin is what a user sees. Secret
keys stay visible (a user checks which credentials travel), their values never appear.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.scalarstring import LiteralScalarString

from prodigy.k8s.secrets import REDACTED

Obj = dict[str, Any]


def redact_secrets(obj: Obj) -> Obj:
    """A copy with every Secret value replaced by ``<redacted>`` (keys stay visible)."""
    if obj.get("kind") != "Secret":
        return obj
    out = copy.deepcopy(obj)
    for section in ("data", "stringData"):
        if section in out:
            out[section] = {key: REDACTED for key in out[section]}
    return out


def render_manifests_yaml(objects: Sequence[Obj]) -> str:
    """Multi-document YAML of ``objects`` as ``--dry-run`` prints it. Secret values never appear."""
    def literal_blocks(node: Any) -> Any:
        # Multi-line text (the workflow file, run.json) reads as a YAML block, like in an editor.
        if isinstance(node, dict):
            return {k: literal_blocks(v) for k, v in node.items()}
        if isinstance(node, list):
            return [literal_blocks(v) for v in node]
        if isinstance(node, str) and "\n" in node and node.endswith("\n") and not _has_trailing_spaces(node):
            return LiteralScalarString(node)
        return node

    yaml = YAML(typ="rt", pure=True)
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    out = io.StringIO()
    yaml.dump_all([literal_blocks(redact_secrets(obj)) for obj in objects], out)
    return out.getvalue()


def _has_trailing_spaces(text: str) -> bool:
    # A literal block cannot represent trailing spaces faithfully; fall back to a quoted string.
    return any(line != line.rstrip(" \t") for line in text.split("\n"))
