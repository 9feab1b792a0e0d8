"""Reading ``kubernetes.yaml``: YAML text to a validated ``KubernetesConfig``, or an error a user can act on.

``parse_kubernetes_config(text, path)`` is pure and is what tests use; ``load_kubernetes_config``
only adds reading the file (a missing file is an empty configuration: clusters can still be
named by kubeconfig context). The YAML is loaded round-trip so every node keeps its line:
pydantic reports *which key* is wrong, and this module maps that key path back to *where* it
is, e.g. ``kubernetes.yaml:7: clusters.dev.image_pull_policy: must be one of Always,
IfNotPresent, Never``. Several errors are listed in file order, as an editor would.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from prodigy import paths, yaml_input
from prodigy.errors import ConfigError
from prodigy.k8s.config.schema import KubernetesConfig


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
        text = yaml_input.read_text_file(path, what="the cluster configuration", limits=CONFIG_LIMITS,
                                         error=ConfigError)
    except FileNotFoundError:
        return LoadedConfig(KubernetesConfig(), path, exists=False)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None
    return LoadedConfig(parse_kubernetes_config(text, path), path, exists=True)


# A kubernetes.yaml names a few clusters; anything near these limits is not one.
CONFIG_LIMITS = yaml_input.Limits(max_bytes=1024 * 1024, max_depth=32, max_nodes=50_000)


def parse_kubernetes_config(text: str, path: Path) -> KubernetesConfig:
    if "\x00" in text:
        raise ConfigError(f"the cluster configuration {path} contains a NUL byte",
                          hint="a YAML file is text: remove the NUL byte")
    yaml_input.check_yaml_structure(text, path, what="the cluster configuration", limits=CONFIG_LIMITS,
                                    error=ConfigError)
    yaml = YAML(typ="rt", pure=True)
    try:
        document = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = exc.problem or "invalid YAML"
        raise ConfigError(f"{path}{line}: {problem}",
                          hint="fix the YAML syntax; see docs/kubernetes/configuration.md") from None
    except YAMLError as exc:   # e.g. a control character the YAML reader refuses
        raise ConfigError(f"{path}: {' '.join(str(exc).split())}",
                          hint="fix the file; see docs/kubernetes/configuration.md") from None
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
