"""Credentials that travel to the pod, and keeping their values out of everything we print.

The pure part: which local environment variables become the per-run Secret, and a redactor
for any text (errors, logs, rendered manifests) that might contain a secret value. The
Secret object itself is built by ``prodigy.k8s.manifests.data.build_secret``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Final

# Claude Code reads one of these; whichever is set locally is forwarded to the pod.
CREDENTIAL_ENV_VARS: Final = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
REDACTED: Final = "<redacted>"
# Shorter values are not scrubbed from free text: replacing every "1" or "yes" in a log would
# garble it while protecting nothing a real credential looks like.
_MIN_REDACTABLE = 6


def credentials_from_env(environ: Mapping[str, str], *, provided_by_cluster: Collection[str] = ()) -> dict[str, str]:
    """The credential variables to copy into the per-run Secret.

    A variable the cluster entry already maps from an existing Secret (``secrets:`` in
    kubernetes.yaml) is left out: the cluster's Secret wins, and the local value never leaves
    the machine. Empty values are ignored.
    """
    return {
        name: environ[name]
        for name in CREDENTIAL_ENV_VARS
        if environ.get(name) and name not in provided_by_cluster
    }


def redact(text: str, secret_values: Iterable[str]) -> str:
    """Replace every occurrence of each secret value in ``text`` with ``<redacted>``."""
    # Longest first, so a value that contains another is replaced whole.
    for value in sorted({v for v in secret_values if len(v) >= _MIN_REDACTABLE}, key=len, reverse=True):
        text = text.replace(value, REDACTED)
    return text
