"""``$PRODIGY_HOME/kubernetes.yaml``: named clusters, and how a ``--cluster NAME`` resolves.

The file follows spec 97's format and extends each cluster entry with the knobs a real
cluster needs (pull policy and secrets, service account, resources, scheduling, env,
secrets from existing Secrets, TTL, retries, deadlines, diagnosis grace windows, and the
repository transport)::

    default_image: prodigy-agent:dev
    default_namespace: default
    clusters:
      minikube:
        context: minikube
        namespace: prodigy-dev
        resources: {limits: {memory: 8Gi}}

Three steps, one module each, all pure apart from reading the one file:

- ``schema``: what the file may say (pydantic models, ``extra="forbid"``) and the built-in
  defaults.
- ``loader``: text to a validated ``KubernetesConfig``; every error names the file, the
  line and the key path.
- ``resolve``: a cluster name plus the cook/run flags to a ``ResolvedCluster`` (flag >
  entry > file defaults > built-ins; a kubeconfig context works without an entry).

Import names from those modules; this package re-exports nothing.
"""
