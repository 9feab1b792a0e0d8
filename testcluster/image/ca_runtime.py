"""An OCI runtime wrapper for buildah's RUN steps: the host's CA bundle, read-only, then runc.

Machines that reach the package registries through a TLS-inspecting proxy trust its CA only
in the host's store; `pip`, `uv` and `npm` inside a RUN step fail with
CERTIFICATE_VERIFY_FAILED. buildah 1.28's ``--env`` does not reach RUN steps, so this wrapper,
passed as ``buildah --runtime``, edits each RUN container's ``config.json`` before handing it
to runc: a read-only bind mount of the host bundle under ``/dev`` (a tmpfs in the container,
so nothing lands in a layer) and the variables that point the tools at it. The image itself
keeps its own CA store.

Run by the system Python (``/usr/bin/python3``) with the real runtime as its first argument.
Standard library only.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

CA_IN_CONTAINER = "/dev/host-ca-bundle.crt"
CA_ENV = ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "NODE_EXTRA_CA_CERTS", "CURL_CA_BUNDLE",
          "GIT_SSL_CAINFO")


def bundle_dir(args: list[str]) -> str:
    for index, arg in enumerate(args):
        if arg in ("--bundle", "-b") and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--bundle="):
            return arg.split("=", 1)[1]
    return os.getcwd()


def add_ca(config: dict[str, Any], host_ca: str) -> dict[str, Any]:
    mounts = [m for m in config.get("mounts", []) if m.get("destination") != CA_IN_CONTAINER]
    mounts.append({"destination": CA_IN_CONTAINER, "type": "bind", "source": host_ca,
                   "options": ["bind", "ro", "nosuid", "nodev", "noexec"]})
    config["mounts"] = mounts
    process = config.setdefault("process", {})
    env = [e for e in process.get("env", []) if e.split("=", 1)[0] not in CA_ENV]
    process["env"] = env + [f"{name}={CA_IN_CONTAINER}" for name in CA_ENV]
    return config


def main(argv: list[str]) -> None:
    runtime, args = argv[1], argv[2:]
    host_ca = os.environ.get("PRODIGY_BUILD_HOST_CA", "/etc/ssl/certs/ca-certificates.crt")
    if any(a in ("create", "run") for a in args) and os.path.isfile(host_ca):
        path = os.path.join(bundle_dir(args), "config.json")
        if os.path.isfile(path):
            with open(path) as handle:
                config = json.load(handle)
            with open(path, "w") as handle:
                json.dump(add_ca(config, host_ca), handle)
    os.execv(runtime, [runtime, *args])


if __name__ == "__main__":
    main(sys.argv)
