"""Reading a run's progress from its own output: step headers, the current step, one step's lines."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from prodigy.ui.format import format_step_header
from prodigy.ui.steps import StepFilter, StepHeader, current_step, parse_step_header, printable

OUTPUT = """\
Continuing at step 2/3
[1/3] shell: make build
  building...
  [2/3] shell: a step that prints a fake header (indented like all step output)
  ✓ 1.0s
[2/3] claude: /prodigy-implement-spec 7  (arg 7)
  thinking
  ✓ 3.0s · 1 commit, 1 file changed
[3/3] shell: make test
  ok
""".splitlines()


def test_a_header_is_what_format_step_header_prints_and_nothing_else() -> None:
    assert parse_step_header(format_step_header(2, 5, "shell: cargo test")) == StepHeader(2, 5, "shell: cargo test")
    assert parse_step_header(format_step_header(1, 1, "claude: /x\nmore", "arg 7")) == \
        StepHeader(1, 1, "claude: /x …  (arg 7)")
    for line in ("  [1/3] shell: indented step output", "[0/3] shell: x", "[4/3] shell: x", "[1/3]", "[a/3] x",
                 "[1/3]  leading space", "Workflow completed: 3/3 steps"):
        assert parse_step_header(line) is None, line


def test_the_current_step_is_the_last_header_so_far() -> None:
    assert current_step(OUTPUT) == StepHeader(3, 3, "shell: make test")
    assert current_step(OUTPUT[:8]) == StepHeader(2, 3, "claude: /prodigy-implement-spec 7  (arg 7)")
    assert current_step(["  only output"]) is None
    assert StepHeader(2, 3, "shell: " + "x" * 80).describe(20) == "2/3 shell: xxxxxxxx…"


def test_a_step_filter_keeps_the_lines_of_one_step_in_every_pass() -> None:
    assert StepFilter(2).select(OUTPUT) == OUTPUT[5:8]
    twice = OUTPUT[1:] + ["[1/3] shell: make build  (arg 8)", "  again", "[2/3] claude: /x  (arg 8)", "  second"]
    assert StepFilter(2).select(twice) == [*OUTPUT[5:8], "[2/3] claude: /x  (arg 8)", "  second"]
    assert StepFilter(9).select(OUTPUT) == []


def test_hostile_text_is_made_printable() -> None:
    assert printable("\x1b[31mred\x1b[0m\tand\x07 \x1b]0;title\x07bell\r") == "red and bell"
    assert parse_step_header("\x1b[1;36m[1/2] shell: styled\x1b[0m") == StepHeader(1, 2, "shell: styled")


@given(st.text())
def test_printable_never_leaves_a_control_character(text: str) -> None:
    assert not any(ord(ch) < 32 or 0x7f <= ord(ch) <= 0x9f for ch in printable(text))
