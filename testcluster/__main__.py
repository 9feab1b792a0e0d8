"""``python -m testcluster up|down|status --dir DIR``: run a test cluster by hand."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from testcluster import binaries, cluster


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m testcluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start a cluster in the background, print KUBECONFIG=<path>")
    start.add_argument("--dir", type=Path, required=True, help="where the cluster keeps its files")
    start.add_argument("--name", default="testcluster", help="cluster and admin context name")
    start.add_argument("--bin-dir", type=Path, help="control plane binaries (default: build.sh, cached)")
    start.add_argument("--image-map", type=Path, help="image map file for the node agent")
    start.add_argument("--no-node", action="store_true", help="start the control plane without a node agent")
    start.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for readiness")
    stop = commands.add_parser("down", help="stop every process of the cluster in DIR")
    stop.add_argument("--dir", type=Path, required=True)
    show = commands.add_parser("status", help="show which components run (exit 1 unless all do)")
    show.add_argument("--dir", type=Path, required=True)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "up":
        try:
            bin_dir = args.bin_dir or binaries.build()
        except binaries.BinariesMissing as error:
            print(f"testcluster: cannot build the control plane: {error}", file=sys.stderr)
            return 1
        options = cluster.Options(name=args.name, with_node=not args.no_node, image_map=args.image_map,
                                  timeout=args.timeout)
        try:
            started = cluster.up(args.dir, bin_dir, options)
        except cluster.StartupError as error:
            print(f"testcluster: {error}", file=sys.stderr)
            return 1
        print(f"testcluster: {started.name} is up at {started.server}; contexts "
              f"{started.admin_context} (admin), {started.restricted_context} (restricted); "
              f"logs in {started.directory / 'logs'}", file=sys.stderr)
        print(f"KUBECONFIG={started.kubeconfig}")
        return 0
    if args.command == "down":
        stopped = cluster.down(args.dir)
        print(f"testcluster: stopped {', '.join(stopped) if stopped else 'nothing (no process was running)'}",
              file=sys.stderr)
        return 0
    running = cluster.status(args.dir)
    if not running:
        print(f"no running cluster recorded in {args.dir}")
        return 1
    for name, alive in running.items():
        print(f"{name}: {'running' if alive else 'stopped'}")
    return 0 if all(running.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
