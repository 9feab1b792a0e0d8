"""A real Kubernetes control plane for the test suite, run as local processes.

etcd, kube-apiserver, kube-controller-manager and kube-scheduler are built from the
Go module proxy by ``testcluster/build.sh``; the process node agent
(``testcluster.nodeagent``) plays the kubelet. ``python -m testcluster up|down|status``
drives a cluster by hand and ``testing.cluster`` gives pytest the same code.

This package is test infrastructure: it is not shipped with ``prodigy`` and the
product never imports it.
"""

from __future__ import annotations
