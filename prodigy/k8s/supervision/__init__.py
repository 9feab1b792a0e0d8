"""Supervision of a submitted run: the decisions (``decide``) and the reading of a pod's
liveness (``liveness``), both pure; ``prodigy.k8s.supervise`` is the shell that runs them."""
