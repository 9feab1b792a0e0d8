"""What a new user sees on the walkthrough (docs/walkthrough.md): prompts, -q, resume, help."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from testing.repos import log_subjects

from .conftest import RunProdigy, session_dirs, write

COMMITTING = "- shell: \"echo new > new.txt && git add new.txt && git commit -qm 'add new'\"\n"
FAILING = "- shell: \"echo a > a.txt && git add a.txt && git commit -qm 'add a'\"\n- shell: 'exit 1'\n"


def _session_from(output: str) -> str:
    match = re.search(r"prodigy resume (session-[0-9a-f-]+)", output)
    assert match, output
    return match.group(1)


def test_a_piped_answer_is_shown_after_the_prompt(run_prodigy: RunProdigy, repo: Path) -> None:
    result = run_prodigy("cook", str(write(repo / "wf.yml", COMMITTING)), input="n\n")
    assert re.search(r"\[Y/n\]: n\nNot merged\. The worktree is kept at ", result.stdout), result.stdout


def test_quiet_still_says_where_the_work_went(run_prodigy: RunProdigy, repo: Path) -> None:
    merged = run_prodigy("cook", str(write(repo / "ok.yml", COMMITTING)), "-y", "-q")
    assert merged.exit_code == 0, merged.output
    assert "[1/1]" not in merged.stdout                      # no step progress with -q
    assert re.search(r"Merged prodigy-session-[0-9a-f-]+ into main", merged.stdout)

    failed = run_prodigy("cook", str(write(repo / "bad.yml", FAILING)), "-y", "-q")
    assert failed.exit_code == 1
    session = _session_from(failed.stdout)
    assert "The worktree is kept at" in failed.stdout
    assert f"Discard with: prodigy worktree clean -f {session}" in failed.stdout


def test_resume_without_a_session_takes_the_newest_unfinished_one(run_prodigy: RunProdigy, repo: Path,
                                                                  prodigy_home: Path) -> None:
    nothing = run_prodigy("resume")
    assert nothing.exit_code == 2 and "no failed or interrupted session to resume" in nothing.stderr

    wf = write(repo / "wf.yml", FAILING)
    older = _session_from(run_prodigy("cook", str(wf), "-y").stdout)
    newer = _session_from(run_prodigy("cook", str(wf), "-y").stdout)
    assert older != newer
    write(wf, FAILING.replace("'exit 1'", "'true'"))
    resumed = run_prodigy("resume", "-y")
    assert resumed.exit_code == 0, resumed.output
    assert f"Resuming session: {newer}" in resumed.stdout
    assert [d.name for d in session_dirs(prodigy_home, repo)] == [older]


def test_resuming_a_merged_session_says_it_is_finished(run_prodigy: RunProdigy, repo: Path) -> None:
    failed = run_prodigy("cook", str(write(repo / "wf.yml", FAILING.replace("'exit 1'", "'test -f go'"))), "-y")
    session = _session_from(failed.stdout)
    write(repo / "wf.yml", FAILING.replace("'exit 1'", "'true'"))
    assert run_prodigy("resume", session, "-y").exit_code == 0
    assert log_subjects(repo)[0] == f"Merge worktree 'prodigy-{session}' into main"

    again = run_prodigy("resume", session)
    assert again.exit_code == 2
    assert f"session {session} is finished: it was merged and its worktree removed" in again.stderr
    assert f"git log --merges --grep {session}" in again.stderr


@pytest.mark.parametrize("command", [[], ["cook"], ["run"], ["resume"], ["exec"], ["validate"], ["init"],
                                     ["worktree"], ["worktree", "ls"], ["worktree", "merge"],
                                     ["worktree", "clean"]])
def test_every_command_has_help(run_prodigy: RunProdigy, command: list[str]) -> None:
    result = run_prodigy(*command, "--help")
    assert result.exit_code == 0 and result.stdout.startswith("Usage: "), result.output
    # The local commands' one-line help is written to fit, not cut off by click.
    listed = result.stdout.partition("Commands:\n")[2].splitlines()
    cut = [line for line in listed if line.endswith("...") and not line.lstrip().startswith(("cluster", "agent"))]
    assert cut == [], cut
