"""Fuzz the workflow loader through `prodigy validate`: any bytes give exit 0 or 2, never 3."""

from __future__ import annotations

import json
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from prodigy.cli import main
from prodigy.errors import WorkflowFileError
from prodigy.workflow.loader import parse_workflow

from .conftest import FUZZ

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "workflows"
SEEDS = [path.read_bytes() for path in sorted(FIXTURES.glob("*.yml"))]

# Words a workflow uses, so generated documents get past the first `unknown key` often enough to
# reach the step options, conditions and nested handlers.
KEYS = ["commands", "name", "env", "secrets", "outside_paths", "merge", "mode", "shell", "claude", "write_file",
        "foreach", "do", "test", "command", "on_failure", "on_success", "validate", "on_incomplete", "when",
        "capture", "capture_output", "capture_format", "output_file", "working_dir", "timeout", "max_attempts",
        "fail_workflow", "commit_required", "id", "path", "content", "format", "mode", "create_dirs",
        "threshold", "result_file", "max_retries", "<<", "steps"]
SCALARS = st.one_of(
    st.text(max_size=40), st.sampled_from(["${ARG}", "${ARG|sh}", "$ARG", "${x:-y}", "${shell.output}", "/cmd",
                                           "${a.b[0]}", "((x))", "!!", "0644", "../..", "/etc/passwd", ""]),
    st.integers(-5, 10**12), st.booleans(), st.none(), st.floats(allow_nan=True, allow_infinity=True),
)
DOCUMENTS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(KEYS), st.text(max_size=8)), inner, max_size=5)),
    max_leaves=40,
)
MUTATION_BYTES = st.sampled_from([b"&a ", b"*a", b"[", b"]", b"{", b"}", b": ", b"- ", b"\n  ", b"\t", b"\x00",
                                  b"\xff", b"\xc3", b"'", b'"', b"|", b">", b"!!python/object ", b"? ", b"%YAML 1.1\n",
                                  b"---\n", b"${", b"((((", b"\r"])


def _validate(data: bytes, suffix: str = ".yml") -> int:
    with tempfile.TemporaryDirectory(prefix="prodigy-fuzz-") as scratch:
        path = Path(scratch) / f"wf{suffix}"
        path.write_bytes(data)
        return main(["validate", str(path)])


def _dump(document: Any) -> str:
    import io

    out = io.StringIO()
    YAML(typ="safe", pure=True).dump(document, out)
    return out.getvalue()


@FUZZ
@given(st.binary(max_size=400))
def test_arbitrary_bytes(data: bytes) -> None:
    assert _validate(data) in (0, 2)


@FUZZ
@given(st.lists(st.sampled_from(list("-: []{}&*!|>'\"#\n ab$%{}()\\0") + ["${", "shell", "commands", "  "]),
                max_size=150))
def test_yaml_punctuation_soup(pieces: list[str]) -> None:
    assert _validate("".join(pieces).encode()) in (0, 2)


@FUZZ
@given(DOCUMENTS)
def test_generated_documents_as_yaml_and_json(document: Any) -> None:
    assert _validate(_dump(document).encode()) in (0, 2)
    assert _validate(json.dumps(document, default=str).encode(), ".json") in (0, 2)


@FUZZ
@given(st.sampled_from(SEEDS), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 4), MUTATION_BYTES),
                                       min_size=1, max_size=6))
@example(SEEDS[0], [(0, 0, b"? ")])          # found here: a mapping as a key crashed the YAML library
def test_mutated_real_workflows(seed: bytes, edits: list[tuple[int, int, bytes]]) -> None:
    data = bytearray(seed)
    for position, cut, insert in edits:
        at = position % (len(data) + 1)
        data[at:at + cut] = insert
    assert _validate(bytes(data)) in (0, 2)


# tracemalloc makes each example slow; the shape space is small, so fewer examples cover it.
@settings(FUZZ, max_examples=min(FUZZ.max_examples, 40))
@given(st.integers(2, 12), st.integers(2, 12), st.booleans())
def test_alias_expansion_is_refused_within_bounded_memory(levels: int, fan_out: int, merge_keys: bool) -> None:
    lines = ["base: &l0 [" + ", ".join(["x"] * fan_out) + "]"]
    for level in range(1, levels):
        if merge_keys:
            lines.append(f"k{level}: &l{level} {{" + ", ".join(f"a{i}: *l{level - 1}" for i in range(fan_out)) + "}")
        else:
            lines.append(f"k{level}: &l{level} [" + ", ".join([f"*l{level - 1}"] * fan_out) + "]")
    lines.append("commands:\n  - shell: echo hi")
    text = "\n".join(lines) + "\n"
    expanded = sum(fan_out ** level for level in range(1, levels + 1))
    tracemalloc.start()
    try:
        try:
            parse_workflow(text, Path("bomb.yml"))
            refused = False
        except WorkflowFileError as error:
            refused = True
            assert "expands to more than" in error.message or "unknown top-level" in error.message \
                or "Invalid workflow" in error.message
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    if expanded > 400_000:
        assert refused
    assert peak < 64 * 1024 * 1024


@settings(FUZZ, max_examples=min(FUZZ.max_examples, 60))
@given(st.integers(1, 800), st.sampled_from(["[", "{a: ", "- "]))
def test_nesting_of_any_depth_is_refused_or_loaded(depth: int, opener: str) -> None:
    if opener == "- ":
        body = "".join("  " * level + "- \n" for level in range(depth))
    else:
        closer = "]" if opener == "[" else "}"
        body = "x: " + opener * depth + "1" + closer * depth + "\n"
    assert _validate(("commands:\n  - shell: echo\n" + body).encode()) in (0, 2)


@pytest.mark.parametrize("depth", [10, 500, 5000])
def test_deep_json_workflows_are_refused_cleanly(depth: int) -> None:
    text = '{"commands": [{"shell": "echo"}], "x": ' + "[" * depth + "]" * depth + "}"
    assert _validate(text.encode(), ".json") in (0, 2)
