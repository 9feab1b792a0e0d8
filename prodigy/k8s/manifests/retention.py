"""How long a finished run's Job (and through ownership its pods, logs and results) stays.

An attached run is collected by the client that follows it, moments after it ends, so its Job
carries ``ttlSecondsAfterFinished`` from the start (the cluster's ``ttl_seconds``; none with
``--keep``). A detached run is collected whenever its user comes back (`prodigy cluster
attach`), maybe after a weekend; a TTL would delete the only copy of its commits first. So a
detached run's Job has no TTL. It says so in two annotations instead:

    prodigy.io/detached             "true"
    prodigy.io/ttl-after-collect    the TTL it would have had (absent with --keep)

Collecting it (attach, `cluster collect`, `resume`) patches in that TTL and stamps
``prodigy.io/collected-at``; from then on it ages like any other run. A detached run nobody
ever collects is "abandoned": `prodigy cluster gc` removes it once it is older than
``--abandoned-after`` (days, not the hour ordinary leftovers get) and names it when it does.

Pure functions over wire-shaped dicts; `prodigy.k8s.retention` applies the patch.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Final

Obj = dict[str, Any]

ANNOTATION_DETACHED: Final = "prodigy.io/detached"
ANNOTATION_TTL_AFTER_COLLECT: Final = "prodigy.io/ttl-after-collect"
ANNOTATION_COLLECTED_AT: Final = "prodigy.io/collected-at"


def detach_job(job: Obj, ttl_seconds: int | None) -> Obj:
    """A copy of ``job`` without a TTL, annotated to get ``ttl_seconds`` once collected."""
    out = copy.deepcopy(job)
    out["spec"].pop("ttlSecondsAfterFinished", None)
    annotations = out["metadata"].setdefault("annotations", {})
    annotations[ANNOTATION_DETACHED] = "true"
    if ttl_seconds is not None:
        annotations[ANNOTATION_TTL_AFTER_COLLECT] = str(ttl_seconds)
    return out


def _annotations(job: Mapping[str, Any]) -> Mapping[str, Any]:
    return (job.get("metadata") or {}).get("annotations") or {}


def is_detached(job: Mapping[str, Any]) -> bool:
    return _annotations(job).get(ANNOTATION_DETACHED) == "true"


def awaiting_collection(job: Mapping[str, Any]) -> bool:
    """A detached run's Job whose results nobody has collected yet."""
    return is_detached(job) and not _annotations(job).get(ANNOTATION_COLLECTED_AT)


def ttl_after_collect(job: Mapping[str, Any]) -> int | None:
    """The TTL a detached Job gets once collected; an attached Job's own TTL; None: keep it."""
    if is_detached(job):
        value = str(_annotations(job).get(ANNOTATION_TTL_AFTER_COLLECT) or "")
        return int(value) if value.isdigit() else None
    ttl = (job.get("spec") or {}).get("ttlSecondsAfterFinished")
    return ttl if isinstance(ttl, int) else None


def collected_patch(job: Mapping[str, Any], collected_at: str) -> Obj | None:
    """The merge patch that lets a collected detached Job age (None: nothing to change)."""
    if not awaiting_collection(job):
        return None
    patch: Obj = {"metadata": {"annotations": {ANNOTATION_COLLECTED_AT: collected_at}}}
    ttl = ttl_after_collect(job)
    if ttl is not None:
        patch["spec"] = {"ttlSecondsAfterFinished": ttl}
    return patch
