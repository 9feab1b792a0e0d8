"""What ``kubernetes.yaml`` may say: the pydantic models, their value types and the defaults.

Every model forbids unknown keys, so a typo is an error (with a "did you mean") rather than a
silently ignored setting. Values are checked here with the same predicates the manifests rely
on (``prodigy.k8s.names``), so a bad name fails when the file is read, before any side
effect, instead of when the API server rejects the object. The defaults are documented in
docs/kubernetes/configuration.md; ``resolve`` applies them.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from prodigy.k8s import names
from prodigy.k8s.transport.urls import remote_url_problem
from prodigy.workflow.step_options import EnvValue, scalar_text

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
    "PRODIGY_WORKFLOW_SECRETS", "PRODIGY_AGENT_IMAGE",
})

# Kubernetes resource quantity: a signed decimal number with an optional SI/binary suffix or exponent.
_QUANTITY = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?")


def _quantity(value: object) -> object:
    # YAML users write ``cpu: 2``; Kubernetes wants the string "2".
    value = scalar_text(value)
    if isinstance(value, str) and not _QUANTITY.fullmatch(value):
        raise ValueError("must be a Kubernetes quantity such as 500m, 2, 1Gi or 512Mi")
    return value


Quantity = Annotated[str, BeforeValidator(_quantity)]
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


def _image_reference(ref: str) -> str:
    problem = names.image_reference_problem(ref)
    if problem is not None:
        raise ValueError(f"invalid image reference {ref!r}: {problem}")
    return ref


ImageRef = Annotated[str, AfterValidator(_image_reference)]


def _remote_url(url: str) -> str:
    problem = remote_url_problem(url)
    if problem is not None:
        raise ValueError(problem)
    return url


# Handed to git on this machine and in the pod: refused here if git could read it as an option,
# if it runs a program (ext::) or if it carries credentials (prodigy.k8s.transport.urls).
RemoteUrl = Annotated[str, AfterValidator(_remote_url)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False)


class ResourceAmounts(_Model):
    cpu: Quantity | None = None
    memory: Quantity | None = None


# Spec 97's numbers, in one place: they are both the field defaults and what a partial entry is filled with.
_DEFAULT_AMOUNTS: Final = {"requests": {"cpu": "0.5", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "4Gi"}}


class Resources(_Model):
    """Container resources; each of the four values defaults separately to spec 97's numbers."""

    requests: ResourceAmounts = ResourceAmounts(**_DEFAULT_AMOUNTS["requests"])
    limits: ResourceAmounts = ResourceAmounts(**_DEFAULT_AMOUNTS["limits"])

    @field_validator("requests", "limits", mode="before")
    @classmethod
    def _fill_unset_amounts(cls, value: object, info: ValidationInfo) -> object:
        # `limits: {memory: 8Gi}` keeps the default cpu limit instead of dropping it.
        return {**_DEFAULT_AMOUNTS[str(info.field_name)], **value} if isinstance(value, Mapping) else value


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
    remote_url: RemoteUrl | None = None
    credentials_secret: DnsSubdomain | None = None
    push_base_ref: bool = False


class ClusterConfig(_Model):
    kubeconfig_path: Path | None = None
    context: str | None = None
    namespace: DnsLabel | None = None
    image: ImageRef | None = None
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
    default_image: ImageRef | None = None
    default_namespace: DnsLabel | None = None

    @field_validator("clusters", mode="before")
    @classmethod
    def _null_entry_means_defaults(cls, value: object) -> object:
        # `clusters: {kind-dev: }` (an entry with no keys) reads as null; it means "all defaults".
        if isinstance(value, Mapping):
            return {k: ({} if v is None else v) for k, v in value.items()}
        return value
