from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from prodigy.errors import ConfigError
from prodigy.k8s import names

LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


@given(st.text())
def test_label_value_is_always_valid_and_short(text: str) -> None:
    value = names.label_value(text)
    assert len(value) <= 63
    assert LABEL_VALUE.fullmatch(value)


@given(st.text(), st.integers(min_value=1, max_value=63))
def test_dns_label_is_always_valid_and_within_the_limit(text: str, limit: int) -> None:
    value = names.dns_label(text, max_length=limit)
    assert DNS_LABEL.fullmatch(value)
    assert len(value) <= max(limit, len("x"))


@given(st.text(min_size=1), st.text(min_size=1))
def test_long_distinct_label_values_stay_distinct(prefix: str, tail: str) -> None:
    a = "a" * 70 + prefix
    b = "a" * 70 + prefix + tail
    assert names.label_value(a) != names.label_value(b)


@pytest.mark.parametrize(("text", "expected"), [
    ("deploy", "deploy"),
    ("My Workflow.yml", "My-Workflow.yml"),
    ("--weird__", "weird"),
    ("日本語", ""),
])
def test_label_value_examples(text: str, expected: str) -> None:
    assert names.label_value(text) == expected


@given(st.text(), st.from_regex(r"[a-z0-9]{10}", fullmatch=True))
def test_job_name_is_a_dns_label_ending_in_the_run_id(workflow: str, run_id: str) -> None:
    name = names.job_name(workflow, run_id)
    assert len(name) <= 63
    assert DNS_LABEL.fullmatch(name)
    assert name.startswith("prodigy-")
    assert name.endswith("-" + run_id)


def test_job_name_reads_like_the_workflow() -> None:
    assert names.job_name("Implement Spec_97.yml", "ab12cd34ef") == "prodigy-implement-spec-97-yml-ab12cd34ef"
    assert names.job_name("!!!", "ab12cd34ef") == "prodigy-workflow-ab12cd34ef"


def test_run_ids_are_fresh_and_valid() -> None:
    ids = {names.new_run_id() for _ in range(200)}
    assert len(ids) == 200
    assert all(names.is_run_id(i) and names.is_dns1123_label(i) for i in ids)
    assert names.new_run_id("0123456789") == "0123456789"
    with pytest.raises(ValueError):
        names.new_run_id("UPPER12345")


def test_object_names_derive_from_the_run_id() -> None:
    assert names.workflow_configmap_name("ab12cd34ef") == "prodigy-workflow-ab12cd34ef"
    assert names.credentials_secret_name("ab12cd34ef") == "prodigy-secrets-ab12cd34ef"


@pytest.mark.parametrize("ref", [
    "prodigy-agent",
    "prodigy-agent:dev",
    "prodigy-agent:latest",
    "library/python:3.11-slim",
    "localhost/prodigy-agent:dev",
    "localhost:5000/prodigy-agent:dev",
    "registry.example.com/team/prodigy-agent:v1.0.0",
    "registry.example.com:5000/a/b/c:tag_1.2-rc",
    "ghcr.io/org/img@sha256:" + "a" * 64,
    "ghcr.io/org/img:1.0@sha256:" + "b" * 64,
    "[::1]:5000/img:tag",
    "my_repo/img__x",
])
def test_valid_image_references(ref: str) -> None:
    assert names.image_reference_problem(ref) is None
    assert names.validate_image_reference(ref, source="--image") == ref


@pytest.mark.parametrize(("ref", "why"), [
    ("", "empty"),
    ("Prodigy-Agent:dev", "lowercase"),
    ("prodigy-agent:", "tag"),
    ("prodigy-agent:-bad", "tag"),
    ("prodigy agent", "whitespace"),
    ("img@sha256:abc", "digest"),
    ("-img", "repository"),
    ("img//x", "repository"),
    ("bad_host_.com/img", "registry"),
    (":tag", "missing"),
])
def test_invalid_image_references_say_what_is_wrong(ref: str, why: str) -> None:
    problem = names.image_reference_problem(ref)
    assert problem is not None and why in problem


def test_invalid_image_error_names_its_source() -> None:
    with pytest.raises(ConfigError) as info:
        names.validate_image_reference("Bad Image", source="kubernetes.yaml:4: clusters.dev.image")
    assert info.value.message.startswith("kubernetes.yaml:4: clusters.dev.image: invalid image reference 'Bad Image'")
    assert info.value.exit_code == 2


@pytest.mark.parametrize(("key", "ok"), [
    ("disktype", True),
    ("kubernetes.io/arch", True),
    ("node.kubernetes.io/instance-type", True),
    ("-bad", False),
    ("Bad_Prefix/x", False),
    ("a" * 64, False),
])
def test_label_keys(key: str, ok: bool) -> None:
    assert names.is_label_key(key) is ok


_COMPONENT = r"[a-z0-9]{1,5}(([._]|__|-{1,2})[a-z0-9]{1,5}){0,2}"


@given(
    st.one_of(st.just(""), st.from_regex(r"(localhost|[a-z0-9]{1,8}(\.[a-z0-9]{1,8}){1,2})(:[0-9]{1,5})?/", fullmatch=True)),
    st.lists(st.from_regex(_COMPONENT, fullmatch=True), min_size=1, max_size=3),
    st.one_of(st.just(""), st.from_regex(r":[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}", fullmatch=True)),
)
def test_references_built_from_the_grammar_are_accepted(domain: str, path: list[str], tag: str) -> None:
    # Without a registry, a first component with a '.' would itself be read as a registry host
    # (as docker does), so the grammar only allows it after one.
    assume(domain or ("." not in path[0] and path[0] != "localhost"))
    ref = domain + "/".join(path) + tag
    assert names.image_reference_problem(ref) is None, ref
