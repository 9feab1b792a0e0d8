"""issue 10 through the real CLI: every bad input ends in a clear error (exit 2, nothing created) or a
failed step with `Resume with:`, never exit 3; outside values stay data; secrets stay out of files."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from testing.repos import branches, commit_files

from .conftest import RunProdigy, metadata, session_dirs, write

NOTHING_BUT_MAIN = ["main"]


def _nothing_created(home: Path, repo: Path) -> None:
    assert session_dirs(home, repo) == []
    assert branches(repo) == NOTHING_BUT_MAIN
    assert not (home / "worktrees").exists() or not any((home / "worktrees").rglob("session-*"))


def _committed(repo: Path, name: str, text: str) -> Path:
    """A workflow committed to the repository (a worktree sees only commits)."""
    commit_files(repo, {name: text}, f"add {name}")
    return repo / name


# -- before any side effect: exit 2 ------------------------------------------------------------------

@pytest.mark.parametrize(("pattern", "expected"), [
    ("", "--map was given an empty pattern"),
    ("/etc/*", "--map '/etc/*' looks outside the repository"),
    ("../*", "--map '../*' looks outside the repository"),
])
def test_map_patterns_that_cannot_be_used(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path, pattern: str,
                                          expected: str) -> None:
    wf = _committed(repo, "wf.yml", "- shell: echo ${ARG|sh}\n")
    result = run_prodigy("cook", str(wf), "--map", pattern, "-y")
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and "Traceback" not in result.output
    _nothing_created(prodigy_home, repo)


def test_a_map_match_that_is_a_symlink_out_of_the_repository(run_prodigy: RunProdigy, repo: Path,
                                                              prodigy_home: Path, tmp_path: Path) -> None:
    wf = _committed(repo, "wf.yml", "- shell: echo ${ARG|sh}\n")
    (tmp_path / "secret-notes.md").write_text("private\n")
    (repo / "specs").mkdir()
    os.symlink(tmp_path / "secret-notes.md", repo / "specs" / "1-notes.md")
    result = run_prodigy("cook", str(wf), "--map", "specs/*.md", "-y")
    assert result.exit_code == 2
    assert "lead outside the repository" in result.stderr and "outside_paths:" in result.stderr
    _nothing_created(prodigy_home, repo)


WORKFLOW_FILE_CASES = {
    "deep when": ("- shell: echo hi\n  when: \"" + "(" * 300 + "x" + ")" * 300 + "\"\n",
                  "invalid condition: nested more than 32 levels deep"),
    "deep yaml": ("- shell: echo hi\n  env:\n    A: " + "[" * 400 + "]" * 400 + "\n",
                  "is nested more than 64 levels deep (at line 3)"),
    "alias bomb": ("a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]\n"
        for previous, name in zip("abcdefgh", "bcdefghi")) + "commands:\n  - shell: echo hi\n",
                   "expands to more than 200000 values"),
}


@pytest.mark.parametrize("case", sorted(WORKFLOW_FILE_CASES))
@pytest.mark.parametrize("command", ["cook", "validate"])
def test_workflow_files_beyond_the_limits(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path, case: str,
                                          command: str) -> None:
    text, expected = WORKFLOW_FILE_CASES[case]
    wf = write(repo / "wf.yml", text)
    result = run_prodigy(command, str(wf), *(["-y"] if command == "cook" else []))
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and str(wf) in result.stderr
    _nothing_created(prodigy_home, repo)


def test_the_workflow_size_cap_is_configurable(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    wf = write(repo / "wf.yml", "- shell: echo hi\n" + "# a long comment line\n" * 100)
    small = run_prodigy("cook", str(wf), "-y", env={"PRODIGY_MAX_WORKFLOW_BYTES": "1000"})
    assert small.exit_code == 2
    assert "is larger than 1000 bytes" in small.stderr and "PRODIGY_MAX_WORKFLOW_BYTES" in small.stderr
    _nothing_created(prodigy_home, repo)
    assert run_prodigy("validate", str(wf), env={"PRODIGY_MAX_WORKFLOW_BYTES": "100000"}).exit_code == 0


@pytest.mark.parametrize(("kind", "expected"), [("fifo", "is a FIFO (named pipe), not a regular file"),
                                                ("/dev/zero", "is a character device, not a regular file")])
def test_a_workflow_that_is_not_a_regular_file(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path, kind: str,
                                               expected: str) -> None:
    wf = repo / "wf.yml"
    if kind == "fifo":
        os.mkfifo(wf)
    else:
        os.symlink("/dev/zero", wf)
    result = run_prodigy("cook", str(wf), "-y", timeout=60)
    assert result.exit_code == 2 and expected in result.stderr
    _nothing_created(prodigy_home, repo)


@pytest.mark.parametrize(("data", "expected"), [(b"- shell: echo a\x00b\n", "contains a NUL byte at line 1, column 16"),
                                                (b"- shell: echo caf\xe9\n", "is not UTF-8 text: byte 0xe9 at line 1")])
def test_a_workflow_with_bytes_no_text_file_holds(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path,
                                                  data: bytes, expected: str) -> None:
    wf = repo / "wf.yml"
    wf.write_bytes(data)
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 2 and expected in result.stderr
    _nothing_created(prodigy_home, repo)


CLUSTER_CONFIG = "clusters:\n  dev:\n    context: kind-dev\n    kubeconfig_path: {kubeconfig}\n"


@pytest.mark.parametrize(("where", "data", "expected"), [
    ("kubernetes.yaml", b"clusters:\n  dev:\n    context: kind\x00dev\n", "contains a NUL byte at line 3"),
    ("kubernetes.yaml", b"clusters:\n  dev:\n    context: kind-d\xe9v\n", "is not UTF-8 text: byte 0xe9 at line 3"),
    ("kubeconfig", b"apiVersion: v1\ncurrent-context: kind\x00dev\n", "contains a NUL byte at line 2"),
    ("kubeconfig", b"apiVersion: v1\ncurrent-context: kind-d\xe9v\n", "is not UTF-8 text: byte 0xe9 at line 2"),
])
def test_cluster_files_with_bytes_no_yaml_holds(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path,
                                                tmp_path: Path, where: str, data: bytes, expected: str) -> None:
    wf = _committed(repo, "wf.yml", "- shell: echo hi\n")
    prodigy_home.mkdir(parents=True, exist_ok=True)
    kubeconfig = tmp_path / "kubeconfig"
    if where == "kubernetes.yaml":
        (prodigy_home / "kubernetes.yaml").write_bytes(data)
    else:
        kubeconfig.write_bytes(data)
        (prodigy_home / "kubernetes.yaml").write_text(CLUSTER_CONFIG.format(kubeconfig=kubeconfig))
    result = run_prodigy("cook", str(wf), "--cluster", "dev", "-y")
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and "Traceback" not in result.output
    _nothing_created(prodigy_home, repo)
    if where == "kubeconfig":
        assert run_prodigy("cluster", "check", "dev").exit_code == 2


@pytest.mark.parametrize("command", ["cook", "exec"])
def test_an_unwritable_prodigy_home(run_prodigy: RunProdigy, repo: Path, tmp_path: Path, command: str) -> None:
    wf = _committed(repo, "wf.yml", "- shell: echo hi\n")
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    args = ("cook", str(wf)) if command == "cook" else ("exec", "shell: echo hi")
    result = run_prodigy(*args, "-y", env={"PRODIGY_HOME": str(blocker / "home")})
    assert result.exit_code == 2, result.output
    assert f"prodigy keeps its state in {blocker / 'home'}, which cannot be written" in result.stderr
    assert branches(repo) == NOTHING_BUT_MAIN


# -- once the worktree exists: a failed step with Resume with: ------------------------------------------

@pytest.mark.parametrize(("step", "expected"), [
    ('- shell: echo hi\n  env:\n    "A=B": x\n', "environment variable name 'A=B' is not allowed"),
    ('- shell: "echo a\\0b"\n', "the command contains a NUL byte"),
    ("- shell: pwd\n  working_dir: missing/dir\n", "working_dir 'missing/dir' does not exist"),
    ("- shell: pwd\n  working_dir: ../..\n", "working_dir '../..' leads outside the worktree"),
    ("- write_file:\n    path: src\n    content: x\n", "src: is a directory; give a file name"),
    ("- shell: echo hi\n  output_file: src\n", "src is a directory; give a file name"),
    ("- write_file:\n    path: ../../escaped.txt\n    content: x\n", "'../../escaped.txt' leads outside the worktree"),
    ("- shell: echo hi\n  output_file: /tmp/prodigy-escaped.txt\n", "leads outside the worktree"),
    ("- shell: echo ${typo|sh}\n", "${typo|sh}: no such variable is defined at this step"),
])
def test_steps_that_cannot_run_fail_with_resume(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path,
                                                step: str, expected: str) -> None:
    wf = _committed(repo, "wf.yml", "- shell: echo first > first.txt && git add first.txt && git commit -qm first\n"
                                    + step)
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 1, result.output
    assert expected in result.stderr, result.stderr
    assert "Resume with: prodigy resume session-" in result.output and "Traceback" not in result.output
    [meta] = metadata(prodigy_home, repo)
    assert meta["status"] == "failed"
    assert not Path("/tmp/prodigy-escaped.txt").exists() and not (prodigy_home / "worktrees" / "escaped.txt").exists()


def test_symlinked_directories_count_by_where_they_lead(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path,
                                                        tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, repo / "reports")
    wf = _committed(repo, "wf.yml", "- shell: echo report\n  output_file: reports/out.txt\n")
    refused = run_prodigy("cook", str(wf), "-y")
    assert refused.exit_code == 1 and "'reports/out.txt' leads outside the worktree" in refused.stderr
    assert not (outside / "out.txt").exists()
    allowed = _committed(repo, "allowed.yml", f"outside_paths: [{outside}]\ncommands:\n"
                                              "  - shell: echo report\n    output_file: reports/out.txt\n")
    assert run_prodigy("cook", str(allowed), "-y").exit_code == 0
    assert (outside / "out.txt").read_text() == "report\n"


# -- state files -------------------------------------------------------------------------------------

def _failed_session(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> tuple[str, Path]:
    wf = _committed(repo, "fail.yml", "- shell: echo one\n- shell: exit 1\n")
    assert run_prodigy("cook", str(wf), "-y").exit_code == 1
    [meta] = metadata(prodigy_home, repo)
    session = str(meta["session_id"])
    [checkpoint] = (prodigy_home / "state" / session / "checkpoints").glob("*.checkpoint.json")
    return session, checkpoint


def _damage(checkpoint: Path, how: str) -> None:
    if how == "truncated":
        checkpoint.write_text(checkpoint.read_text()[:40])
    elif how == "garbage":
        checkpoint.write_bytes(b"\xff\xfe not json")
    else:
        data = json.loads(checkpoint.read_text())
        if how == "past the end":
            data["execution_state"]["next_step"] = 9
        elif how == "unknown version":
            data["version"] = 99
        checkpoint.write_text(json.dumps(data))


@pytest.mark.parametrize(("how", "expected"), [
    ("truncated", "cannot be used"), ("garbage", "cannot be used"),
    ("past the end", "it continues at step 10 of 2, past the end"),
    ("unknown version", "it has version 99; this prodigy reads version 1"),
])
def test_a_damaged_checkpoint_is_refused_before_the_session_changes(run_prodigy: RunProdigy, repo: Path,
                                                                    prodigy_home: Path, how: str,
                                                                    expected: str) -> None:
    session, checkpoint = _failed_session(run_prodigy, repo, prodigy_home)
    _damage(checkpoint, how)
    before = metadata(prodigy_home, repo)
    result = run_prodigy("resume", session, "-y")
    assert result.exit_code == 2, result.output
    assert expected in result.stderr and str(checkpoint) in result.stderr
    assert f"prodigy worktree clean -f {session}" in result.stderr
    assert metadata(prodigy_home, repo) == before          # still failed; nothing ran, nothing was merged
    assert f"prodigy-{session}" in branches(repo)


def test_one_unreadable_metadata_file_breaks_only_its_own_session(run_prodigy: RunProdigy, repo: Path,
                                                                  prodigy_home: Path) -> None:
    wf = _committed(repo, "fail.yml", "- shell: test -f ok.txt || exit 1\n")
    assert run_prodigy("cook", str(wf), "-y").exit_code == 1
    assert run_prodigy("cook", str(wf), "-y").exit_code == 1
    older, newer = sorted(metadata(prodigy_home, repo), key=lambda meta: str(meta["created_at"]))
    broken_file = prodigy_home / "worktrees" / repo.name / ".metadata" / f"{newer['session_id']}.json"
    broken_file.write_text('["not", "a", "session"]')

    listed = run_prodigy("worktree", "ls")
    assert listed.exit_code == 0
    assert str(older["session_id"]) in listed.stdout
    assert f"its metadata {broken_file} is unreadable (expected a JSON object, found list)" in listed.stderr
    assert f"prodigy worktree clean -f {newer['session_id']}" in listed.stderr

    (Path(str(older["worktree_path"])) / "ok.txt").write_text("fixed\n")
    resumed = run_prodigy("resume", "-y")                  # bare resume: the newest readable session
    assert resumed.exit_code == 0, resumed.output
    assert f"Resuming session: {older['session_id']}" in resumed.stdout

    named = run_prodigy("resume", str(newer["session_id"]))
    assert named.exit_code == 2 and str(broken_file) in named.stderr

    cleaned = run_prodigy("worktree", "clean", "-f", str(newer["session_id"]))
    assert cleaned.exit_code == 0, cleaned.output
    assert not broken_file.exists() and not Path(str(newer["worktree_path"])).exists()
    assert f"prodigy-{newer['session_id']}" not in branches(repo)


# -- outside values stay data; secrets stay out of files ---------------------------------------------------

HOSTILE = "$(touch PWNED)`touch PWNED2`;touch PWNED3 it's"


def test_hostile_args_and_map_file_names_stay_data_in_the_safe_forms(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = _committed(repo, "wf.yml", """\
- shell: printf '[%s]' ${ARG|sh} "$PRODIGY_ARG" >> seen.txt && echo >> seen.txt
- shell: git log -1 --format=%s
  capture: subject
- shell: printf '<%s>' ${subject|sh} "$PRODIGY_VAR_SUBJECT" > subject.txt
- shell: git add seen.txt subject.txt && git commit -qm "values seen"
""")
    commit_files(repo, {"specs/$(touch PWNED4)-evil.md": "spec\n"}, "a spec with a hostile name")
    result = run_prodigy("cook", str(wf), "--args", HOSTILE, "--map", "specs/*.md", "-y")
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.stderr
    assert (repo / "seen.txt").read_text() == f"[{HOSTILE}][{HOSTILE}]\n[$(touch PWNED4)][$(touch PWNED4)]\n"
    assert not list(repo.rglob("PWNED*")) and not list(repo.parent.rglob("PWNED*"))


def test_validate_warns_about_unquoted_outside_values_with_their_lines(run_prodigy: RunProdigy, repo: Path) -> None:
    wf = write(repo / "wf.yml", "commands:\n  - shell: echo ok\n  - shell: |\n      cat ${ARG}.md\n"
                                "merge:\n  - shell: git log ${merge.target_branch|sh}..${merge.source_branch}\n")
    result = run_prodigy("validate", str(wf))
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f'Warning: {wf}:4: shell command pastes the outside value ${{ARG}} in unquoted, so its text runs as shell '
        'code; write ${ARG|sh} or "$PRODIGY_ARG"',
        f"Warning: {wf}:6: shell command pastes the outside value ${{merge.source_branch}} in unquoted, so its text "
        'runs as shell code; write ${merge.source_branch|sh} or "$PRODIGY_VAR_MERGE_SOURCE_BRANCH"',
    ]


def test_secrets_never_reach_a_file_prodigy_writes(run_prodigy: RunProdigy, repo: Path, prodigy_home: Path) -> None:
    secret = "s3cr3t-value-4711"
    wf = _committed(repo, "wf.yml", f"""\
secrets:
  API_TOKEN: {secret}
commands:
  - shell: echo "token=$API_TOKEN"
    capture: said
  - claude: "/use-token $API_TOKEN"
  - shell: echo "failing with $API_TOKEN" >&2; exit 1
""")
    result = run_prodigy("cook", str(wf), "-y")
    assert result.exit_code == 1
    assert secret not in result.output
    private = [*prodigy_home.glob("events/*.jsonl"), *prodigy_home.glob("state/*/checkpoints/*.json"),
               *prodigy_home.glob("logs/claude-streaming/*")]
    assert len(private) == 3, private       # one events log, one checkpoint, one Claude log
    for path in private:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    # Nothing prodigy wrote holds the secret; the user's own workflow file (in the worktree) does.
    leaked = [path for path in prodigy_home.rglob("*")
              if path.is_file() and ".git" not in path.parts and path.name != "wf.yml"
              and secret.encode() in path.read_bytes()]
    assert leaked == []
    [meta] = metadata(prodigy_home, repo)
    assert "failing with ***REDACTED***" in str(meta["error"])
