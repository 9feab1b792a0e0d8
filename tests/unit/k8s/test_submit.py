"""Submission's idempotency promise, without a cluster: a create whose answer was lost is retried,
the 409 that follows is accepted only when the existing object carries our run id, and an object
of another run (or not of prodigy) is never adopted.

The stand-in is an in-memory API that answers like the apiserver: 201 with the stored object,
409 with a Status ``AlreadyExists`` body, and a lost answer (`Unreachable`) after the object was
stored. Errors go through the product's own `error_from_response`, as a real answer would.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from prodigy.k8s.errors import Conflict, Unreachable, error_from_response
from prodigy.k8s.manifests.metadata import LABEL_RUN_ID
from prodigy.k8s.manifests.run import build_run_objects
from prodigy.k8s.retry import RetryPolicy, Waiter
from prodigy.k8s.submit import collection_path, create_or_adopt, object_path, submit

from .conftest import inputs

Obj = dict[str, Any]
RUN_ID = "k3x9q2m7ab"
NO_WAIT = Waiter(clock=lambda: 0.0, sleep=lambda _s: None, rand=lambda: 0.0)
POLICY = RetryPolicy(attempts=3, base_delay=0.01)


class MemoryApi:
    """Objects by path; ``lose_answers``: how many creates store the object and then lose the reply."""

    name = "fake"

    def __init__(self, *, lose_answers: int = 0, existing: list[Obj] | None = None) -> None:
        self.objects: dict[str, Obj] = {}
        self.calls: list[tuple[str, str]] = []
        self.lose_answers = lose_answers
        for obj in existing or []:
            self.objects[object_path(obj)] = obj

    def request(self, method: str, path: str, *, body: Obj | None = None, **_: Any) -> Obj:
        self.calls.append((method, path))
        if method == "POST":
            assert body is not None
            stored_at = object_path(body)
            assert path == collection_path(body["kind"], body["metadata"]["namespace"])
            if stored_at in self.objects:
                status = {"kind": "Status", "code": 409, "reason": "AlreadyExists",
                          "message": f'{body["kind"].lower()}s "{body["metadata"]["name"]}" already exists'}
                raise error_from_response(409, json.dumps(status).encode())
            created = copy.deepcopy(body)
            created["metadata"]["uid"] = f"uid-{len(self.objects)}"
            self.objects[stored_at] = created
            if self.lose_answers:
                self.lose_answers -= 1
                raise Unreachable("connection reset by peer")
            return created
        if method == "GET":
            return self.objects[path]
        if method == "PATCH":
            self.objects[path]["spec"]["suspend"] = False
            return self.objects[path]
        raise AssertionError(f"unexpected {method} {path}")

    def posts(self) -> int:
        return sum(1 for method, _ in self.calls if method == "POST")


def job_of(run_id: str | None) -> Obj:
    job = copy.deepcopy(build_run_objects(inputs()).job)
    if run_id is None:
        job["metadata"]["labels"].pop(LABEL_RUN_ID)
    else:
        job["metadata"]["labels"][LABEL_RUN_ID] = run_id
    return job


def test_a_create_whose_answer_was_lost_adopts_its_own_object_instead_of_making_a_second() -> None:
    api = MemoryApi(lose_answers=1)
    job = job_of(RUN_ID)
    got = create_or_adopt(api, job, RUN_ID, policy=POLICY, waiter=NO_WAIT)  # type: ignore[arg-type]
    assert got["metadata"]["uid"] == "uid-0"                 # the object the lost answer created
    assert api.posts() == 2 and ("GET", object_path(job)) in api.calls
    assert len(api.objects) == 1


def test_an_existing_object_of_another_run_is_a_clash_naming_that_run() -> None:
    theirs = job_of("otherrun01")
    theirs["metadata"]["uid"] = "their-uid"
    api = MemoryApi(existing=[theirs])
    with pytest.raises(Conflict) as raised:
        create_or_adopt(api, job_of(RUN_ID), RUN_ID, policy=POLICY, waiter=NO_WAIT)  # type: ignore[arg-type]
    assert "belongs to another run (otherrun01)" in raised.value.message
    assert raised.value.hint and "new run id" in raised.value.hint
    assert api.objects[object_path(theirs)]["metadata"]["uid"] == "their-uid"   # untouched


def test_an_existing_object_without_a_run_id_is_not_prodigys_and_is_never_adopted() -> None:
    api = MemoryApi(existing=[job_of(None)])
    with pytest.raises(Conflict) as raised:
        create_or_adopt(api, job_of(RUN_ID), RUN_ID, policy=POLICY, waiter=NO_WAIT)  # type: ignore[arg-type]
    assert "(not prodigy)" in raised.value.message


def test_submit_after_lost_answers_creates_each_object_once_and_starts_the_job() -> None:
    objects = build_run_objects(inputs())
    api = MemoryApi(lose_answers=2)          # the Job's answer and the first ConfigMap's answer are lost
    submitted = submit(api, objects, run_id=RUN_ID, policy=POLICY, waiter=NO_WAIT)  # type: ignore[arg-type]
    assert len(api.objects) == 1 + len(objects.owned)
    job = api.objects[object_path(objects.job)]
    assert submitted.job_uid == job["metadata"]["uid"] and job["spec"]["suspend"] is False
    for owned in objects.owned:
        stored = api.objects[object_path(owned)]
        assert stored["metadata"]["ownerReferences"][0]["uid"] == job["metadata"]["uid"]


def test_submit_stops_at_a_clash_before_creating_anything_else() -> None:
    objects = build_run_objects(inputs())
    api = MemoryApi(existing=[job_of("otherrun01")])
    with pytest.raises(Conflict):
        submit(api, objects, run_id=RUN_ID, policy=POLICY, waiter=NO_WAIT)  # type: ignore[arg-type]
    assert len(api.objects) == 1 and not any(method == "PATCH" for method, _ in api.calls)
