"""Commits out: the pod packs its result, the results container prints it, the CLI imports it.

result.tar (uncompressed; the bundle inside is already compressed):
    result.json       ResultSummary: base, head, branch, exit code, commit count, how commits travel
    commits.bundle    `git bundle` of base..head (thin, prerequisite = base); absent with no commits
                      or in remote mode, where the pod pushed the branch instead
    state/...         the run's checkpoint directory, so `prodigy resume` can continue it

Hand-off inside the pod goes through the shared emptyDir, never the network:
    the agent touches `heartbeat` every few seconds while it lives, and renames `result.tar.tmp`
    to `result.tar` when the export is complete (the rename is the "done" signal);
    the results container waits for `result.tar` and prints it framed (framing.py), or prints a
    `none` frame once the heartbeat goes stale, so the pod always terminates.
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from prodigy.errors import GitError
from prodigy.k8s.transport.framing import decode_frames, encode_frames, none_frame
from prodigy.k8s.transport.manifest import MIB, TransportError
from prodigy.k8s.transport.untar import extract_regular_file
from prodigy.repo import git as gitops
from prodigy.repo.git import git

RESULT_FILE = "result.tar"
EXPORT_ERROR_FILE = "export-error.txt"     # written instead of result.tar when the export failed
HEARTBEAT_FILE = "heartbeat"
SUMMARY_MEMBER = "result.json"
BUNDLE_MEMBER = "commits.bundle"
STATE_PREFIX = "state/"
CARRIERS = ("bundle", "push", "none")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
# A session's branch, or one of its MapReduce agents' (`prodigy.repo.agents.agent_branch`).
_BRANCH = re.compile(r"prodigy-(?:agent-)?session-[A-Za-z0-9][A-Za-z0-9._-]*")
# Base64 grows 4/3: 7 MiB of bundle stays under the kubelet's default 10 MiB log rotation size.
LOG_CHANNEL_SAFE_BYTES = 7 * MIB


@dataclass(frozen=True)
class ResultSummary:
    base_sha: str
    head_sha: str
    branch: str
    exit_code: int
    commits: int
    carried_by: str           # "bundle" | "push" | "none"

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ResultSummary:
        """Parse and check the pod's summary: its SHAs and branch go to git, so they must be what they claim."""
        try:
            raw = json.loads(text)
            summary = cls(raw["base_sha"], raw["head_sha"], raw["branch"], int(raw["exit_code"]),
                          int(raw["commits"]), raw["carried_by"])
        except (ValueError, KeyError, TypeError) as exc:
            raise TransportError(f"result summary is malformed: {exc}") from exc
        for name in ("base_sha", "head_sha"):
            value = getattr(summary, name)
            if not isinstance(value, str) or not _SHA.fullmatch(value):
                raise TransportError(f"result summary is malformed: {name} {value!r} is not a commit id")
        if not isinstance(summary.branch, str) or not _BRANCH.fullmatch(summary.branch):
            raise TransportError(f"result summary is malformed: branch {summary.branch!r} is not a session's branch")
        if summary.carried_by not in CARRIERS:
            raise TransportError(f"result summary is malformed: carried_by {summary.carried_by!r} is not one of "
                                 f"{', '.join(CARRIERS)}")
        return summary


# ---------------------------------------------------------------- pod: the agent container

class Heartbeat:
    """Touch `<out_dir>/heartbeat` every `interval` seconds while the agent process is alive."""

    def __init__(self, out_dir: Path, interval: float = 2.0) -> None:
        self._path = out_dir / HEARTBEAT_FILE
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="prodigy-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.touch()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self._interval + 1)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._path.touch()


def export_results(
    repo_dir: Path, *, base_sha: str, branch: str, exit_code: int, out_dir: Path,
    state_dir: Path | None = None, carry_commits: bool = True,
) -> ResultSummary:
    """Write `<out_dir>/result.tar` atomically; call on success and on failure alike."""
    head = git("rev-parse", "HEAD^{commit}", cwd=repo_dir).stdout.strip()
    # Steps may leave HEAD detached; the branch is what the user gets back, so it follows HEAD.
    git("update-ref", "--", f"refs/heads/{branch}", head, cwd=repo_dir)
    commits = gitops.count_commits(repo_dir, base_sha, head) if head != base_sha else 0
    carried_by = "none" if commits == 0 else ("bundle" if carry_commits else "push")
    summary = ResultSummary(base_sha, head, branch, exit_code, commits, carried_by)
    out_dir.mkdir(parents=True, exist_ok=True)
    partial = out_dir / (RESULT_FILE + ".tmp")
    with tempfile.TemporaryDirectory(prefix="prodigy-result-") as scratch, tarfile.open(partial, "w") as tar:
        _add_bytes(tar, SUMMARY_MEMBER, summary.to_json().encode())
        if carried_by == "bundle":
            bundle = Path(scratch) / BUNDLE_MEMBER
            git("bundle", "create", "--quiet", str(bundle), f"^{base_sha}", f"refs/heads/{branch}", cwd=repo_dir)
            if bundle.stat().st_size > LOG_CHANNEL_SAFE_BYTES:
                # Kubelets rotate container logs at 10 MiB by default and pods/log serves only the
                # current file: say so where the user will look if the checksum then fails.
                print(f"prodigy: warning: the new commits pack to {bundle.stat().st_size / MIB:.1f} MiB; results "
                      f"over {LOG_CHANNEL_SAFE_BYTES // MIB} MiB may be cut by log rotation (use repo.mode: remote)",
                      flush=True)
            tar.add(bundle, arcname=BUNDLE_MEMBER)
        if state_dir is not None and state_dir.is_dir():
            for path in sorted(state_dir.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    tar.add(path, arcname=STATE_PREFIX + path.relative_to(state_dir).as_posix())
    partial.replace(out_dir / RESULT_FILE)
    return summary


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    import io

    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = int(time.time())
    tar.addfile(info, io.BytesIO(data))


# ---------------------------------------------------------------- pod: the results container

# Once the pod is being deleted, a heartbeat this old means the agent is gone (it beats every 2 s).
STOPPING_STALE_AFTER = 5.0


NEVER_STARTED = "the agent never started"     # the one reason that cannot have lost commits


def wait_for_result(
    out_dir: Path, *, clock: Callable[[], float] = time.time, sleep: Callable[[float], None] = time.sleep,
    poll_seconds: float = 0.05, stale_after: float = 20.0, startup_grace: float = 300.0,
    stopping: Callable[[], bool] = lambda: False,
) -> str | None:
    """Wait until the agent's result.tar exists (returns None) or the agent is gone (returns why).

    The agent's heartbeat tells a long step from a dead agent (OOM-killed, deadline): this
    container must end either way, or the pod (and the Job) would never finish.
    ``stopping()``: the pod is being deleted (SIGTERM). The agent, signalled at the same moment,
    is exporting what it has, so keep waiting while it beats; but an agent that never started,
    or went quiet, will not export: end now rather than hold the pod until SIGKILL.
    """
    result = out_dir / RESULT_FILE
    heartbeat = out_dir / HEARTBEAT_FILE
    started = clock()
    failed = out_dir / EXPORT_ERROR_FILE
    while not result.is_file():
        if failed.is_file():
            return f"the agent could not export its result: {failed.read_text().strip()}"
        now = clock()
        stop = stopping()
        try:
            beat_age = now - heartbeat.stat().st_mtime
        except FileNotFoundError:
            if stop or now - started > startup_grace:
                return f"{NEVER_STARTED} (no heartbeat within {now - started:.0f}s)"
        else:
            if beat_age > (min(stale_after, STOPPING_STALE_AFTER) if stop else stale_after):
                if result.is_file():      # exported between the two checks
                    break
                return f"the agent stopped without exporting a result (silent for {beat_age:.0f}s)"
        sleep(poll_seconds)
    return None


def wait_and_emit(out_dir: Path, write_line: Callable[[str], None], **wait: Any) -> bool:
    """Wait for the agent's result and print it framed; True if a result was printed.

    Never fails: this container's exit code must not change the pod's outcome.
    """
    missing = wait_for_result(out_dir, **wait)
    if missing is not None:
        write_line(none_frame(missing))
        return False
    with (out_dir / RESULT_FILE).open("rb") as source:
        for line in encode_frames(source):
            write_line(line)
    return True


# ---------------------------------------------------------------- CLI: collect and import

@dataclass(frozen=True)
class CollectedResult:
    """A verified result.tar on local disk (delete `path` when done)."""

    path: Path
    summary: ResultSummary


def receive(lines: Iterable[str], spool_dir: Path, *,
            on_missing: Callable[[str], None] | None = None) -> CollectedResult | None:
    """Decode framed log lines into a verified result file; None when the pod sent none
    (``on_missing`` hears why: the results container's own reason, or that no frame came)."""
    spool_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="result-", suffix=".tar", dir=spool_dir)
    path = Path(name)
    with open(fd, "w+b") as sink:
        outcome = decode_frames(lines, sink)
    if not outcome.found:
        path.unlink()
        if on_missing is not None and outcome.missing_reason:
            on_missing(outcome.missing_reason)
        return None
    return CollectedResult(path, read_summary(path))


def read_summary(result_tar: Path) -> ResultSummary:
    try:
        with tarfile.open(result_tar, "r:") as tar:
            member = tar.extractfile(SUMMARY_MEMBER)
            if member is None:
                raise KeyError(SUMMARY_MEMBER)
            return ResultSummary.from_json(member.read().decode("utf-8"))
    except (tarfile.TarError, KeyError, OSError, UnicodeDecodeError) as exc:
        raise TransportError(f"result archive {result_tar} is unreadable: {exc}") from exc


def check_archive(tar: tarfile.TarFile, summary: ResultSummary) -> None:
    """Every member is one prodigy writes, every path stays inside its place, before anything is used.

    Raised here, a problem leaves the user's branch and state directory exactly as they were.
    """
    seen: set[str] = set()
    try:
        members = tar.getmembers()
    except (tarfile.TarError, OSError) as exc:
        raise TransportError(f"the result archive is damaged: {exc}") from exc
    for member in members:
        name = member.name
        if name in (SUMMARY_MEMBER, BUNDLE_MEMBER):
            if not member.isfile() or name in seen:
                raise TransportError(f"the result archive's {name} is not a single regular file")
        elif name.startswith(STATE_PREFIX):
            relative = PurePosixPath(name[len(STATE_PREFIX):])
            if (not relative.parts or relative.is_absolute() or ".." in relative.parts
                    or not (member.isfile() or member.isdir())):
                raise TransportError(f"the result archive holds {name!r}, which would land outside the session's "
                                     "state directory (or is not a plain file); nothing was applied")
        else:
            raise TransportError(f"the result archive holds an unexpected member {name!r}; nothing was applied")
        seen.add(name)
    if summary.carried_by == "bundle" and BUNDLE_MEMBER not in seen:
        raise TransportError(f"the result says its commits travel as {BUNDLE_MEMBER}, but the archive lacks it; "
                             "nothing was applied")


def import_results(
    repo: Path, result_tar: Path, *, expected_base: str, branch: str, state_dest: Path | None,
    fetch_pushed: Callable[[str], None] | None = None,
) -> ResultSummary:
    """Land the pod's commits on local branch `branch` (created or fast-forwarded) and its checkpoint.

    Verifies the base matches what was shipped and is an ancestor of the returned head, so a
    result can never rewrite the user's history. Commit ids are exactly the pod's.
    `fetch_pushed(ref)` fetches the pod's pushed branch into `ref` (remote mode).
    """
    summary = read_summary(result_tar)
    if summary.base_sha != expected_base or summary.branch != branch:
        raise TransportError(
            f"result belongs to another run: base {summary.base_sha[:12]} on {summary.branch}, "
            f"expected base {expected_base[:12]} on {branch}"
        )
    incoming = f"refs/prodigy/incoming/{branch}"
    # Under the repository lock: the session branch (and a worktree that has it checked out)
    # moves here, while other runs of the same repository create, merge and remove theirs.
    with gitops.locked(repo, f"landing the commits of {branch}"), \
            tempfile.TemporaryDirectory(prefix="prodigy-import-") as scratch, _open_archive(result_tar) as tar:
        check_archive(tar, summary)
        # Everything that can be wrong with the archive is found before the branch moves.
        staged_state = Path(scratch) / "state"
        if state_dest is not None:
            _extract_state(tar, staged_state)
        try:
            if summary.carried_by == "bundle":
                bundle = Path(scratch) / BUNDLE_MEMBER
                _extract_member(tar, BUNDLE_MEMBER, bundle)
                verify = git("bundle", "verify", "--quiet", str(bundle), cwd=repo, check=False)
                if not verify.ok:
                    raise TransportError("the returned commits do not apply to this repository: "
                                         f"{verify.stderr.strip() or 'not a git bundle'}")
                git("fetch", "--quiet", "--no-tags", "--", str(bundle), f"+refs/heads/{branch}:{incoming}", cwd=repo)
            elif summary.carried_by == "push":
                if fetch_pushed is None:
                    raise TransportError("the pod pushed its commits but no remote was given to fetch them from")
                fetch_pushed(incoming)
            else:
                git("update-ref", "--", incoming, summary.base_sha, cwd=repo)
            _advance_branch(repo, branch, incoming, summary)
        finally:
            git("update-ref", "-d", "--", incoming, cwd=repo, check=False)
        if state_dest is not None:
            _install_state(staged_state, state_dest)
    return summary


def _open_archive(result_tar: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(result_tar, "r:")
    except (tarfile.TarError, OSError) as exc:
        raise TransportError(f"result archive {result_tar} is unreadable: {exc}") from exc


def _advance_branch(repo: Path, branch: str, incoming: str, summary: ResultSummary) -> None:
    got = git("rev-parse", f"{incoming}^{{commit}}", cwd=repo).stdout.strip()
    if got != summary.head_sha:
        raise TransportError(f"returned branch is at {got[:12]}, the pod reported {summary.head_sha[:12]}")
    if not gitops.is_ancestor(repo, summary.base_sha, got):
        raise TransportError(f"returned branch does not descend from the base commit {summary.base_sha[:12]}")
    if not gitops.branch_exists(repo, branch):
        git("branch", "--", branch, got, cwd=repo)
        return
    current = git("rev-parse", "--verify", "--end-of-options", f"refs/heads/{branch}", cwd=repo).stdout.strip()
    if current == got:
        return
    if not gitops.is_ancestor(repo, current, got):
        raise GitError(f"branch {branch} moved locally to {current[:12]}; the cluster result {got[:12]} "
                       "does not contain it, so it was not applied", hint=f"inspect with: git log {branch}")
    checkout = gitops.checkout_of_branch(repo, branch)
    if checkout is not None:
        # Fast-forward the worktree that has the branch checked out (a resumed session).
        git("merge", "--ff-only", "--quiet", "--end-of-options", got, cwd=checkout)
    else:
        git("update-ref", "--", f"refs/heads/{branch}", got, current, cwd=repo)


def _extract_member(tar: tarfile.TarFile, name: str, dest: Path) -> None:
    try:
        source = tar.extractfile(name)
        if source is None:
            raise KeyError(name)
        with source, dest.open("wb") as sink:
            shutil.copyfileobj(source, sink)
    except (KeyError, tarfile.TarError, OSError) as exc:
        raise TransportError(f"result archive lacks a readable {name}: {exc}") from exc


def _extract_state(tar: tarfile.TarFile, dest: Path) -> None:
    """The archive's ``state/`` files into ``dest`` (members already checked by `check_archive`)."""
    dest.mkdir(parents=True, exist_ok=True)
    try:
        for member in tar.getmembers():
            if member.isfile() and member.name.startswith(STATE_PREFIX):
                member.name = member.name[len(STATE_PREFIX):]
                extract_regular_file(tar, member, dest)
    except (tarfile.TarError, OSError) as exc:
        raise TransportError(f"the result archive's state files cannot be unpacked: {exc}; nothing was applied") \
            from exc


def _install_state(staged: Path, dest: Path) -> None:
    """Copy the unpacked state over ``dest`` (files the archive has win; others stay)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copytree(staged, dest, dirs_exist_ok=True)

