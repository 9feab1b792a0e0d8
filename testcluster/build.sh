#!/usr/bin/env bash
# Build the test control plane (etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl) from the Go module proxy into a cache directory
# outside the repository. Skips the build when the binaries are already there.
#
#   testcluster/build.sh            # prints the bin directory on its last line
#   PRODIGY_TESTCLUSTER_CACHE=DIR   # cache root (default ~/.cache/prodigy-testcluster)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The version of a direct requirement, whether written in a block or on one line.
required() { awk -v m="$1" '{ if ($1 == "require") $1 = ""; $0 = $0 } $1 == m && $2 ~ /^v/ { print $2; exit }' "$2"; }
K8S_VERSION="$(required k8s.io/kubernetes "$here/gomod/k8s/go.mod")"
ETCD_VERSION="$(required go.etcd.io/etcd/server/v3 "$here/gomod/etcd/go.mod")"
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] || { echo "testcluster: cannot read pinned versions from gomod/*/go.mod" >&2; exit 1; }
cache="${PRODIGY_TESTCLUSTER_CACHE:-$HOME/.cache/prodigy-testcluster}"
bin="$cache/k8s-$K8S_VERSION-etcd-$ETCD_VERSION/bin"
want=(etcd kube-apiserver kube-controller-manager kube-scheduler kubectl)

missing=0
for b in "${want[@]}"; do [ -x "$bin/$b" ] || missing=1; done
if [ "$missing" = 0 ]; then
  echo "testcluster: binaries for Kubernetes $K8S_VERSION and etcd $ETCD_VERSION already built" >&2
  echo "$bin"; exit 0
fi
command -v go >/dev/null || { echo "testcluster: Go is needed to build the control plane (or set PRODIGY_TEST_KUBECONFIG)" >&2; exit 1; }

mkdir -p "$bin.tmp"
minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
ld="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1"
ld="$ld -X k8s.io/component-base/version.gitMinor=$minor -X k8s.io/component-base/version.gitTreeState=clean"
ld="$ld -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1"
ld="$ld -X k8s.io/client-go/pkg/version.gitMinor=$minor"
start=$(date +%s)
echo "testcluster: building etcd $ETCD_VERSION" >&2
(cd "$here/gomod/etcd" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$bin.tmp/etcd" go.etcd.io/etcd/server/v3)
echo "testcluster: building Kubernetes $K8S_VERSION (apiserver, controller-manager, scheduler, kubectl)" >&2
(cd "$here/gomod/k8s" && CGO_ENABLED=0 go build -trimpath -ldflags "$ld" -o "$bin.tmp/" \
   k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
   k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl)
rm -rf "$bin"; mv "$bin.tmp" "$bin"
echo "testcluster: built in $(( $(date +%s) - start )) s into $bin" >&2
echo "$bin"
