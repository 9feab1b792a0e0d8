"""Pure formatting of run progress and summaries. No I/O: every function returns text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CommitLine:
    sha: str
    subject: str


@dataclass(frozen=True)
class RunSummary:
    session_id: str
    status: str                      # completed | failed | interrupted
    steps_completed: int
    steps_total: int
    steps_skipped: int
    duration: float
    commits: Sequence[CommitLine]
    files_changed: Sequence[str]
    failed_step: str | None = None


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m {rest:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def format_step_header(index: int, total: int, display: str, pass_label: str | None = None) -> str:
    """`[2/5] shell: cargo test`, with `(arg 7)`-style pass labels when a run has several passes."""
    first_line = display.splitlines()[0] if display else display
    if display.count("\n"):
        first_line += " …"
    suffix = f"  ({pass_label})" if pass_label else ""
    return f"[{index}/{total}] {first_line}{suffix}"


def format_step_done(duration: float, commits: int, files: int, note: str | None = None) -> str:
    parts = [format_duration(duration)]
    if commits:
        parts.append(f"{plural(commits, 'commit')}, {plural(files, 'file')} changed")
    if note:
        parts.append(note)
    return "✓ " + " · ".join(parts)


def format_summary(summary: RunSummary, max_commits: int = 10) -> list[str]:
    """The block that closes a run: steps, duration, commits, files changed."""
    verb = {"completed": "completed", "failed": "failed", "interrupted": "interrupted"}.get(summary.status, summary.status)
    steps = f"{summary.steps_completed}/{summary.steps_total} steps"
    if summary.steps_skipped:
        steps += f" ({summary.steps_skipped} skipped)"
    lines = [
        f"Workflow {verb}: {steps} in {format_duration(summary.duration)}, "
        f"{plural(len(summary.commits), 'commit')}, {plural(len(summary.files_changed), 'file')} changed",
    ]
    if summary.failed_step:
        where = "interrupted in" if summary.status == "interrupted" else "failed step:"
        lines.append(f"  {where} {summary.failed_step}")
    for commit in list(summary.commits)[-max_commits:]:
        lines.append(f"  {commit.sha[:8]} {commit.subject}")
    hidden = len(summary.commits) - max_commits
    if hidden > 0:
        lines.insert(1 + bool(summary.failed_step), f"  … {hidden} earlier commits")
    return lines


def format_resume_hint(session_id: str) -> str:
    return f"Resume with: prodigy resume {session_id}"


def format_uncommitted_warning(repo: object, changes: Sequence[str], shown: int = 3) -> str:
    """Which uncommitted paths a run leaves out. `changes` are `git status --porcelain` lines."""
    paths = [line[3:] if len(line) > 3 else line for line in changes]
    names = ", ".join(paths[:shown]) + (f" and {len(changes) - shown} more" if len(changes) > shown else "")
    return (f"{plural(len(changes), 'uncommitted change')} in {repo} will not be in this run ({names}): "
            "the worktree starts from the last commit; commit first to include them")


def format_discard_hint(session_id: str) -> str:
    return f"Discard with: prodigy worktree clean -f {session_id}"


def format_merge_prompt(session_id: str, target: str) -> str:
    return f"Merge {session_id} to {target} [Y/n]: "


@dataclass(frozen=True)
class SessionRow:
    session_id: str
    status: str
    ahead: int | None              # commits not yet in the target branch; None when unknown
    target: str                    # the branch the session merges into
    created_at: str
    path: str


def _to_seconds(timestamp: str) -> str:
    """An ISO timestamp shown to the second (stored ones carry microseconds)."""
    try:
        return datetime.fromisoformat(timestamp).isoformat(timespec="seconds")
    except ValueError:
        return timestamp


def format_session_table(rows: Sequence[SessionRow]) -> list[str]:
    """`prodigy worktree ls`: aligned columns under a header, like `kubectl get`."""
    header = ("SESSION", "STATUS", "COMMITS", "MERGES INTO", "CREATED", "WORKTREE")
    cells = [header] + [(r.session_id, r.status, "?" if r.ahead is None else str(r.ahead), r.target,
                         _to_seconds(r.created_at), r.path) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header) - 1)]
    return ["  ".join([*(cell.ljust(width) for cell, width in zip(row[:-1], widths)), row[-1]]).rstrip()
            for row in cells]


def truncate_output(text: str, head: int = 25, tail: int = 25) -> str:
    """Upstream's failure excerpt: first 25 and last 25 lines when the output is over 50 lines."""
    lines = text.rstrip("\n").splitlines()
    if len(lines) <= head + tail:
        return "\n".join(lines)
    skipped = len(lines) - head - tail
    return "\n".join([*lines[:head], f"... ({skipped} lines omitted) ...", *lines[-tail:]])
