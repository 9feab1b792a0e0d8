"""The transport's part of one cluster run, seen from the CLI. `prodigy.k8s.executor` drives it:

    transport = RunTransport.prepare(...)        resolve phase: spool/verify, cap error; no side effect
    session   = transport.open_session(...)      just before submit: branch + worktree + metadata
    job additions: transport.additions           manifests phase (PodAdditions)
    submit(..., on_job_created=transport.upload) chunks created owned by the suspended Job
    ... supervise ...
    summary   = transport.collect_and_land(...)  results container log -> branch + checkpoint
    finish_session(session, ...)                 the local finish path, unchanged
    transport.close()

The session exists locally from submission on, exactly like a local run's worktree, and
records the Job in its metadata (`prodigy.repo.placement`). So if the CLI is killed mid-run,
`prodigy resume <session>` / `prodigy cluster collect <session>` know where to look.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from prodigy import paths
from prodigy.k8s.manifests.additions import PodAdditions
from prodigy.k8s.transport import podspec, remote
from prodigy.k8s.transport.cluster_io import collect_result, find_run_pod, results_container_ran, upload_chunks
from prodigy.k8s.transport.manifest import MIB, TransportError, TransportManifest
from prodigy.k8s.transport.results import CollectedResult, ResultSummary, import_results
from prodigy.k8s.transport.spool import spool_commit, write_tree_tar
from prodigy.repo import git as gitops
from prodigy.repo import worktrees
from prodigy.repo.git import git
from prodigy.repo.placement import ClusterPlacement, mark_collected, placement_extra

if TYPE_CHECKING:
    from prodigy.k8s.clients import Kube
    from prodigy.k8s.config.resolve import ResolvedCluster
    from prodigy.repo.worktrees import Session

STALE_SPOOL_SECONDS = 24 * 3600   # a spool lives minutes (until the chunks are uploaded)


def spool_root(home: Path | None = None, *, now: float | None = None) -> Path:
    """Where a run's repository pack waits for upload: ``$PRODIGY_HOME/spool``.

    Under prodigy's own state rather than /tmp, so that what a killed client could not clean
    up is found again: each new run removes spools older than a day.
    """
    root = (home or paths.prodigy_home()) / "spool"
    root.mkdir(parents=True, exist_ok=True)
    cutoff = (time.time() if now is None else now) - STALE_SPOOL_SECONDS
    for entry in root.iterdir():
        with contextlib.suppress(OSError):
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
    return root


IDENT_VARS = {"GIT_AUTHOR_IDENT": ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"),
              "GIT_COMMITTER_IDENT": ("GIT_COMMITTER_NAME", "GIT_COMMITTER_EMAIL")}


def git_identity(repo: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The author and committer a local commit in `repo` would get (env first, then git config),
    as the GIT_* variables the pod sets, so commits made there carry the user's identity."""
    identity: dict[str, str] = {}
    for var, (name_key, email_key) in IDENT_VARS.items():
        result = git("var", var, cwd=repo, check=False, env=environ)
        if not result.ok:
            continue
        # "Name <email> 1700000000 +0000"
        name, _, rest = result.stdout.strip().partition(" <")
        email = rest.split(">", 1)[0]
        if name:
            identity[name_key] = name
        if email:
            identity[email_key] = email
    return identity


@dataclass
class RunTransport:
    repo: Path
    cluster: ResolvedCluster
    run_id: str
    session_id: str
    base_sha: str
    additions: PodAdditions
    mode: str
    manifest: TransportManifest | None = None       # chunks to upload (bundle mode, or a resume checkpoint)
    remote_url: str | None = None
    pushed_base_ref: str | None = None
    _spool: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def branch(self) -> str:
        return worktrees.branch_for(self.session_id)

    # ------------------------------------------------------------------ before any side effect

    @classmethod
    def prepare(cls, repo: Path, cluster: ResolvedCluster, *, run_id: str, session_id: str,
                base_sha: str | None = None, resume_state: Path | None = None,
                history_from: str | None = None, contact_remote: bool = True,
                extra_tips: tuple[str, ...] = ()) -> RunTransport:
        """Everything that can fail about the repository, before the cluster sees anything.

        `base_sha` defaults to HEAD (a new run); a resumed run passes its branch head, the
        session's state dir (whose checkpoint travels with it) and the session's first base
        (`history_from`), so the pod has the session's commits as a local resume would.
        `contact_remote=False` (`--dry-run`) leaves the git remote alone: remote mode then
        neither lists it nor pushes the base, and the pod would fetch the base by id.
        `extra_tips`: more commits to ship (bundle mode), see `spool_commit`.
        """
        base = base_sha or gitops.head_sha(repo)
        if base is None:
            raise TransportError(f"{repo} has no commits to run from")
        branch = worktrees.branch_for(session_id)
        settings = cluster.repo
        spool = Path(tempfile.mkdtemp(prefix=f"{run_id}-", dir=spool_root()))
        try:
            if settings.mode == "remote":
                url = remote.check_remote_url(settings.remote_url, cluster=cluster.name)
                manifest = None
                if resume_state is not None and resume_state.is_dir():
                    manifest = _spool_state_only(spool, base, branch, resume_state)
                fetch_ref = remote.ensure_base_on_remote(repo, url, base, session_id=session_id,
                                                         push_allowed=settings.push_base_ref) \
                    if contact_remote else None
                depth = 1 + (gitops.count_commits(repo, history_from, base) if history_from else 0)
                additions = podspec.remote_additions(
                    podspec.RemoteSource(url, settings.credentials_secret, fetch_ref, depth), base_sha=base,
                    branch=branch, image=cluster.image, pull_policy=cluster.image_pull_policy, resume_state=manifest,
                    run_id=run_id, resources=cluster.plumbing_resources.to_k8s())
                pushed = fetch_ref if fetch_ref == remote.temp_base_ref(session_id) else None
                return cls(repo, cluster, run_id, session_id, base, additions, "remote", manifest, url, pushed, spool)
            manifest = spool_commit(
                repo, base, branch, spool, max_bytes=settings.max_bundle_mib * MIB,
                describe_limit=f"repo.max_bundle_mib of cluster {cluster.name!r}",
                state_dir=resume_state if resume_state is not None and resume_state.is_dir() else None,
                history_from=history_from, extra_tips=extra_tips)
            additions = podspec.bundle_additions(run_id, manifest, image=cluster.image,
                                                 pull_policy=cluster.image_pull_policy,
                                                 resuming=resume_state is not None,
                                                 resources=cluster.plumbing_resources.to_k8s())
            return cls(repo, cluster, run_id, session_id, base, additions, "bundle", manifest, None, None, spool)
        except BaseException:
            shutil.rmtree(spool, ignore_errors=True)
            raise

    def describe(self) -> str:
        if self.mode == "remote":
            return f"repository: cloned in the pod from {remote.mask_url(self.remote_url or '')} at {self.base_sha[:12]}"
        assert self.manifest is not None
        return f"repository: {self.base_sha[:12]} shipped as {self.manifest.size_text()} (ConfigMaps)"

    # ------------------------------------------------------------------ local session

    def open_session(self, *, original_branch: str, workflow_path: Path | None, namespace: str, job: str,
                     context: str | None = None, run_args: tuple[str, ...] = (), max_iterations: int = 1) -> Session:
        """Create (new run) or reuse (resume) branch + worktree + metadata recording the Job."""
        placement = self.placement(namespace=namespace, job=job, context=context)
        with gitops.locked(self.repo, f"creating session {self.session_id}"):
            if not gitops.branch_exists(self.repo, self.branch):
                git("branch", "--", self.branch, self.base_sha, cwd=self.repo)
            session = worktrees.adopt_branch(self.repo, self.session_id, original_branch=original_branch,
                                             base_sha=None, workflow_path=workflow_path,
                                             extra=placement_extra(placement))
        if session.metadata.base_sha is None:
            session = worktrees.update(session, base_sha=self.base_sha)
        if run_args or max_iterations != 1:
            session = worktrees.update(session, run_args=tuple(run_args), max_iterations=max_iterations)
        return session

    def placement(self, *, namespace: str, job: str, context: str | None = None) -> ClusterPlacement:
        return ClusterPlacement(cluster=self.cluster.name, namespace=namespace, job=job, run_id=self.run_id,
                                base_sha=self.base_sha, repo_mode=self.mode, context=context)

    # ------------------------------------------------------------------ cluster side

    def upload(self, kube: Kube, *, namespace: str, job_name: str, job_uid: str, labels: Mapping[str, str]) -> int:
        if self.manifest is None or self._spool is None:
            return 0
        return upload_chunks(kube, namespace=namespace, job_name=job_name, job_uid=job_uid, run_id=self.run_id,
                             labels=labels, manifest=self.manifest, spool_dir=self._spool)

    def collect_and_land(self, kube: Kube, session: Session, *, namespace: str, job_name: str,
                         say: Callable[[str], None] = print, state_dest: Path | None = None
                         ) -> ResultSummary | None:
        """Bring the pod's commits and checkpoint home; None when the pod exported nothing.
        ``state_dest``: where the pod's state goes (default: the session's state dir)."""
        return collect_and_land(kube, session, namespace=namespace, job_name=job_name, expected_base=self.base_sha,
                                remote_url=self.remote_url, say=say, state_dest=state_dest)

    def land(self, session: Session, collected: CollectedResult, *, state_dest: Path | None = None) -> ResultSummary:
        """Land a result captured from a pod that was being deleted (capture.py)."""
        return land_result(session, collected, expected_base=self.base_sha, remote_url=self.remote_url,
                           state_dest=state_dest)

    def close(self) -> None:
        if self._spool is not None:
            shutil.rmtree(self._spool, ignore_errors=True)
            self._spool = None
        if self.pushed_base_ref and self.remote_url:
            remote.delete_remote_ref(self.repo, self.remote_url, self.pushed_base_ref)
            self.pushed_base_ref = None


def _spool_state_only(spool: Path, base: str, branch: str, state_dir: Path) -> TransportManifest:
    from prodigy.k8s.transport.manifest import MANIFEST_KEY, STATE_TAR
    from prodigy.k8s.transport.spool import ChunkWriter, _Budget

    writer = ChunkWriter(spool, STATE_TAR, chunk_bytes=900 * 1024, first_index=0,
                         budget=_Budget(64 * MIB, "checkpoint size"))
    write_tree_tar(state_dir, writer)
    manifest = TransportManifest(base_sha=base, branch=branch, files=(writer.finish(),))
    (spool / MANIFEST_KEY).write_text(manifest.to_json())
    return manifest


def collect_and_land(kube: Kube, session: Session, *, namespace: str, job_name: str, expected_base: str,
                     remote_url: str | None = None, say: Callable[[str], None] = print,
                     state_dest: Path | None = None) -> ResultSummary | None:
    """Read the finished pod's result and land it on the session's branch and state dir.

    Also the whole of `prodigy cluster collect`: needs only the Job name and the base sha that
    the session metadata records.
    """
    pod = find_run_pod(kube, namespace, job_name)
    if pod is None:
        raise TransportError(f"Job {job_name} in {namespace} has no pod left to collect results from",
                             hint="the Job's TTL may have expired; resume to run the remaining steps again")
    if not results_container_ran(pod):
        say("prodigy: the pod ended before the workflow ran; there are no commits to bring back")
        return None
    with tempfile.TemporaryDirectory(prefix="prodigy-collect-") as scratch:
        collected = collect_result(kube, namespace, pod["metadata"]["name"], Path(scratch))
        if collected is None:
            say("prodigy: the pod returned no commits (it stopped before it could export them)")
            return None
        return land_result(session, collected, expected_base=expected_base, remote_url=remote_url,
                           state_dest=state_dest)


def land_result(session: Session, collected: CollectedResult, *, expected_base: str,
                remote_url: str | None = None, state_dest: Path | None = None) -> ResultSummary:
    """Land a verified result (read after the Job ended, or captured from a pod being deleted).

    ``state_dest``: where the pod's state goes instead of the session's state dir (a MapReduce
    phase, whose state the caller checks and files itself); the placement is then left alone."""
    fetch = None
    if remote_url is not None:
        url = remote_url
        fetch = lambda ref: remote.fetch_pushed_branch(session.repo, url, session.branch, ref)  # noqa: E731
    summary = import_results(session.repo, collected.path, expected_base=expected_base, branch=session.branch,
                             state_dest=state_dest or paths.state_dir(session.id), fetch_pushed=fetch)
    if state_dest is None:
        mark_collected(worktrees.load_session(session.id), summary.head_sha)
    return summary
