"""The process node agent: plays the kubelet for the test control plane.

It registers a Node, runs the containers of the pods bound to it as host processes
(each in a private mount namespace with its volumes), reports their status like the
kubelet, and serves the kubelet's ``/containerLogs`` endpoint so ``kubectl logs`` works
through the apiserver. See ``docs/`` of the testcluster for what it does not fake.

    python -m testcluster.nodeagent --kubeconfig PATH --node-name NAME --port PORT \
        --state-dir DIR --cert FILE --key FILE [--image-map FILE]
"""
