"""The real node's and the image build's pure parts: configs, cgroup paths, OCI blobs, keys."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from testcluster.image import ca_runtime, oci, recipe, variant
from testcluster.realnode import cgroups, config, node, podnet


def _layout(tmp_path: Path) -> config.NodeLayout:
    return config.NodeLayout(root=tmp_path / "node", node_name="n", kubelet_port=21000, healthz_port=0,
                             cgroup_root="/a/prodigy-testcluster-x-1", ca_cert=tmp_path / "ca.crt",
                             serving_cert=tmp_path / "node.crt", serving_key=tmp_path / "node.key",
                             kubeconfig=tmp_path / "kubelet.kubeconfig")


def test_containerd_keeps_everything_under_the_node_directory_but_its_sockets(tmp_path: Path) -> None:
    text = config.containerd_config(_layout(tmp_path))

    paths = [line.split("=", 1)[1].strip().strip('"') for line in text.splitlines()
             if line.split("=")[0].strip() in ("root", "state", "address", "Root", "bin_dir", "conf_dir", "path")]
    sockets = [p for p in paths if p.startswith("/run/containerd/")]   # the node namespace's own /run tmpfs
    assert sockets == ["/run/containerd/containerd.sock", "/run/containerd/containerd.sock.ttrpc"]
    assert all(p == "" or p.startswith(str(tmp_path)) for p in paths if p not in sockets), paths
    assert "restrict_oom_score_adj = true" in text          # no CAP_SYS_RESOURCE on this machine
    assert f'sandbox_image = "{recipe.PAUSE_IMAGE}"' in text
    assert '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]' in text


def test_kubelet_listens_on_loopback_checks_kernel_defaults_and_authenticates_clients(tmp_path: Path) -> None:
    kubelet = config.kubelet_config(_layout(tmp_path))

    assert (kubelet["address"], kubelet["port"], kubelet["readOnlyPort"]) == ("127.0.0.1", 21000, 0)
    assert kubelet["protectKernelDefaults"] is True and kubelet["failCgroupV1"] is False
    assert kubelet["authentication"]["anonymous"]["enabled"] is False
    assert kubelet["authentication"]["x509"]["clientCAFile"] == str(tmp_path / "ca.crt")
    assert kubelet["authorization"]["mode"] == "Webhook"
    assert kubelet["cgroupRoot"] == "/a/prodigy-testcluster-x-1"
    assert all(str(v).startswith(str(tmp_path)) for k, v in kubelet.items() if k in ("podLogsDir", "volumePluginDir"))


def test_the_shown_kernel_tunables_are_what_the_kubelet_expects() -> None:
    # pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables
    assert config.KERNEL_DEFAULTS == {"vm/overcommit_memory": 1, "vm/panic_on_oom": 0, "kernel/panic": 10,
                                      "kernel/panic_on_oops": 1, "kernel/keys/root_maxkeys": 1000000,
                                      "kernel/keys/root_maxbytes": 25000000}


def test_toml_writer_quotes_dotted_table_names() -> None:
    text = config.to_toml({"a": 1, "plugins": {"io.x": {"b": True, "c": ["d"]}}})
    assert text == 'a = 1\n\n[plugins."io.x"]\nb = true\nc = ["d"]\n'


def test_the_cgroup_root_sits_below_the_memory_cgroup_we_run_in() -> None:
    proc = "9:name=systemd:/\n4:memory:/session/42\n3:cpuset:/\n0::/\n"
    assert cgroups.own_memory_cgroup(proc) == "/session/42"
    assert cgroups.root_for("c", "ab12", proc) == "/session/42/prodigy-testcluster-c-ab12"
    assert cgroups.root_for("c", "ab12", "0::/\n") == "/prodigy-testcluster-c-ab12"


def test_cgroup_root_is_made_in_each_hierarchy_and_removed_with_what_it_made(tmp_path: Path) -> None:
    for name in ("memory", "cpuset", "pids"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "cgroup.procs").write_text("")
    (tmp_path / "cpuset" / "cpuset.cpus").write_text("0-1\n")
    (tmp_path / "cpuset" / "cpuset.mems").write_text("0\n")
    (tmp_path / "memory" / "session").mkdir()           # exists already: must survive removal

    made = cgroups.create("/session/prodigy-testcluster-c-1", fs=tmp_path)

    assert (tmp_path / "pids" / "session" / "prodigy-testcluster-c-1").is_dir()
    assert (tmp_path / "cpuset" / "session" / "cpuset.cpus").read_text() == "0-1\n"
    (tmp_path / "memory" / "session" / "prodigy-testcluster-c-1" / "kubepods" / "pod1").mkdir(parents=True)
    for path in (tmp_path / "cpuset" / "session").rglob("cpuset.*"):
        path.unlink()   # a real cgroupfs has no files to delete; this stand-in does
    assert cgroups.remove("/session/prodigy-testcluster-c-1", made, fs=tmp_path) == []
    assert not (tmp_path / "pids" / "session").exists() and (tmp_path / "memory" / "session").is_dir()
    assert not (tmp_path / "memory" / "session" / "prodigy-testcluster-c-1").exists()


def test_image_names_resolve_like_the_kubelet_resolves_them() -> None:
    assert recipe.full_reference("prodigy-agent:dev") == "docker.io/library/prodigy-agent:dev"
    assert recipe.full_reference("team/agent:1") == "docker.io/team/agent:1"
    assert recipe.full_reference("localhost/x/pause:3") == "localhost/x/pause:3"
    assert recipe.full_reference("registry.example.com:5000/a:b") == "registry.example.com:5000/a:b"


def test_the_image_key_changes_with_any_input() -> None:
    base = [("prodigy/a.py", b"x = 1\n"), ("uv.lock", b"lock")]
    assert recipe.Digest.of(base) == recipe.Digest.of(list(base))
    assert recipe.Digest.of(base) != recipe.Digest.of([("prodigy/a.py", b"x = 2\n"), ("uv.lock", b"lock")])
    assert recipe.Digest.of([("a", b"bc")]) != recipe.Digest.of([("ab", b"c")])


def test_context_pieces_skip_bytecode(tmp_path: Path) -> None:
    for name in recipe.CONTEXT_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    (tmp_path / "prodigy" / "__pycache__").mkdir(parents=True)
    (tmp_path / "prodigy" / "m.py").write_text("pass\n")
    (tmp_path / "prodigy" / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"\0")
    names = [name for name, _ in recipe.context_pieces(tmp_path)]
    assert "prodigy/m.py" in names and not any("__pycache__" in name for name in names)


def test_one_layer_images_are_deterministic_and_consistent() -> None:
    first = oci.image_blobs("p", [oci.File("pause", b"\x7fELF")], {"Entrypoint": ["/pause"]})
    second = oci.image_blobs("p", [oci.File("pause", b"\x7fELF")], {"Entrypoint": ["/pause"]})
    assert first == second
    blobs = dict(first.blobs)
    assert all(digest == "sha256:" + hashlib.sha256(data).hexdigest() for digest, data in first.blobs)
    manifest = json.loads(blobs[first.manifest_digest])
    config_doc = json.loads(blobs[manifest["config"]["digest"]])
    assert config_doc["rootfs"]["diff_ids"] == [manifest["layers"][0]["digest"]]
    with tarfile.open(fileobj=io.BytesIO(blobs[manifest["layers"][0]["digest"]])) as layer:
        assert layer.getnames() == ["pause"]


def test_the_test_variant_adds_one_layer_and_puts_the_fake_first_on_path() -> None:
    manifest = {"schemaVersion": 2, "config": {"digest": "sha256:c"}, "layers": [{"digest": "sha256:l1"}]}
    config_doc = {"config": {"Env": ["PATH=/opt/prodigy/bin:/usr/bin", "HOME=/home/prodigy"]},
                  "rootfs": {"type": "layers", "diff_ids": ["sha256:l1"]}, "history": [{"created_by": "x"}]}

    made = variant.with_files(manifest, config_doc, [oci.File("opt/t/bin/claude", b"#!/bin/sh\n")], "/opt/t/bin", "c")

    new_manifest, new_config = json.loads(made.manifest.data), json.loads(made.config.data)
    assert [layer["digest"] for layer in new_manifest["layers"]] == ["sha256:l1", made.layer.digest]
    assert new_config["rootfs"]["diff_ids"] == ["sha256:l1", made.layer.digest]
    assert "PATH=/opt/t/bin:/opt/prodigy/bin:/usr/bin" in new_config["config"]["Env"]
    assert "HOME=/home/prodigy" in new_config["config"]["Env"]
    with tarfile.open(fileobj=io.BytesIO(made.layer.data)) as layer:
        assert layer.getnames() == ["opt", "opt/t", "opt/t/bin", "opt/t/bin/claude"]


def test_run_steps_get_the_host_ca_under_dev_and_tools_pointed_at_it() -> None:
    spec = {"mounts": [{"destination": "/dev", "type": "tmpfs"}], "process": {"env": ["PATH=/bin", "SSL_CERT_FILE=x"]}}
    changed = ca_runtime.add_ca(spec, "/etc/ssl/certs/ca-certificates.crt")
    mount = changed["mounts"][-1]
    assert mount["destination"] == ca_runtime.CA_IN_CONTAINER and "ro" in mount["options"]
    assert "SSL_CERT_FILE=/dev/host-ca-bundle.crt" in changed["process"]["env"]
    assert "SSL_CERT_FILE=x" not in changed["process"]["env"] and "PATH=/bin" in changed["process"]["env"]
    assert ca_runtime.bundle_dir(["--root", "r", "create", "--bundle", "/b", "id"]) == "/b"
    assert ca_runtime.bundle_dir(["create", "--bundle=/c", "id"]) == "/c"


def test_pod_addresses_are_link_local_and_stable() -> None:
    address = podnet.address_for("abc")
    assert address == podnet.address_for("abc") and address.startswith("169.254.")
    assert all(1 <= int(part) <= 254 for part in address.split(".")[2:])


def test_the_harness_gives_the_node_its_loopback_address() -> None:
    assert node.addresses_patch("n") == {"status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                                                  {"type": "Hostname", "address": "n"}]}}
