"""``python -m testcluster.nodeagent``: run the node agent until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path

from testcluster.nodeagent.agent import AgentOptions, run


def parse_args(argv: list[str]) -> AgentOptions:
    parser = argparse.ArgumentParser(prog="python -m testcluster.nodeagent", description=__doc__)
    parser.add_argument("--kubeconfig", type=Path, required=True, help="admin kubeconfig of the cluster")
    parser.add_argument("--node-name", required=True, help="name of the Node to register")
    parser.add_argument("--port", type=int, required=True, help="HTTPS port of the kubelet log endpoint")
    parser.add_argument("--state-dir", type=Path, required=True, help="where volumes and logs of pods live")
    parser.add_argument("--cert", type=Path, required=True, help="TLS certificate of the log endpoint")
    parser.add_argument("--key", type=Path, required=True, help="TLS key of the log endpoint")
    parser.add_argument("--image-map", type=Path, help="YAML/JSON image map replacing the built-in one")
    parser.add_argument(
        "--restart-backoff", type=float, default=10.0, help="first crash-loop back-off in seconds (kubelet: 10)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    args = parser.parse_args(argv)
    return AgentOptions(
        kubeconfig=args.kubeconfig,
        node_name=args.node_name,
        port=args.port,
        state_dir=args.state_dir,
        cert=args.cert,
        key=args.key,
        image_map=args.image_map,
        restart_backoff=args.restart_backoff,
        verbose=args.verbose,
    )


def main(argv: list[str] | None = None) -> int:
    options = parse_args(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(
        level=logging.DEBUG if options.verbose else logging.INFO,
        format="%(asctime)s nodeagent %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    logging.getLogger("kubernetes").setLevel(logging.WARNING)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    return run(options, stop)


if __name__ == "__main__":
    sys.exit(main())
