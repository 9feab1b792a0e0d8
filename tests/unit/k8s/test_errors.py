"""Our Kubernetes error tree: translation from HTTP answers, context, and independence from the client."""

from __future__ import annotations

import inspect

import pytest

from prodigy.errors import ProdigyError
from prodigy.k8s import errors
from prodigy.k8s.errors import (
    Conflict,
    Forbidden,
    KubeError,
    NotFound,
    ServerError,
    Unreachable,
    error_from_response,
    kube_context,
)


def test_status_body_gives_message_reason_and_class() -> None:
    body = (b'{"kind":"Status","apiVersion":"v1","status":"Failure","message":"jobs.batch is forbidden: '
            b'User \\"bob\\" cannot create resource \\"jobs\\"","reason":"Forbidden","code":403}')
    error = error_from_response(403, body, action="creating Job x")
    assert isinstance(error, Forbidden)
    assert 'User "bob" cannot create resource "jobs"' in error.message
    assert error.message.startswith("creating Job x failed:")
    assert error.hint


def test_already_exists_is_a_conflict_that_says_so() -> None:
    error = error_from_response(409, b'{"kind":"Status","reason":"AlreadyExists","message":"exists","code":409}')
    assert isinstance(error, Conflict) and error.already_exists


def test_non_json_bodies_are_truncated() -> None:
    page = b"<html><body>" + b"x" * 5000 + b"</body></html>"
    error = error_from_response(502, page)
    assert isinstance(error, ServerError)
    assert len(error.message) < 400 and "<html>" in error.message


def test_context_names_cluster_namespace_and_job_once() -> None:
    with pytest.raises(NotFound) as caught:
        with kube_context("outer"):
            with kube_context("dev", "team-a", "prodigy-x-1"):
                raise error_from_response(404, b'{"kind":"Status","message":"gone","code":404}')
    assert caught.value.message.startswith("cluster 'dev', namespace 'team-a', job 'prodigy-x-1': ")
    assert "outer" not in caught.value.message


def test_connection_errors_become_unreachable() -> None:
    import urllib3.exceptions

    with pytest.raises(Unreachable) as caught:
        with kube_context("dev"):
            raise urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    assert "unreachable" in caught.value.message and "cluster 'dev'" in caught.value.message


def test_no_error_class_derives_from_the_client_library() -> None:
    for _, cls in inspect.getmembers(errors, inspect.isclass):
        if issubclass(cls, Exception) and cls.__module__ == errors.__name__:
            assert issubclass(cls, ProdigyError)
            assert all(base.__module__.split(".")[0] not in ("kubernetes", "urllib3") for base in cls.__mro__)
    assert issubclass(Unreachable, KubeError)
