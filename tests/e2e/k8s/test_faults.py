"""Dropped connections mid-run: logs resume with no lost and no duplicated line; the run completes."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.e2e.k8s.conftest import CookEnv
from tests.e2e.k8s.faultproxy import FaultProxy

pytestmark = pytest.mark.timeout(180)

LINES = 80


def _proxied_kubeconfig(cook_env: CookEnv, target: Path) -> tuple[Path, FaultProxy]:
    import yaml  # type: ignore[import-untyped]

    source = cook_env.cluster.kubeconfig
    document = yaml.safe_load(source.read_text())
    server = urlparse(document["clusters"][0]["cluster"]["server"])
    proxy = FaultProxy(server.hostname or "127.0.0.1", server.port or 443)
    for entry in document["clusters"]:
        entry["cluster"]["server"] = f"https://127.0.0.1:{proxy.port}"
    for section, inner in (("clusters", "cluster"), ("users", "user")):
        for entry in document[section]:
            for key in ("certificate-authority", "client-certificate", "client-key"):
                if key in entry[inner] and not Path(entry[inner][key]).is_absolute():
                    entry[inner][key] = str((source.parent / entry[inner][key]).resolve())
    target.write_text(json.dumps(document))
    return target, proxy


def test_log_stream_cut_three_times_loses_and_repeats_nothing(cook_env: CookEnv, tmp_path: Path) -> None:
    kubeconfig, proxy = _proxied_kubeconfig(cook_env, tmp_path / "kubeconfig")
    try:
        cook_env.configure(kubeconfig_path=str(kubeconfig))
        workflow = cook_env.workflow("counter", f"""\
name: counter
commands:
  - shell: "for i in $(seq 1 {LINES}); do echo count-$i; sleep 0.1; done"
""")
        seen: list[str] = []
        cutter_done = threading.Event()
        cut_connections: list[int] = []

        def cutter() -> None:
            for _ in range(3):
                time.sleep(1.5)
                cut_connections.append(proxy.cut_all())   # log stream + Job and pod watches
            cutter_done.set()

        with cook_env.popen(cook_env.cook_args(workflow)) as process:
            assert process.stdout is not None and process.stderr is not None
            for line in process.stdout:
                seen.append(line.rstrip("\n"))
                if line.strip() == "count-1":
                    threading.Thread(target=cutter, daemon=True).start()
            process.wait(timeout=60)
            err = process.stderr.read()
        assert cutter_done.is_set() and len(cut_connections) == 3 and min(cut_connections) >= 1
        assert process.returncode == 0, err
        counts = [line.strip() for line in seen if line.strip().startswith("count-")]
        assert counts == [f"count-{i}" for i in range(1, LINES + 1)]
    finally:
        proxy.close()
