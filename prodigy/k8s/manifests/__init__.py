"""The objects a cluster run creates, as plain dicts in the Kubernetes wire shape (camelCase).

Pure functions only: nothing here talks to a cluster, so ``--dry-run`` prints exactly what a
real run sends, and the golden files in ``tests/unit/k8s/golden/`` pin it. One module per
concern:

- ``contract``: what the Job assumes about the agent image (``AGENT``).
- ``inputs``: everything a build needs (``JobSpecInputs``) and the names it derives.
- ``metadata``: labels, annotations, selectors and ownerReferences shared by every object.
- ``pod``: the pod template: security context, the agent container, its env and volumes.
- ``job``: the Job around it: suspension, retries, TTL, deadline, pod failure policy.
- ``data``: the workflow ConfigMap and the per-run credentials Secret.
- ``additions``: ``PodAdditions``, how callers (the repository transport) extend the pod.
- ``run``: ``build_run_objects`` and the order the objects are created in, with its reasons.
- ``dry_run``: the YAML ``--dry-run`` prints, Secret values redacted.

Import names from those modules; this package re-exports nothing.
"""
