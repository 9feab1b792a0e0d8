"""`prodigy init`: a commented sample workflow and the Claude merge command, in the repository."""

from __future__ import annotations

from pathlib import Path

SAMPLE_WORKFLOW = """\
# A prodigy workflow: steps run in order inside a fresh git worktree (branch prodigy-session-<uuid>).
# Run it with:   prodigy run .prodigy/workflow.yml          (add -y to merge without asking)
# Check it with: prodigy validate .prodigy/workflow.yml
name: sample
env:
  GREETING: hello                       # visible to every step as $GREETING and ${GREETING}
commands:
  # A shell step runs `sh -c` in the worktree; a non-zero exit fails the workflow.
  - shell: echo "$GREETING from $(git rev-parse --abbrev-ref HEAD)"

  # Capture output into a variable for later steps.
  - shell: git ls-files | wc -l
    capture: file_count

  # Commits made by a step are what gets merged back. commit_required fails the step if none is made.
  # Captured output, --args/--map values and branch names come from outside the workflow: write
  # ${name|sh} (the value as one quoted shell word) or "$PRODIGY_VAR_NAME" / "$PRODIGY_ARG" (the
  # same value from the environment), never a bare ${name}, which the shell would read as code.
  - shell: |
      printf 'This repository tracks %s files.\\n' ${file_count|sh} > PRODIGY_SAMPLE.md
      git add PRODIGY_SAMPLE.md && git commit -m "Add prodigy sample note"
    commit_required: true

  # Claude steps run Claude Code's slash commands (`.claude/commands/*.md`) non-interactively.
  # - claude: "/prodigy-lint"
  #   commit_required: true

  # Retry loop: on failure, ask Claude to fix (${shell.output} holds the failing output), up to 3 runs.
  # - shell: "make test"
  #   on_failure:
  #     claude: "/prodigy-debug-test-failure --output ${shell.output}"
  #     max_attempts: 3
  #     fail_workflow: true

  # Run a step only when a condition holds.
  # - shell: echo "many files"
  #   when: "${file_count} > 100"

  # Steps write inside the worktree only; list other directories explicitly (top level):
  # outside_paths: [/tmp/prodigy-reports]
"""

MERGE_WORKTREE_COMMAND = """\
# /prodigy-merge-worktree

Merge a prodigy worktree branch into its target branch. prodigy runs this only when a plain
`git merge --no-ff` stopped on conflicts (it aborted that merge first).

Arguments: $ARGUMENTS — the source branch (prodigy-session-<uuid>) and the target branch.

## Steps
1. Read the two branch names from the arguments. If the target branch is not checked out here,
   check it out (`git checkout <target>`); if it is checked out in another worktree, stay on the
   current detached HEAD, which already points at the target's commit.
2. Run `git merge --no-ff <source> -m "Merge worktree '<source>' into <target>"`.
3. For every conflicted file, read both sides, keep the intent of each change, and produce one
   coherent result. Never drop a change silently; prefer the source branch for code it rewrote
   and the target for unrelated edits. Run the project's tests if it has a quick command for it.
4. `git add` the resolved files and `git commit --no-edit` to conclude the merge.
5. Confirm `git status --porcelain` is empty and `git log -1` is the merge commit.

If a conflict cannot be resolved with confidence, run `git merge --abort` and explain why.
"""


def initialise(repo: Path, *, force: bool = False) -> list[str]:
    """Write the files; returns one line per file saying what happened."""
    if not repo.is_dir():
        from prodigy.errors import UsageError

        raise UsageError(f"Directory not found: {repo}")
    files = {
        repo / ".prodigy" / "workflow.yml": SAMPLE_WORKFLOW,
        repo / ".claude" / "commands" / "prodigy-merge-worktree.md": MERGE_WORKTREE_COMMAND,
    }
    report = []
    for path, text in files.items():
        relative = path.relative_to(repo)
        if path.exists() and not force:
            report.append(f"kept     {relative} (exists; --force overwrites)")
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        existed = path.exists()
        path.write_text(text)
        report.append(f"{'replaced' if existed else 'created '} {relative}")
    report.append("Next, commit them (a run's worktree only sees committed files), then try the sample:")
    report.append("  git add .prodigy .claude && git commit -m 'Add prodigy workflow'")
    report.append("  prodigy run .prodigy/workflow.yml")
    return report
