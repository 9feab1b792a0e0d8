"""A detached run's Job: built without a TTL until collected, and read back by a later client."""

from __future__ import annotations

from prodigy.k8s.manifests import existing
from prodigy.k8s.manifests.job import build_job
from prodigy.k8s.manifests.retention import awaiting_collection, collected_patch, ttl_after_collect
from prodigy.k8s.manifests.run import build_run_objects
from prodigy.k8s.transport.podspec import bundle_additions
from prodigy.k8s.transport.manifest import TransportManifest

from .conftest import SUBMITTED_AT, cluster, inputs


def test_a_detached_job_has_no_ttl_until_it_is_collected() -> None:
    job = build_job(inputs(detached=True))
    assert "ttlSecondsAfterFinished" not in job["spec"]
    assert awaiting_collection(job) and ttl_after_collect(job) == 3600
    patch = collected_patch(job, "2026-11-27T12:00:00.000Z")
    assert patch == {"metadata": {"annotations": {"prodigy.io/collected-at": "2026-11-27T12:00:00.000Z"}},
                     "spec": {"ttlSecondsAfterFinished": 3600}}
    job["metadata"]["annotations"].update(patch["metadata"]["annotations"])
    assert not awaiting_collection(job) and collected_patch(job, "later") is None


def test_keep_and_detach_keep_the_job_even_after_collection() -> None:
    job = build_job(inputs(cluster=cluster(keep=True), detached=True))
    assert ttl_after_collect(job) is None
    assert collected_patch(job, "now") == {"metadata": {"annotations": {"prodigy.io/collected-at": "now"}}}


def test_an_attached_job_is_untouched_by_collection() -> None:
    job = build_job(inputs())
    assert job["spec"]["ttlSecondsAfterFinished"] == 3600
    assert not awaiting_collection(job) and collected_patch(job, "now") is None and ttl_after_collect(job) == 3600


def test_a_live_job_gives_back_the_run_identity_and_the_objects_it_owns() -> None:
    spec = inputs(detached=True)
    spec = spec.with_additions(bundle_additions(spec.identity.run_id, TransportManifest(
        base_sha="a" * 40, branch="prodigy-session-x", files=()), image="img", pull_policy="IfNotPresent"))
    job = build_run_objects(spec).job
    job["metadata"]["uid"] = "uid-1"
    job["metadata"]["creationTimestamp"] = "2026-11-27T09:30:05Z"
    identity = existing.identity_of(job)
    assert (identity.run_id, identity.session_id, identity.workflow_name, identity.submitted_at) == \
        (spec.identity.run_id, spec.identity.session_id, "implement", SUBMITTED_AT)
    owned = existing.owned_names(job)
    run_id = spec.identity.run_id
    assert ("ConfigMap", f"prodigy-workflow-{run_id}") in owned
    assert ("ConfigMap", f"prodigy-repo-{run_id}") in owned
    assert owned[-1] == ("Secret", f"prodigy-secrets-{run_id}")
    assert all(run_id in name for _, name in owned)
    assert existing.started_at(job) == existing.parse_time("2026-11-27T09:30:05Z")
    job["status"] = {"startTime": "2026-11-27T09:30:09Z"}
    assert existing.started_at(job) == existing.parse_time("2026-11-27T09:30:09Z")


def test_a_job_without_a_prodigy_run_id_owns_nothing_we_would_delete() -> None:
    job = build_job(inputs())
    job["metadata"]["labels"]["prodigy.io/run-id"] = "../../etc"
    assert existing.owned_names(job) == []
