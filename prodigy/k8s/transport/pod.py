"""The transport's three roles inside the pod, as plain functions the `prodigy agent` commands call.

    fetch_repo     init container `prodigy-repo`: build /workspace/repo (bundle chunks or a clone)
    AgentSide      used by `prodigy agent execute`: where the checkout is, heartbeat, export
    emit_results   container `prodigy-results`: wait for the export, push (remote mode), print it

Each prints one short line per milestone to stdout, which is what the CLI shows for the init
container; `emit_results` prints only frames and notes, never workflow output.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from prodigy.errors import ProdigyError
from prodigy.k8s.transport import podenv
from prodigy.k8s.transport.checkout import extract_tar_stream, materialize, read_manifest, verified_blocks
from prodigy.k8s.transport.framing import none_frame
from prodigy.k8s.transport.manifest import STATE_TAR, TransportError
from prodigy.k8s.transport.remote import clone_at, mask_url, push_from_workspace
from prodigy.k8s.transport.results import (
    EXPORT_ERROR_FILE, RESULT_FILE, Heartbeat, ResultSummary, export_results, read_summary, wait_and_emit, wait_for_result,
)

CREDENTIALS_DIR = Path(podenv.CREDENTIALS_DIR)


def fetch_repo(*, to: Path, source_dir: Path | None, remote: bool, state_to: Path | None,
               environ: Mapping[str, str] = os.environ, say: Callable[[str], None] = print) -> None:
    started = time.monotonic()
    if remote:
        url = environ["PRODIGY_REPO_URL"]
        base, branch = environ[podenv.ENV_BASE_SHA], environ[podenv.ENV_SESSION_BRANCH]
        clone_at(url, base, to, fetch_ref=environ.get("PRODIGY_REPO_FETCH_REF"),
                 credentials_dir=CREDENTIALS_DIR if CREDENTIALS_DIR.is_dir() else None,
                 depth=int(environ.get("PRODIGY_REPO_DEPTH") or 1), branch=branch)
        say(f"prodigy: cloned {mask_url(url)} at {base[:12]} on {branch} ({time.monotonic() - started:.2f}s)")
        if source_dir is not None and state_to is not None:
            manifest = read_manifest(source_dir)
            state = manifest.file(STATE_TAR)
            if state is not None:
                extract_tar_stream(verified_blocks(source_dir, state), state_to)
        return
    if source_dir is None:
        raise TransportError("fetch-repo needs --from DIR (bundle mode) or --remote")
    manifest = materialize(source_dir, to, state_dir=state_to)
    say(f"prodigy: repository at {manifest.base_sha[:12]} on {manifest.branch} "
        f"({manifest.size_text()}, "
        f"{time.monotonic() - started:.2f}s)")


@dataclass(frozen=True)
class AgentSide:
    """What `prodigy agent execute` needs from the transport, read from the pod's env.

    Usage in the agent::

        side = AgentSide.from_env()
        if side is not None:
            with side.heartbeat():
                code = run_workflow(cwd=side.repo_dir, state_dir=side.state_dir, resume=side.resuming)
                side.export(code)
    """

    repo_dir: Path
    base_sha: str
    branch: str
    out_dir: Path
    state_dir: Path
    mode: str
    resuming: bool          # the init container restored a checkpoint into state_dir

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> AgentSide | None:
        if podenv.ENV_REPO_DIR not in environ:
            return None      # a Job without the transport (older CLI): nothing to export
        return cls(
            repo_dir=Path(environ[podenv.ENV_REPO_DIR]),
            base_sha=environ[podenv.ENV_BASE_SHA],
            branch=environ[podenv.ENV_SESSION_BRANCH],
            out_dir=Path(environ[podenv.ENV_RESULTS_DIR]),
            state_dir=Path(environ[podenv.ENV_STATE_DIR]),
            mode=environ.get(podenv.ENV_REPO_MODE, "bundle"),
            resuming=environ.get(podenv.ENV_RESUMING) == "true",
        )

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(self.out_dir)

    def export(self, exit_code: int, say: Callable[[str], None] = print) -> ResultSummary | None:
        """Export commits and checkpoint. Never raises: the pod's exit code stays the workflow's,
        and a failed export is reported to the results container (and so to the CLI) at once."""
        try:
            return export_results(self.repo_dir, base_sha=self.base_sha, branch=self.branch, exit_code=exit_code,
                                  out_dir=self.out_dir, state_dir=self.state_dir,
                                  carry_commits=self.mode != "remote")
        except (ProdigyError, OSError) as exc:
            reason = exc.message if isinstance(exc, ProdigyError) else str(exc)
            say(f"prodigy: could not export the run's commits: {reason}")
            self.out_dir.mkdir(parents=True, exist_ok=True)
            (self.out_dir / EXPORT_ERROR_FILE).write_text(reason + "\n")
            return None


STOPPED_LINGER_SECONDS = 10.0


def emit_results(out_dir: Path, *, push_from: Path | None = None, environ: Mapping[str, str] = os.environ,
                 write: Callable[[str], None] | None = None, linger: Callable[[float], None] = time.sleep) -> int:
    """The results container's whole job. Always returns 0: its exit code must not mask the agent's.

    SIGTERM (the pod is being deleted) does not end it: the agent got the same signal and is
    exporting the commits made so far; they are printed once exported, within the pod's
    grace period (see results.wait_for_result's ``stopping``).
    """
    with _sigterm_flag() as stopping:
        return _emit(out_dir, push_from, environ, write, stopping, linger)


def _emit(out_dir: Path, push_from: Path | None, environ: Mapping[str, str],
          write: Callable[[str], None] | None, stopping: threading.Event, linger: Callable[[float], None]) -> int:
    def write_line(line: str) -> None:
        if write is not None:
            write(line)
        else:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    if push_from is not None:
        # Remote mode: wait for the export, push the branch, then print the (bundle-less) result.
        missing = wait_for_result(out_dir, stopping=stopping.is_set)
        if missing is not None:
            write_line(none_frame(missing))
            return 0
        try:
            summary = read_summary(out_dir / RESULT_FILE)
            if summary.carried_by == "push":
                # The workspace is the workflow's: the branch and base come from the pod spec, and
                # the push runs from a repository of our own (remote.push_from_workspace).
                push_from_workspace(push_from, environ["PRODIGY_REPO_URL"],
                                    branch=environ[podenv.ENV_SESSION_BRANCH], head_sha=summary.head_sha,
                                    base_sha=environ[podenv.ENV_BASE_SHA],
                                    credentials_dir=CREDENTIALS_DIR if CREDENTIALS_DIR.is_dir() else None)
        except TransportError as exc:
            write_line(none_frame(f"the pod could not push its commits: {exc.message}"))
            return 0
    wait_and_emit(out_dir, write_line, stopping=stopping.is_set)
    if stopping.is_set():
        # The pod is being deleted: a real kubelet removes each container, log included, as soon
        # as it exits, and the CLI may still be reading the frames just printed. Stay a little
        # (well within the grace period) so the log outlives the reader's last line.
        linger(STOPPED_LINGER_SECONDS)
    return 0


@contextlib.contextmanager
def _sigterm_flag() -> Iterator[threading.Event]:
    """An event SIGTERM sets instead of ending the process (main thread only; elsewhere it never fires)."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGTERM, previous)
