#!/usr/bin/env bash
# Build the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) and the kubelet of the real node from the Go module
# proxy into a cache directory outside the repository. Skips the build when the
# binaries are already there; builds only the kubelet when only it is missing.
#
#   testcluster/build.sh            # prints the bin directory on its last line
#   testcluster/build.sh --locate   # only print it; exit 3 if the binaries are not built yet
#   PRODIGY_TESTCLUSTER_CACHE=DIR   # cache root (default ~/.cache/prodigy-testcluster)
set -euo pipefail
mode="${1:-build}"
case "$mode" in build|--locate) ;; *) echo "usage: $0 [--locate]" >&2; exit 2 ;; esac
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The version of a direct requirement, whether written in a block or on one line.
required() { awk -v m="$1" '{ if ($1 == "require") $1 = ""; $0 = $0 } $1 == m && $2 ~ /^v/ { print $2; exit }' "$2"; }
K8S_VERSION="$(required k8s.io/kubernetes "$here/gomod/k8s/go.mod")"
ETCD_VERSION="$(required go.etcd.io/etcd/server/v3 "$here/gomod/etcd/go.mod")"
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] || { echo "testcluster: cannot read pinned versions from gomod/*/go.mod" >&2; exit 1; }
cache="${PRODIGY_TESTCLUSTER_CACHE:-$HOME/.cache/prodigy-testcluster}"
bin="$cache/k8s-$K8S_VERSION-etcd-$ETCD_VERSION/bin"
control_plane=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)
want=("${control_plane[@]}" kubelet)

built() { for b in "$@"; do [ -x "$bin/$b" ] || return 1; done; }
if built "${want[@]}"; then
  [ "$mode" = --locate ] || echo "testcluster: binaries for Kubernetes $K8S_VERSION and etcd $ETCD_VERSION already built" >&2
  echo "$bin"; exit 0
fi
if [ "$mode" = --locate ]; then
  echo "testcluster: the control plane is not built yet: run testcluster/build.sh (or set PRODIGY_TEST_KUBECONFIG)" >&2
  echo "$bin"; exit 3
fi
# A login shell may lack Go's default install location on PATH (CI, sudo).
command -v go >/dev/null || { [ -x /usr/local/go/bin/go ] && PATH="/usr/local/go/bin:$PATH"; }
command -v go >/dev/null || { echo "testcluster: Go is needed to build the control plane (or set PRODIGY_TEST_KUBECONFIG)" >&2; exit 1; }

# One build at a time per cache: a second caller waits, then finds the binaries built.
mkdir -p "$cache"
exec 9>"$cache/.build.lock"
flock 9
if built "${want[@]}"; then echo "$bin"; exit 0; fi

mkdir -p "$bin.tmp"
minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
ld="$ld -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1"
ld="$ld -X k8s.io/client-go/pkg/version.gitMinor=$minor"
start=$(date +%s)
if built "${control_plane[@]}"; then
  # Binaries from before the real node existed: add the kubelet beside them.
  echo "testcluster: building the kubelet $K8S_VERSION" >&2
  (cd "$here/gomod/k8s" && go mod download && go mod verify >&2 && \
   CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$bin/kubelet.tmp" k8s.io/kubernetes/cmd/kubelet)
  mv "$bin/kubelet.tmp" "$bin/kubelet"; rmdir "$bin.tmp" 2>/dev/null || true
  echo "testcluster: built the kubelet in $(( $(date +%s) - start )) s into $bin" >&2
  echo "$bin"; exit 0
fi
# Every module is checked against the committed go.sum when downloaded; verify also
# re-checks modules already in the cache, so a tampered cache cannot slip in.
echo "testcluster: downloading and verifying modules" >&2
for m in etcd k8s; do (cd "$here/gomod/$m" && go mod download && go mod verify >&2); done
echo "testcluster: building etcd $ETCD_VERSION" >&2
(cd "$here/gomod/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin.tmp/etcd" go.etcd.io/etcd/server/v3)
echo "testcluster: building Kubernetes $K8S_VERSION (apiserver, controller-manager, scheduler, kubectl, kubelet)" >&2
(cd "$here/gomod/k8s" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$bin.tmp/" \
   k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
   k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl k8s.io/kubernetes/cmd/kubelet)
rm -rf "$bin"; mv "$bin.tmp" "$bin"
echo "testcluster: built in $(( $(date +%s) - start )) s into $bin" >&2
echo "$bin"
