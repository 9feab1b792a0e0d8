"""Image references and the image map: what an image *means* to a node with no images.

A pod's image never gets pulled. The map says, per image glob, how a container of that
image runs on the host: which directories go first on PATH, extra environment, and the
image's ``entrypoint`` and ``cmd`` (Docker's ENTRYPOINT and CMD, combined with the
container's ``command``/``args`` the way Kubernetes does). An image no rule matches fails
the way an unpullable image fails on a real node (ErrImagePull, then ImagePullBackOff).

Map file (YAML or JSON), first matching rule wins; ``{venv}`` is the virtualenv the agent
runs from (so ``prodigy`` is on PATH) and ``{python}`` a directory whose ``python`` and
``python3`` are the base interpreter (stdlib only, like a slim python image)::

    images:
      - pattern: "prodigy-agent:*"
        path: ["{venv}/bin"]
        env: {PYTHONUNBUFFERED: "1"}
      - pattern: "busybox*"
        cmd: ["sh"]
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class InvalidImageName(ValueError):
    """The kubelet's InvalidImageName: ``str(error)`` is its waiting message."""


_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = f"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[(?:[a-fA-F0-9:]+)\])"
_NAME = rf"(?:{_HOST}(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(rf"^({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?$")
_IDENTIFIER = re.compile(r"^[a-f0-9]{64}$")


def _split_docker_domain(name: str) -> tuple[str, str]:
    domain, slash, remote = name.partition("/")
    if not slash:
        return "docker.io", "library/" + name
    if domain == "index.docker.io":
        domain = "docker.io"
    elif domain != "localhost" and not any(c in domain for c in ".:") and domain.lower() == domain:
        domain, remote = "docker.io", name
    if domain == "docker.io" and "/" not in remote:
        remote = "library/" + remote
    return domain, remote


def _parse_error(image: str) -> str | None:
    """distribution/reference ParseNormalizedNamed's error text, or None when valid."""
    if _IDENTIFIER.match(image):
        return f"invalid repository name ({image}), cannot specify 64-byte hexadecimal strings"
    domain, remainder = _split_docker_domain(image)
    remote = remainder.split(":", 1)[0]
    if remote.lower() != remote:
        return f"invalid reference format: repository name ({remote}) must be lowercase"
    candidate = f"{domain}/{remainder}"
    if _REFERENCE.match(candidate):
        return None
    if not candidate:
        return "repository name must have at least one component"
    if _REFERENCE.match(candidate.lower()):
        return "repository name must be lowercase"
    return "invalid reference format"


def apply_default_tag(image: str) -> str:
    """``busybox`` -> ``busybox:latest`` the way the kubelet does, or InvalidImageName."""
    error = _parse_error(image)
    if error is not None:
        raise InvalidImageName(
            f'Failed to apply default image tag "{image}": couldn\'t parse image name "{image}": {error}'
        )
    last = image.rsplit("/", 1)[-1]
    if "@" in image or ":" in last:
        return image
    return image + ":latest"


def familiar_names(image: str) -> tuple[str, ...]:
    """The spellings a map pattern may use: as written, and without docker.io/library/."""
    names = [image]
    for prefix in ("docker.io/library/", "docker.io/", "index.docker.io/library/"):
        if image.startswith(prefix):
            names.append(image[len(prefix) :])
    return tuple(names)


@dataclass(frozen=True)
class ImageRule:
    pattern: str
    path: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    entrypoint: tuple[str, ...] = ()
    cmd: tuple[str, ...] = ()


@dataclass(frozen=True)
class ImageMap:
    rules: tuple[ImageRule, ...]
    source: str

    def resolve(self, image: str) -> ImageRule | None:
        names = familiar_names(image)
        return next((r for r in self.rules if any(fnmatch.fnmatchcase(n, r.pattern) for n in names)), None)


# docker/agent/contract.json: ENTRYPOINT ["/usr/bin/tini", "--"] only execs its arguments,
# so the rule has no entrypoint; the Job's args run as given, CMD when there are none.
_PRODIGY_AGENT: dict[str, Any] = {
    "path": ["{venv}/bin"],
    "env": {"PYTHONUNBUFFERED": "1"},
    "cmd": ["prodigy", "agent", "execute", "/config/workflow.yaml"],
}
DEFAULT_MAP: list[dict[str, Any]] = [
    {"pattern": "prodigy-agent:*", **_PRODIGY_AGENT},
    {"pattern": "prodigy-agent", **_PRODIGY_AGENT},
    {"pattern": "busybox*", "cmd": ["sh"]},
    {"pattern": "python*", "path": ["{python}"], "env": {"PYTHONUNBUFFERED": "1"}, "cmd": ["python3"]},
]


def _rule(raw: Any, where: str, placeholders: Mapping[str, str]) -> ImageRule:
    if not isinstance(raw, dict) or not isinstance(raw.get("pattern"), str):
        raise ValueError(f"{where}: each rule needs a string 'pattern'")
    unknown = set(raw) - {"pattern", "path", "env", "entrypoint", "cmd"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: pattern, path, env, entrypoint, cmd")

    def fill(text: Any) -> str:
        return str(text).format_map(placeholders)

    env = raw.get("env") or {}
    if not isinstance(env, dict):
        raise ValueError(f"{where}: 'env' must be a mapping")
    return ImageRule(
        pattern=raw["pattern"],
        path=tuple(fill(p) for p in raw.get("path") or ()),
        env={str(k): fill(v) for k, v in env.items()},
        entrypoint=tuple(str(a) for a in raw.get("entrypoint") or ()),
        cmd=tuple(str(a) for a in raw.get("cmd") or ()),
    )


def build_map(rules: Sequence[Any], source: str, placeholders: Mapping[str, str]) -> ImageMap:
    return ImageMap(
        tuple(_rule(r, f"{source}: images[{i}]", placeholders) for i, r in enumerate(rules)), source
    )


def load_map(path: Path | None, placeholders: Mapping[str, str]) -> ImageMap:
    """The map from ``path`` (YAML or JSON), or the built-in default."""
    if path is None:
        return build_map(DEFAULT_MAP, "built-in image map", placeholders)
    text = path.read_text()
    if path.suffix == ".json":
        data = json.loads(text)
    else:
        from ruamel.yaml import YAML

        data = YAML(typ="safe").load(text)
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise ValueError(f"{path}: expected a mapping with a list under 'images'")
    return build_map(data["images"], str(path), placeholders)


def pull_error(image: str, source: str) -> str:
    """The text a failed pull reports, worded like containerd's not-found error."""
    return (
        f'rpc error: code = NotFound desc = failed to pull and unpack image "{image}": '
        f"no rule in the node agent's image map ({source}) matches this image"
    )
