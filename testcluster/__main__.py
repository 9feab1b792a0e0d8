"""``python -m testcluster up|down|status --dir DIR``: run a test cluster by hand;
``python -m testcluster image build``: build the agent image for the real node."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from testcluster import binaries, cluster
from testcluster.image import build as images


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m testcluster", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up", help="start a cluster in the background, print KUBECONFIG=<path>")
    start.add_argument("--dir", type=Path, required=True, help="where the cluster keeps its files")
    start.add_argument("--name", default="testcluster", help="cluster and admin context name")
    start.add_argument("--bin-dir", type=Path, help="control plane binaries (default: build.sh, cached)")
    start.add_argument("--node", choices=cluster.NODE_KINDS, default="process",
                       help="process: the process node agent (default); kubelet: containerd + runc + a real kubelet "
                            "running the built agent image (builds it first if needed)")
    start.add_argument("--image-map", type=Path, help="image map file for the process node agent")
    start.add_argument("--no-node", action="store_true", help="start the control plane without a node agent")
    start.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for readiness")
    stop = commands.add_parser("down", help="stop every process of the cluster in DIR")
    stop.add_argument("--dir", type=Path, required=True)
    show = commands.add_parser("status", help="show which components run (exit 1 unless all do)")
    show.add_argument("--dir", type=Path, required=True)
    image = commands.add_parser("image", help="the agent image for --node kubelet")
    image_commands = image.add_subparsers(dest="image_command", required=True)
    image_commands.add_parser("build", help="build docker/agent/Dockerfile with buildah (cached); print the store")
    image_commands.add_parser("locate", help="print the store of the current build; exit 3 if not built")
    return parser


def _image(command: str) -> int:
    if command == "locate":
        found = images.locate()
        if found is None:
            print("testcluster: the agent image for the current sources is not built: "
                  "python -m testcluster image build", file=sys.stderr)
            return 3
        print(found.store)
        return 0
    try:
        built = images.build()
    except images.ImageBuildError as error:
        print(f"testcluster: {error}", file=sys.stderr)
        return 1
    print(f"testcluster: {', '.join(built.images)} ({built.size / 1e9:.2f} GB uncompressed) in {built.store}",
          file=sys.stderr)
    print(built.store)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "image":
        return _image(args.image_command)
    if args.command == "up":
        try:
            bin_dir = args.bin_dir or binaries.build()
        except binaries.BinariesMissing as error:
            print(f"testcluster: cannot build the control plane: {error}", file=sys.stderr)
            return 1
        image_store = None
        if args.node == "kubelet" and not args.no_node:
            try:
                image_store = images.build().containerd_root
            except images.ImageBuildError as error:
                print(f"testcluster: cannot build the agent image: {error}", file=sys.stderr)
                return 1
        options = cluster.Options(name=args.name, with_node=not args.no_node, node=args.node,
                                  image_map=args.image_map, image_store=image_store, timeout=args.timeout)
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
