"""Reading input files safely (prodigy.yaml_input) and masking secrets (prodigy.redact)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from prodigy import redact
from prodigy.errors import UsageError, WorkflowFileError
from prodigy.redact import MASK, Redactor
from prodigy.workflow.expressions import MAX_NESTING, MAX_OPERATORS, ExpressionError, parse
from prodigy.workflow.loader import load_workflow, parse_workflow
from prodigy.yaml_input import (
    MAX_WORKFLOW_BYTES_ENV,
    Limits,
    check_json_depth,
    check_yaml_structure,
    read_text_file,
    workflow_limits,
)


def _read(path: Path, limits: Limits = Limits()) -> str:
    return read_text_file(path, what="Workflow file", limits=limits, error=WorkflowFileError)


def _refusal(path: Path, limits: Limits = Limits()) -> str:
    with pytest.raises(WorkflowFileError) as caught:
        _read(path, limits)
    return caught.value.message


def test_only_regular_utf8_files_within_the_cap_are_read(tmp_path: Path) -> None:
    fifo = tmp_path / "wf.yml"
    os.mkfifo(fifo)
    assert _refusal(fifo) == f"Workflow file {fifo} is a FIFO (named pipe), not a regular file"
    assert _refusal(Path("/dev/zero")) == "Workflow file /dev/zero is a character device, not a regular file"
    big = tmp_path / "big.yml"
    big.write_text("#" * 101)
    assert "is larger than 100 bytes" in _refusal(big, Limits(max_bytes=100))
    assert _read(big, Limits(max_bytes=101)) == "#" * 101
    latin = tmp_path / "latin.yml"
    latin.write_bytes(b"- shell: echo ok\n- shell: caf\xe9\n")
    assert _refusal(latin) == f"Workflow file {latin} is not UTF-8 text: byte 0xe9 at line 2, column 13 " \
                              "(invalid continuation byte)"
    nul = tmp_path / "nul.yml"
    nul.write_bytes(b"- shell: a\x00b\n")
    assert _refusal(nul) == f"Workflow file {nul} contains a NUL byte at line 1, column 11"
    with pytest.raises(IsADirectoryError):
        _read(tmp_path)
    with pytest.raises(FileNotFoundError):
        _read(tmp_path / "missing.yml")


def test_the_workflow_size_cap_is_configurable() -> None:
    assert workflow_limits({}).max_bytes == 1024 * 1024
    assert workflow_limits({MAX_WORKFLOW_BYTES_ENV: "4096"}).max_bytes == 4096
    with pytest.raises(UsageError, match="not a positive whole number"):
        workflow_limits({MAX_WORKFLOW_BYTES_ENV: "lots"})


def test_load_workflow_reports_the_cap_and_how_to_raise_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workflow = tmp_path / "wf.yml"
    workflow.write_text("- shell: echo hi\n" + "# padding\n" * 20)
    monkeypatch.setenv(MAX_WORKFLOW_BYTES_ENV, "64")
    with pytest.raises(WorkflowFileError) as caught:
        load_workflow(workflow)
    assert "larger than 64 bytes" in caught.value.message and MAX_WORKFLOW_BYTES_ENV in (caught.value.hint or "")


def _structure_error(text: str, limits: Limits = Limits()) -> str:
    with pytest.raises(WorkflowFileError) as caught:
        check_yaml_structure(text, Path("wf.yml"), what="Workflow file", limits=limits, error=WorkflowFileError)
    return caught.value.message


def test_nesting_and_alias_expansion_are_measured_before_composing() -> None:
    assert _structure_error("a: " + "[" * 65 + "]" * 65) == \
        "Workflow file wf.yml is nested more than 64 levels deep (at line 1)"
    deep_block = "".join("  " * level + "-\n" for level in range(70))
    assert "nested more than 64 levels deep (at line 65)" in _structure_error(deep_block)
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]\n"
        for previous, name in zip("abcdefgh", "bcdefghi"))
    message = _structure_error(bomb)
    assert message.startswith("Workflow file wf.yml expands to more than 200000 values by line ")
    # Anchors that expand modestly are fine (merge keys are a common use).
    check_yaml_structure("d: &d {a: 1}\ns1: {<<: *d, b: 2}\ns2: {<<: *d}\n", Path("wf.yml"), what="W",
                         limits=Limits(), error=WorkflowFileError)
    # Syntax errors are left to the real parser, which reports them with context.
    check_yaml_structure("a: [\n", Path("wf.yml"), what="W", limits=Limits(), error=WorkflowFileError)


def test_json_nesting_is_measured_without_recursion() -> None:
    with pytest.raises(WorkflowFileError, match="nested more than 64 levels deep"):
        check_json_depth('{"a": ' + "[" * 100 + "]" * 100 + "}", Path("wf.json"), what="W", limits=Limits(),
                         error=WorkflowFileError)
    check_json_depth('{"a": "' + "[" * 100 + '"}', Path("wf.json"), what="W", limits=Limits(), error=WorkflowFileError)


def test_workflow_parse_refuses_deep_documents_with_exit_2() -> None:
    with pytest.raises(WorkflowFileError) as caught:
        parse_workflow("- shell: x\n  env: " + "{a: " * 300 + "1" + "}" * 300 + "\n", Path("wf.yml"))
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("source", ["(" * (MAX_NESTING + 1) + "x" + ")" * (MAX_NESTING + 1),
                                    "!" * (MAX_NESTING + 1) + "x",
                                    " && ".join(["x"] * (MAX_OPERATORS + 2))])
def test_conditions_are_bounded(source: str) -> None:
    with pytest.raises(ExpressionError, match="nested more than|operators in one condition"):
        parse(source)


def test_conditions_within_the_bounds_still_work() -> None:
    source = "(" * MAX_NESTING + "${n} > 2" + ")" * MAX_NESTING
    assert parse(source).evaluate({"n": "3"}) is True
    assert parse(" && ".join(["x"] * MAX_OPERATORS)).evaluate({"x": True}) is True


def test_redactor_masks_text_and_data() -> None:
    mask = Redactor.of(["s3cret-token", "abc", "s3cret"])
    assert mask.values == ("s3cret-token", "s3cret")          # longest first; short values are left alone
    assert mask.text("a s3cret-token and s3cret and abc") == f"a {MASK} and {MASK} and abc"
    assert mask.data({"k s3cret": ["s3cret", 1, {"x": ("s3cret",)}], "n": None}) == \
        {f"k {MASK}": [MASK, 1, {"x": [MASK]}], "n": None}
    assert not Redactor() and (Redactor() | mask) == mask


def test_loading_a_workflow_remembers_its_secrets_for_the_process(tmp_path: Path) -> None:
    workflow = tmp_path / "wf.yml"
    workflow.write_text("secrets:\n  TOKEN: remembered-value-91\ncommands:\n  - shell: echo hi\n")
    load_workflow(workflow)
    assert redact.known().text("x remembered-value-91 y") == f"x {MASK} y"


@pytest.mark.parametrize("text", ["? {a: 1}\n: b\n", "? - shell: x\n", "[a]: 1\n", "a: &k [1]\n*k : 2\n"])
def test_lists_and_mappings_as_keys_are_refused(text: str) -> None:
    assert "uses a list or mapping as a mapping key (at line" in _structure_error(text)
    check_yaml_structure("? plain\n: 1\n&k a: *k\n", Path("wf.yml"), what="W", limits=Limits(),
                         error=WorkflowFileError)
