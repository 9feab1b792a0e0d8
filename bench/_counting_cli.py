"""`prodigy` with every Kubernetes API request counted, for bench/mapreduce_cluster.py.

Runs the real CLI (`prodigy.cli.main`) after wrapping `Kube.request` and `Kube.open_stream`, the
two ways prodigy talks to the API server; at exit the counts, by method and path shape (names
replaced by `{name}`), go to $PRODIGY_BENCH_REQUESTS as JSON.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prodigy.k8s import clients  # noqa: E402 - after the path fix; loads no client library yet

_counts: Counter[str] = Counter()
_lock = threading.Lock()
_NAMED = re.compile(r"/(namespaces|jobs|pods|configmaps|secrets|nodes|events)/([^/]+)")


def _shape(method: str, path: str, query: Any) -> str:
    path = _NAMED.sub(lambda m: f"/{m.group(1)}/{{name}}" if m.group(1) != "namespaces" else "/namespaces/{ns}",
                      path)
    watch = any(key == "watch" for key, _ in (query or ()))
    return f"{method} {path}{' (watch)' if watch else ''}"


def _wrap(name: str) -> None:
    original = getattr(clients.Kube, name)

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        method = args[0] if name == "request" else "GET"
        path = args[1] if name == "request" else args[0]
        with _lock:
            _counts[_shape(method, path, kwargs.get("query"))] += 1
        return original(self, *args, **kwargs)

    setattr(clients.Kube, name, counted)


_wrap("request")
_wrap("open_stream")


@atexit.register
def _dump() -> None:
    target = os.environ.get("PRODIGY_BENCH_REQUESTS")
    if target:
        Path(target).write_text(json.dumps(dict(_counts), indent=1, sort_keys=True))


if __name__ == "__main__":
    from prodigy.cli import main

    sys.exit(main(sys.argv[1:]))
