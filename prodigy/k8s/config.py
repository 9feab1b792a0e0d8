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

Loading is pure apart from reading the one file: ``parse_kubernetes_config(text, path)``
does the work and is what tests use. Every validation error names the file, the line and
the key path, e.g. ``kubernetes.yaml:7: clusters.dev.image_pull_policy: must be one of
Always, IfNotPresent, Never``.

Resolution (``resolve_cluster``) is pure too: the runtime reads the kubeconfig's context
names and passes them in, so precedence can be tested as a table.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from prodigy import paths
from prodigy.errors import ConfigError
from prodigy.k8s import names

# --- defaults (documented in docs/kubernetes/configuration.md) -----------------------------

BUILTIN_IMAGE: Final = "prodigy-agent:latest"        # spec 97's default_image
BUILTIN_NAMESPACE: Final = "default"
DEFAULT_PULL_POLICY: Final = "IfNotPresent"          # spec 97; also what kind/minikube loaded images need
DEFAULT_TTL_SECONDS: Final = 3600
# Spec 97 says 2. A retried pod starts the whole workflow again from a fresh checkout: every
# Claude step runs (and is paid for) again, and a deterministic failure just fails again.
DEFAULT_BACKOFF_LIMIT: Final = 0
DEFAULT_IMAGE_PULL_GRACE_SECONDS: Final = 120
DEFAULT_UNSCHEDULABLE_GRACE_SECONDS: Final = 300

PullPolicy = Literal["Always", "IfNotPresent", "Never"]
PULL_POLICIES: Final[tuple[str, ...]] = typing.get_args(PullPolicy)

# Env names prodigy sets itself; a cluster entry may not override them.
RESERVED_ENV: Final = frozenset({
    "PRODIGY_EXECUTION_MODE", "WORKFLOW_ID", "PRODIGY_SESSION_ID", "PRODIGY_RUN_ID", "PYTHONUNBUFFERED",
})

# Kubernetes resource quantity: a signed decimal number with an optional SI/binary suffix or exponent.
_QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?")


def _scalar_to_str(value: object) -> object:
    """YAML users write ``cpu: 2`` and ``DEBUG: true``; Kubernetes wants strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return value


def _quantity(value: object) -> object:
    value = _scalar_to_str(value)
    if isinstance(value, str) and not _QUANTITY.fullmatch(value):
        raise ValueError("must be a Kubernetes quantity such as 500m, 2, 1Gi or 512Mi")
    return value


Quantity = Annotated[str, BeforeValidator(_quantity)]
EnvValue = Annotated[str, BeforeValidator(_scalar_to_str)]
NonNegativeInt = Annotated[StrictInt, Field(ge=0)]
PositiveInt = Annotated[StrictInt, Field(gt=0)]


def _check(predicate: typing.Callable[[str], bool], what: str) -> typing.Callable[[str], str]:
    def validate(value: str) -> str:
        if not predicate(value):
            raise ValueError(f"{value!r} is not {what}")
        return value
    return validate


DnsLabel = Annotated[str, AfterValidator(
    _check(names.is_dns1123_label, "a valid name (lowercase letters, digits and '-', at most 63)"))]
DnsSubdomain = Annotated[str, AfterValidator(
    _check(names.is_dns1123_subdomain, "a valid Kubernetes object name (lowercase letters, digits, '-' and '.')"))]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ResourceAmounts(_Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None


class Resources(_Model):
    """Container resources; each of the four values defaults separately to spec 97's numbers."""

    requests: ResourceAmounts = ResourceAmounts(cpu="0.5", memory="1Gi")
    limits: ResourceAmounts = ResourceAmounts(cpu="2", memory="4Gi")

    @field_validator("requests", mode="before")
    @classmethod
    def _fill_requests(cls, value: object) -> object:
        return {"cpu": "0.5", "memory": "1Gi", **value} if isinstance(value, Mapping) else value

    @field_validator("limits", mode="before")
    @classmethod
    def _fill_limits(cls, value: object) -> object:
        return {"cpu": "2", "memory": "4Gi", **value} if isinstance(value, Mapping) else value


class Toleration(_Model):
    """A pod toleration, in the Kubernetes shape (``tolerationSeconds`` is camelCase there too)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    key: str | None = None
    operator: Literal["Exists", "Equal"] | None = None
    value: str | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: StrictInt | None = Field(default=None, alias="tolerationSeconds")

    @model_validator(mode="after")
    def _exists_has_no_value(self) -> Toleration:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists must not have a value")
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without a key must use operator: Exists")
        return self

    def to_k8s(self) -> dict[str, object]:
        return self.model_dump(by_alias=True, exclude_none=True)


class SecretKeyRef(_Model):
    """One env var taken from an existing Secret: ``ENV_NAME: {secret: name, key: key}``."""

    secret: DnsSubdomain
    key: str

    @field_validator("key")
    @classmethod
    def _valid_key(cls, value: str) -> str:
        if not names.is_secret_key(value):
            raise ValueError(f"{value!r} is not a valid Secret key (letters, digits, '-', '_', '.')")
        return value


class RepoConfig(_Model):
    """How the repository reaches the pod (issue 5, repository transport)."""

    mode: Literal["bundle", "remote"] = "bundle"
    max_bundle_mib: PositiveInt = 64
    remote_url: str | None = None
    credentials_secret: DnsSubdomain | None = None
    push_base_ref: bool = False


class ClusterConfig(_Model):
    kubeconfig_path: Path | None = None
    context: str | None = None
    namespace: DnsLabel | None = None
    image: str | None = None
    image_pull_policy: PullPolicy | None = None
    image_pull_secrets: list[DnsSubdomain] = []
    service_account: DnsSubdomain | None = None
    resources: Resources = Resources()
    node_selector: dict[str, EnvValue] = {}
    tolerations: list[Toleration] = []
    env: dict[str, EnvValue] = {}
    secrets: dict[str, SecretKeyRef] = {}
    ttl_seconds: NonNegativeInt = DEFAULT_TTL_SECONDS
    backoff_limit: NonNegativeInt = DEFAULT_BACKOFF_LIMIT
    active_deadline_seconds: PositiveInt | None = None
    image_pull_grace_seconds: NonNegativeInt = DEFAULT_IMAGE_PULL_GRACE_SECONDS
    unschedulable_grace_seconds: NonNegativeInt = DEFAULT_UNSCHEDULABLE_GRACE_SECONDS
    repo: RepoConfig = RepoConfig()

    @field_validator("kubeconfig_path")
    @classmethod
    def _expand_home(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        value = value.expanduser()
        # A relative path means "next to kubernetes.yaml", not "wherever prodigy happens to run".
        base = (info.context or {}).get("base_dir")
        return base / value if base is not None and not value.is_absolute() else value

    @field_validator("image")
    @classmethod
    def _valid_image(cls, value: str | None) -> str | None:
        if value is not None:
            _raise_value_error_for_image(value)
        return value

    @field_validator("node_selector")
    @classmethod
    def _valid_selector(cls, value: dict[str, str]) -> dict[str, str]:
        for key, label in value.items():
            if not names.is_label_key(key):
                raise ValueError(f"{key!r} is not a valid label key")
            if not names.is_label_value(label):
                raise ValueError(f"{label!r} (for {key}) is not a valid label value")
        return value

    @field_validator("env", "secrets")
    @classmethod
    def _valid_env_names(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name in value:
            if not names.is_env_var_name(name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
            if name in RESERVED_ENV:
                raise ValueError(f"{name} is set by prodigy and cannot be overridden")
        return value

    @model_validator(mode="after")
    def _env_and_secrets_disjoint(self) -> ClusterConfig:
        both = sorted(set(self.env) & set(self.secrets))
        if both:
            raise ValueError(f"{', '.join(both)} set in both env and secrets; keep one")
        return self


class KubernetesConfig(_Model):
    clusters: dict[str, ClusterConfig] = {}
    default_image: str | None = None
    default_namespace: DnsLabel | None = None

    @field_validator("default_image")
    @classmethod
    def _valid_default_image(cls, value: str | None) -> str | None:
        if value is not None:
            _raise_value_error_for_image(value)
        return value

    @field_validator("clusters", mode="before")
    @classmethod
    def _null_entry_means_defaults(cls, value: object) -> object:
        # `clusters: {kind-dev: }` (an entry with no keys) reads as null; it means "all defaults".
        if isinstance(value, Mapping):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value


def _raise_value_error_for_image(ref: str) -> None:
    problem = names.image_reference_problem(ref)
    if problem is not None:
        raise ValueError(f"invalid image reference {ref!r}: {problem}")


# --- loading -------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadedConfig:
    """The validated file plus where it came from (for messages)."""

    config: KubernetesConfig
    path: Path
    exists: bool


def load_kubernetes_config(path: Path | None = None) -> LoadedConfig:
    """Read ``$PRODIGY_HOME/kubernetes.yaml``. A missing file is an empty configuration."""
    path = path or paths.kubernetes_config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LoadedConfig(KubernetesConfig(), path, exists=False)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return LoadedConfig(parse_kubernetes_config(text, path), path, exists=True)


def parse_kubernetes_config(text: str, path: Path) -> KubernetesConfig:
    yaml = YAML(typ="rt", pure=True)
    try:
        document = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or "invalid YAML"
        raise ConfigError(f"{path}{line}: {problem}",
                          hint="fix the YAML syntax; see docs/kubernetes/configuration.md") from None
    if document is None:
        return KubernetesConfig()
    if not isinstance(document, Mapping):
        raise ConfigError(f"{path}:1: expected a mapping with keys clusters, default_image, default_namespace")
    try:
        return KubernetesConfig.model_validate(document, context={"base_dir": path.parent})
    except ValidationError as exc:
        raise _config_error(exc, document, path) from None


def _config_error(exc: ValidationError, document: Any, path: Path) -> ConfigError:
    found: list[tuple[int, str]] = []
    for error in exc.errors():
        loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part.startswith("function-")))
        line = _line_of(document, loc)
        key_path = ".".join(str(part) for part in loc) or "(top level)"
        found.append((line, f"{path}:{line}: {key_path}: {_explain(error, loc)}"))
    # In file order, as an editor would list them.
    first, *rest = [text for _, text in sorted(found, key=lambda item: item[0])]
    message = first if not rest else first + "".join(f"\n  {more}" for more in rest)
    return ConfigError(message, hint="see docs/kubernetes/configuration.md for every key and its default")


def _line_of(document: Any, loc: Sequence[str | int]) -> int:
    """1-based line of the deepest node of ``loc`` that exists in the YAML document."""
    line, node = 1, document
    for part in loc:
        if isinstance(node, CommentedMap) and part in node:
            line = node.lc.key(part)[0] + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            line = node.lc.item(part)[0] + 1
            node = node[part]
        else:
            break
    return line


def _explain(error: Mapping[str, Any], loc: Sequence[str | int]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        key = str(loc[-1]) if loc else ""
        close = difflib.get_close_matches(key, allowed, n=1)
        suggestion = f" (did you mean {close[0]}?)" if close else ""
        return f"unknown key{suggestion}; allowed: {', '.join(allowed)}"
    if kind in ("literal_error", "enum"):
        expected = str(error.get("ctx", {}).get("expected", "")).replace("'", "").replace(" or ", ", ")
        return f"must be one of {expected}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be a whole number"
    if kind in ("greater_than_equal", "greater_than"):
        bound = error["ctx"].get("ge", error["ctx"].get("gt"))
        return f"must be {'at least' if kind == 'greater_than_equal' else 'greater than'} {bound}"
    if kind in ("string_type",):
        return "must be a string"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be a mapping"
    if kind == "list_type":
        return "must be a list"
    if kind == "bool_type" or kind == "bool_parsing":
        return "must be true or false"
    if kind == "missing":
        return "is required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _allowed_keys(loc: Sequence[str | int]) -> list[str]:
    """The keys a mapping at ``loc`` accepts, found by walking the model annotations."""
    annotation: Any = KubernetesConfig
    for part in loc:
        annotation = _strip_optional(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        elif typing.get_origin(annotation) in (dict, list):
            annotation = typing.get_args(annotation)[-1]
        else:
            return []
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [field.alias or name for name, field in annotation.model_fields.items()]
    return []


def _strip_optional(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return options[0] if len(options) == 1 else annotation
    if typing.get_origin(annotation) is Annotated:
        return typing.get_args(annotation)[0]
    return annotation


# --- resolution ----------------------------------------------------------------------------

@dataclass(frozen=True)
class ClusterOverrides:
    """The cook/run flags that override a cluster entry (see ``prodigy.options.RunOptions``)."""

    namespace: str | None = None
    image: str | None = None
    image_pull_policy: str | None = None
    keep: bool = False


@dataclass(frozen=True)
class GraceWindows:
    """How long diagnosis tolerates a pending reason before failing the run."""

    image_pull_seconds: int = DEFAULT_IMAGE_PULL_GRACE_SECONDS
    unschedulable_seconds: int = DEFAULT_UNSCHEDULABLE_GRACE_SECONDS


def _empty_mapping() -> Mapping[str, Any]:
    return types.MappingProxyType({})


@dataclass(frozen=True)
class ResolvedCluster:
    """Everything a submission needs to know about its target, after precedence.

    ``context`` None means the kubeconfig's current-context; ``kubeconfig_path`` None means
    the client's usual lookup (``$KUBECONFIG``, then ``~/.kube/config``).
    """

    name: str
    source: Literal["config", "kubeconfig-context"]
    kubeconfig_path: Path | None
    context: str | None
    namespace: str
    image: str
    image_pull_policy: str
    image_pull_secrets: tuple[str, ...] = ()
    service_account: str | None = None
    resources: Resources = Resources()
    node_selector: Mapping[str, str] = field(default_factory=_empty_mapping)
    tolerations: tuple[Toleration, ...] = ()
    env: Mapping[str, str] = field(default_factory=_empty_mapping)
    secrets: Mapping[str, SecretKeyRef] = field(default_factory=_empty_mapping)
    ttl_seconds: int | None = DEFAULT_TTL_SECONDS      # None: keep the Job (--keep)
    backoff_limit: int = DEFAULT_BACKOFF_LIMIT
    active_deadline_seconds: int | None = None
    grace: GraceWindows = GraceWindows()
    repo: RepoConfig = RepoConfig()


def resolve_cluster(
    config: KubernetesConfig,
    name: str,
    flags: ClusterOverrides,
    kube_contexts: Sequence[str],
    *,
    config_path: Path | None = None,
) -> ResolvedCluster:
    """Apply precedence: flag, then the cluster entry, then the file's defaults, then built-ins.

    A name that is not in the file but is a context of the user's kubeconfig works with the
    defaults. Anything else is a ConfigError listing what is configured.
    """
    where = str(config_path or paths.kubernetes_config_file())
    entry = config.clusters.get(name)
    source: Literal["config", "kubeconfig-context"] = "config"
    context: str | None
    if entry is None:
        if name not in kube_contexts:
            raise ConfigError(f"unknown cluster {name!r}", hint=_known_clusters_hint(config, kube_contexts, where))
        entry, source, context = ClusterConfig(), "kubeconfig-context", name
    else:
        context = entry.context
    _validate_flags(flags)

    return ResolvedCluster(
        name=name,
        source=source,
        kubeconfig_path=entry.kubeconfig_path,
        context=context,
        namespace=flags.namespace or entry.namespace or config.default_namespace or BUILTIN_NAMESPACE,
        image=flags.image or entry.image or config.default_image or BUILTIN_IMAGE,
        image_pull_policy=flags.image_pull_policy or entry.image_pull_policy or DEFAULT_PULL_POLICY,
        image_pull_secrets=tuple(entry.image_pull_secrets),
        service_account=entry.service_account,
        resources=entry.resources,
        node_selector=types.MappingProxyType(dict(entry.node_selector)),
        tolerations=tuple(entry.tolerations),
        env=types.MappingProxyType(dict(entry.env)),
        secrets=types.MappingProxyType(dict(entry.secrets)),
        ttl_seconds=None if flags.keep else entry.ttl_seconds,
        backoff_limit=entry.backoff_limit,
        active_deadline_seconds=entry.active_deadline_seconds,
        grace=GraceWindows(entry.image_pull_grace_seconds, entry.unschedulable_grace_seconds),
        repo=entry.repo,
    )


def _validate_flags(flags: ClusterOverrides) -> None:
    if flags.image is not None:
        names.validate_image_reference(flags.image, source="--image")
    if flags.namespace is not None and not names.is_dns1123_label(flags.namespace):
        raise ConfigError(f"--namespace: {flags.namespace!r} is not a valid namespace name",
                          hint="namespaces are lowercase letters, digits and '-', at most 63 characters")
    if flags.image_pull_policy is not None and flags.image_pull_policy not in PULL_POLICIES:
        raise ConfigError(f"--image-pull-policy: must be one of {', '.join(PULL_POLICIES)}")


def _known_clusters_hint(config: KubernetesConfig, kube_contexts: Sequence[str], where: str) -> str:
    configured = ", ".join(sorted(config.clusters)) or "none"
    contexts = ", ".join(sorted(kube_contexts)) or "none found"
    return (f"clusters in {where}: {configured}; kubeconfig contexts: {contexts}. "
            "Add the cluster to that file or pass one of these names.")
