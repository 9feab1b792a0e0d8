from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prodigy import paths
from prodigy.errors import ConfigError
from prodigy.k8s.config.loader import load_kubernetes_config, parse_kubernetes_config
from prodigy.k8s.config.resolve import ClusterOverrides, resolve_cluster
from prodigy.k8s.config.schema import KubernetesConfig

FILE = Path("/home/u/.prodigy/kubernetes.yaml")


def parse(text: str) -> KubernetesConfig:
    return parse_kubernetes_config(textwrap.dedent(text), FILE)


def error_of(text: str) -> str:
    with pytest.raises(ConfigError) as info:
        parse(text)
    assert info.value.exit_code == 2
    return info.value.message


SPEC_EXAMPLE = """\
    # ~/.prodigy/kubernetes.yaml
    clusters:
      minikube:
        kubeconfig_path: ~/.kube/config
        context: minikube
        namespace: prodigy-dev
        image: prodigy-agent:latest

      production:
        kubeconfig_path: ~/.kube/prod-config
        context: eks-cluster
        namespace: prodigy
        image: your-registry/prodigy-agent:v1.0.0

    default_image: prodigy-agent:latest
    default_namespace: default
    """


def test_the_spec_example_file_loads(isolated_home: Path) -> None:
    config = parse(SPEC_EXAMPLE)
    assert sorted(config.clusters) == ["minikube", "production"]
    prod = config.clusters["production"]
    assert prod.kubeconfig_path == isolated_home / ".kube" / "prod-config"
    assert (prod.context, prod.namespace, prod.image) == ("eks-cluster", "prodigy", "your-registry/prodigy-agent:v1.0.0")
    assert config.default_namespace == "default"


def test_a_relative_kubeconfig_path_is_relative_to_the_config_file() -> None:
    config = parse("clusters:\n  dev: {kubeconfig_path: kube/dev.yaml}\n")
    assert config.clusters["dev"].kubeconfig_path == FILE.parent / "kube" / "dev.yaml"


def test_a_missing_file_is_an_empty_configuration() -> None:
    loaded = load_kubernetes_config()
    assert loaded.path == paths.kubernetes_config_file()
    assert not loaded.exists
    assert loaded.config.clusters == {}


def test_the_file_is_read_from_prodigy_home() -> None:
    path = paths.kubernetes_config_file()
    path.parent.mkdir(parents=True)
    path.write_text("clusters:\n  dev:\n    namespace: team-a\n")
    loaded = load_kubernetes_config()
    assert loaded.exists
    assert loaded.config.clusters["dev"].namespace == "team-a"


def test_an_empty_file_and_an_empty_entry_mean_defaults() -> None:
    assert parse("").clusters == {}
    config = parse("clusters:\n  kind-dev:\n")
    assert config.clusters["kind-dev"].ttl_seconds == 3600


def test_error_names_file_line_and_key_path() -> None:
    message = error_of("""\
        default_image: prodigy-agent:dev
        clusters:
          dev:
            context: kind-dev
            namespace: prodigy
            image: prodigy-agent:dev
            image_pull_policy: Sometimes
        """)
    assert message == (f"{FILE}:7: clusters.dev.image_pull_policy: must be one of Always, IfNotPresent, Never")


def test_unknown_keys_are_rejected_with_a_suggestion() -> None:
    message = error_of("""\
        clusters:
          dev:
            namspace: prodigy
        """)
    assert message.startswith(f"{FILE}:3: clusters.dev.namspace: unknown key (did you mean namespace?); allowed: ")
    assert "kubeconfig_path" in message


def test_unknown_top_level_key() -> None:
    assert error_of("default_images: x\n").startswith(f"{FILE}:1: default_images: unknown key (did you mean default_image?)")


def test_every_error_is_reported_each_with_its_line() -> None:
    message = error_of("""\
        clusters:
          dev:
            ttl_seconds: -5
            resources:
              limits:
                memory: lots
            tolerations:
              - key: gpu
                effect: Sometimes
        """)
    lines = message.splitlines()
    assert lines[0] == f"{FILE}:3: clusters.dev.ttl_seconds: must be at least 0"
    assert lines[1].strip().startswith(f"{FILE}:6: clusters.dev.resources.limits.memory: must be a Kubernetes quantity")
    assert lines[2].strip() == (
        f"{FILE}:9: clusters.dev.tolerations.0.effect: must be one of NoSchedule, PreferNoSchedule, NoExecute")


@pytest.mark.parametrize(("text", "expected"), [
    ("clusters:\n  dev:\n    image: Prodigy:dev\n", ":3: clusters.dev.image: invalid image reference 'Prodigy:dev'"),
    ("default_image: 'a b'\n", ":1: default_image: invalid image reference 'a b': it contains whitespace"),
    ("clusters:\n  dev:\n    namespace: Team_A\n", ":3: clusters.dev.namespace: 'Team_A' is not a valid name"),
    ("clusters:\n  dev:\n    backoff_limit: two\n", ":3: clusters.dev.backoff_limit: must be a whole number"),
    ("clusters:\n  dev:\n    active_deadline_seconds: 0\n",
     ":3: clusters.dev.active_deadline_seconds: must be greater than 0"),
    ("clusters:\n  dev:\n    env: {WORKFLOW_ID: x}\n",
     ":3: clusters.dev.env: WORKFLOW_ID is set by prodigy and cannot be overridden"),
    ("clusters:\n  dev:\n    env: {A: x}\n    secrets: {A: {secret: s, key: k}}\n",
     ":2: clusters.dev: A set in both env and secrets; keep one"),
    ("clusters:\n  dev:\n    secrets:\n      TOKEN: {secret: s}\n", ":4: clusters.dev.secrets.TOKEN.key: is required"),
    ("clusters:\n  dev:\n    repo: {mode: rsync}\n", ":3: clusters.dev.repo.mode: must be one of bundle, remote"),
    ("clusters:\n  dev:\n    node_selector: {'-x': y}\n", ":3: clusters.dev.node_selector: '-x' is not a valid label key"),
    ("clusters: [a, b]\n", ":1: clusters: must be a mapping"),
])
def test_validation_messages(text: str, expected: str) -> None:
    message = error_of(text)
    assert message.startswith(f"{FILE}{expected}"), message


def test_yaml_syntax_errors_name_the_line() -> None:
    message = error_of("clusters:\n  dev:\n    image: [unclosed\n  other: {}\n")
    assert message.startswith(f"{FILE}:4: ")


def test_duplicate_keys_are_an_error_with_a_line() -> None:
    message = error_of("clusters:\n  dev: {}\n  dev: {}\n")
    assert message.startswith(f"{FILE}:3: ")
    assert "duplicate" in message


def test_a_non_mapping_document_is_rejected() -> None:
    assert error_of("- a\n- b\n") == f"{FILE}:1: expected a mapping with keys clusters, default_image, default_namespace"


def test_loose_yaml_scalars_become_strings() -> None:
    config = parse("""\
        clusters:
          dev:
            env: {DEBUG: true, WORKERS: 4}
            resources: {requests: {cpu: 1}, limits: {cpu: 2.5}}
        """)
    dev = config.clusters["dev"]
    assert dict(dev.env) == {"DEBUG": "true", "WORKERS": "4"}
    # Unset resource values keep spec 97's defaults one by one.
    assert (dev.resources.requests.cpu, dev.resources.requests.memory) == ("1", "1Gi")
    assert (dev.resources.limits.cpu, dev.resources.limits.memory) == ("2.5", "4Gi")


def test_repo_section_is_accepted_with_defaults() -> None:
    config = parse("""\
        clusters:
          eks:
            repo: {mode: remote, remote_url: 'git@github.com:me/app.git', credentials_secret: git-creds}
          kind: {}
        """)
    assert config.clusters["eks"].repo.mode == "remote"
    assert config.clusters["eks"].repo.credentials_secret == "git-creds"
    kind = config.clusters["kind"].repo
    assert (kind.mode, kind.max_bundle_mib, kind.push_base_ref) == ("bundle", 64, False)


@pytest.mark.parametrize(("url", "expected"), [
    ("--upload-pack=touch /tmp/x", "'--upload-pack=touch /tmp/x' begins with '-', which git would read as an option"),
    ("ext::sh -c touch% /tmp/x", "'ext::sh -c touch% /tmp/x' uses a git remote helper (ext::), which runs a program"),
    ("fd::7", "uses a git remote helper (fd::)"),
    ("ssh://-oProxyCommand=x/repo", "has a host beginning with '-'"),
    ("gopher://git.example.com/app.git", "has scheme 'gopher'; allowed: https, http, ssh"),
    ("/srv/app.git", "'/srv/app.git' is not a URL; write a local path as file:///path"),
    ("https://bot:ghp_secret@git.example.com/app.git", "'https://***@git.example.com/app.git' contains a password"),
    ("https://ghp_secret@git.example.com/app.git", "'https://***@git.example.com/app.git' contains a user name"),
    ("bot:ghp_secret@git.example.com:app.git", "'***@git.example.com:app.git' contains a password"),
    ("https://git.example.com/app.git\nx", "contains spaces or control characters"),
    ("git.example.com:-x", "names no repository path (or one beginning with '-')"),
])
def test_remote_url_is_validated_where_it_is_written(url: str, expected: str) -> None:
    text = f'clusters:\n  dev:\n    repo:\n      mode: remote\n      remote_url: "{url}"\n'
    message = error_of(text)
    assert message.startswith(f"{FILE}:5: clusters.dev.repo.remote_url: "), message
    assert expected in message
    assert "ghp_secret" not in message


@pytest.mark.parametrize("url", ["https://git.example.com/team/app.git", "http://git.internal:8080/app.git",
                                 "ssh://git@git.example.com:2222/app.git", "git@github.com:me/app.git",
                                 "git://git.example.com/app.git", "file:///srv/git/app.git"])
def test_ordinary_remote_urls_are_accepted(url: str) -> None:
    config = parse(f"clusters:\n  dev:\n    repo: {{mode: remote, remote_url: '{url}'}}\n")
    assert config.clusters["dev"].repo.remote_url == url


def test_tolerations_use_the_kubernetes_shape() -> None:
    config = parse("""\
        clusters:
          gpu:
            tolerations:
              - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
              - {key: spot, operator: Equal, value: "true", effect: NoExecute, tolerationSeconds: 60}
        """)
    assert [t.to_k8s() for t in config.clusters["gpu"].tolerations] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoExecute", "tolerationSeconds": 60},
    ]


# --- resolution ----------------------------------------------------------------------------

CONFIG = """\
    default_image: registry.example.com/prodigy-agent:1.0
    default_namespace: team
    clusters:
      full:
        kubeconfig_path: /etc/kube/full.yaml
        context: ctx-full
        namespace: full-ns
        image: full-image:2
        image_pull_policy: Always
        ttl_seconds: 60
      bare: {}
    """


@pytest.mark.parametrize(("name", "flags", "expected"), [
    # flag > cluster entry > file defaults > built-ins, one field at a time
    ("full", ClusterOverrides(), ("full-ns", "full-image:2", "Always", 60)),
    ("full", ClusterOverrides(namespace="flag-ns"), ("flag-ns", "full-image:2", "Always", 60)),
    ("full", ClusterOverrides(image="flag-image:3"), ("full-ns", "flag-image:3", "Always", 60)),
    ("full", ClusterOverrides(image_pull_policy="Never"), ("full-ns", "full-image:2", "Never", 60)),
    ("full", ClusterOverrides(keep=True), ("full-ns", "full-image:2", "Always", None)),
    ("bare", ClusterOverrides(), ("team", "registry.example.com/prodigy-agent:1.0", "IfNotPresent", 3600)),
    ("bare", ClusterOverrides(namespace="x", image="y:1", image_pull_policy="Never", keep=True),
     ("x", "y:1", "Never", None)),
    ("kind-other", ClusterOverrides(), ("team", "registry.example.com/prodigy-agent:1.0", "IfNotPresent", 3600)),
])
def test_precedence(name: str, flags: ClusterOverrides, expected: tuple[object, ...]) -> None:
    resolved = resolve_cluster(parse(CONFIG), name, flags, ["kind-other"])
    assert (resolved.namespace, resolved.image, resolved.image_pull_policy, resolved.ttl_seconds) == expected


def test_builtin_defaults_without_a_file() -> None:
    resolved = resolve_cluster(KubernetesConfig(), "minikube", ClusterOverrides(), ["minikube"])
    assert (resolved.namespace, resolved.image, resolved.image_pull_policy) == (
        "default", "prodigy-agent:latest", "IfNotPresent")
    assert (resolved.backoff_limit, resolved.ttl_seconds, resolved.active_deadline_seconds) == (0, 3600, None)
    assert (resolved.grace.image_pull_seconds, resolved.grace.unschedulable_seconds) == (120, 300)
    assert resolved.resources.requests.cpu == "0.5" and resolved.resources.limits.memory == "4Gi"


def test_a_configured_cluster_uses_its_context_and_kubeconfig() -> None:
    resolved = resolve_cluster(parse(CONFIG), "full", ClusterOverrides(), [])
    assert (resolved.source, resolved.context, resolved.kubeconfig_path) == (
        "config", "ctx-full", Path("/etc/kube/full.yaml"))
    bare = resolve_cluster(parse(CONFIG), "bare", ClusterOverrides(), [])
    assert (bare.context, bare.kubeconfig_path) == (None, None)  # current-context of $KUBECONFIG


def test_a_kubeconfig_context_works_without_an_entry() -> None:
    resolved = resolve_cluster(parse(CONFIG), "kind-other", ClusterOverrides(), ["kind-other", "prod"])
    assert (resolved.source, resolved.context, resolved.kubeconfig_path) == ("kubeconfig-context", "kind-other", None)


def test_an_unknown_name_lists_clusters_and_contexts() -> None:
    with pytest.raises(ConfigError) as info:
        resolve_cluster(parse(CONFIG), "prod", ClusterOverrides(), ["kind-a", "minikube"], config_path=FILE)
    assert info.value.message == "unknown cluster 'prod'"
    assert info.value.hint is not None
    assert f"clusters in {FILE}: bare, full" in info.value.hint
    assert "kubeconfig contexts: kind-a, minikube" in info.value.hint


@pytest.mark.parametrize(("flags", "expected"), [
    (ClusterOverrides(image="NOPE"), "--image: invalid image reference 'NOPE'"),
    (ClusterOverrides(namespace="Bad_NS"), "--namespace: 'Bad_NS' is not a valid namespace name"),
    (ClusterOverrides(image_pull_policy="sometimes"), "--image-pull-policy: must be one of Always, IfNotPresent, Never"),
])
def test_bad_flags_name_the_flag(flags: ClusterOverrides, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_cluster(parse(CONFIG), "full", flags, [])
    assert info.value.message.startswith(expected)
