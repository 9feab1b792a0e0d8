"""The `prodigy` command line: parsing only. Each command module turns flags into a call."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from prodigy import __version__
from prodigy.errors import EXIT_INTERNAL, EXIT_SIGINT, ProdigyError


class _OrderedGroup(click.Group):
    """Lists commands in the order a user meets them (run, recover, inspect), not alphabetically."""

    ORDER = ("cook", "run", "resume", "exec", "validate", "init", "worktree", "dlq", "logs", "cluster", "agent")

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        rank = {name: index for index, name in enumerate(self.ORDER)}
        return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))


@click.group(cls=_OrderedGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="prodigy")
def cli() -> None:
    """Run AI-assisted development workflows in isolated git worktrees.

    Workflows mix `claude:` steps (Claude Code CLI) and `shell:` steps. Every run gets
    its own git worktree; its commits are merged back into your branch at the end.
    Add `--cluster NAME` to run the same workflow as a Kubernetes Job.
    """


def _register_commands() -> None:
    # Each module adds its commands to `cli`; imported here so `--help` lists them all.
    from prodigy.cli import commands  # noqa: F401


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the CLI and map every outcome onto one exit-code contract."""
    _register_commands()
    try:
        # Without standalone mode click returns a command's `Exit(code)` instead of raising it.
        returned = cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
        if isinstance(returned, int):
            return returned
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        return EXIT_SIGINT
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except ProdigyError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        if exc.hint:
            click.echo(f"hint: {exc.hint}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("Interrupted.", err=True)
        return EXIT_SIGINT
    except Exception as exc:  # noqa: BLE001 - the one place unexpected errors are reported
        from prodigy.cli.crash import report_crash

        return report_crash(exc, EXIT_INTERNAL)
    return 0


if __name__ == "__main__":
    sys.exit(main())
