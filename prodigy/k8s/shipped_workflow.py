"""The workflow file a cluster run ships, without its `secrets:` values. Pure.

The workflow text travels in the run's ConfigMap, which anyone allowed to read ConfigMaps in
the namespace can read (and `--dry-run` prints it). So before it is shipped, each value under
`secrets:` is replaced by `<redacted>`, and the values travel in the run's Secret (owned by the
Job, like the forwarded Claude credentials) as one Secret-backed env var of the agent
container, `PRODIGY_WORKFLOW_SECRETS` (a JSON object). The agent puts them back into the
workflow it loads (`restore_secrets`) and drops that variable, so steps see exactly what a local
run gives them: each secret as its own environment variable, masked in output.

A secret value written anywhere else in the file (a literal copy in a command, a comment, a YAML
alias of it) would still ship in clear: that is refused, naming the line, before anything runs.
The rewritten text is parsed again and must give the same workflow, secrets aside.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap

from prodigy.errors import UsageError
from prodigy.workflow.loader import YAML_SUFFIXES, parse_workflow
from prodigy.workflow.mapreduce import MapReduceWorkflow
from prodigy.workflow.mapreduce_loader import parse_mapreduce
from prodigy.workflow.model import Workflow

SECRETS_ENV: Final = "PRODIGY_WORKFLOW_SECRETS"
PLACEHOLDER: Final = "<redacted>"
# Values shorter than this are not searched for: the run masks output from this length on too.
MIN_SECRET_LENGTH: Final = 4
_SHIPPED_NAME: Final = Path("workflow.yaml")   # what the agent reads: /config/workflow.yaml


@dataclass(frozen=True)
class ShippedWorkflow:
    text: str                                                   # for the ConfigMap
    secret_env: Mapping[str, str] = field(default_factory=dict)  # for the run's Secret: env name -> value


def ship_workflow(text: str, workflow: Workflow, *, source: str,
                  credentials: Mapping[str, str] | None = None) -> ShippedWorkflow:
    """`text` (the workflow file `source`, already validated as `workflow`) ready to ship.

    `credentials` are the values forwarded to the run's Secret from the local environment
    (`ANTHROPIC_API_KEY`...): a workflow file holding one of them literally is refused too.
    """
    return _ship(text, workflow.secrets, source, credentials or {},
                 lambda stripped: _check_same_workflow(stripped, workflow, source))


def ship_mapreduce(text: str, workflow: MapReduceWorkflow, *, source: str,
                   credentials: Mapping[str, str] | None = None) -> ShippedWorkflow:
    """The same for a ``mode: mapreduce`` file: every phase's pod reads it."""
    def same(stripped: str) -> None:
        again = parse_mapreduce(stripped, _SHIPPED_NAME).workflow
        expected = dataclasses.replace(workflow, secrets={name: PLACEHOLDER for name in workflow.secrets},
                                       source=None)
        if dataclasses.replace(again, source=None, name=workflow.name) != expected:
            raise UsageError(f"{source}: could not ship the workflow without its secret values",
                             hint="simplify the `secrets:` block (plain `NAME: value` pairs) and try again")

    return _ship(text, workflow.secrets, source, credentials or {}, same)


def _ship(text: str, secrets: Mapping[str, str], source: str, credentials: Mapping[str, str],
          check_same: Callable[[str], None]) -> ShippedWorkflow:
    _refuse_credentials(text, credentials, source)
    if not secrets:
        return ShippedWorkflow(text)
    is_yaml = Path(source).suffix.lower() in YAML_SUFFIXES
    stripped = _without_secret_values(text) if is_yaml else _json_without_secret_values(text)
    _refuse_copies(text, stripped, secrets, source)
    check_same(stripped)
    return ShippedWorkflow(stripped, {SECRETS_ENV: json.dumps(dict(secrets), sort_keys=True)})


def _secret_values(environ: Mapping[str, str]) -> dict[str, Any] | None:
    raw = environ.get(SECRETS_ENV)
    if not raw:
        return None
    values = json.loads(raw)
    if not isinstance(values, dict):
        raise UsageError(f"{SECRETS_ENV} is not a JSON object")
    return values


def restore_secrets(workflow: Workflow, environ: Mapping[str, str]) -> Workflow:
    """In the pod: the workflow with its secret values from the run's Secret (`SECRETS_ENV`)."""
    values = _secret_values(environ)
    if values is None:
        return workflow
    secrets = {name: str(values.get(name, value)) for name, value in workflow.secrets.items()}
    return workflow.model_copy(update={"secrets": secrets})


def restore_mapreduce_secrets(workflow: MapReduceWorkflow, environ: Mapping[str, str]) -> MapReduceWorkflow:
    values = _secret_values(environ)
    if values is None:
        return workflow
    return dataclasses.replace(workflow, secrets={name: str(values.get(name, value))
                                                  for name, value in workflow.secrets.items()})


def _yaml() -> YAML:
    yaml = YAML(typ="rt", pure=True)
    yaml.preserve_quotes = True
    yaml.width = 1 << 16             # never fold a long command onto a second line
    return yaml


def _without_secret_values(text: str) -> str:
    yaml = _yaml()
    document: Any = yaml.load(text)
    secrets = document.get("secrets") if isinstance(document, CommentedMap) else None
    if not isinstance(secrets, CommentedMap):       # the loader accepted secrets, so this is a mapping
        raise UsageError("cannot find the `secrets:` mapping in the workflow text")
    for name in secrets:
        secrets[name] = PLACEHOLDER
    out = io.StringIO()
    yaml.dump(document, out)
    return out.getvalue()


def _json_without_secret_values(text: str) -> str:
    document = json.loads(text)           # the loader parsed it already: a mapping with `secrets`
    document["secrets"] = {name: PLACEHOLDER for name in document["secrets"]}
    return json.dumps(document, indent=2) + "\n"


def _refuse_copies(original: str, stripped: str, secrets: Mapping[str, str], source: str) -> None:
    for name, value in secrets.items():
        if len(value) < MIN_SECRET_LENGTH or value not in stripped.replace(PLACEHOLDER, ""):
            continue
        lines = [number for number, line in enumerate(original.splitlines(), 1) if value in line]
        # The first line holding the value is normally the declaration under `secrets:`.
        where = f"{source}:{lines[1]}" if len(lines) > 1 else source
        raise UsageError(
            f"{where}: the value of secret {name} also appears outside `secrets:`; a cluster run ships the "
            "workflow file in a ConfigMap, so the value would travel in clear",
            hint=f"refer to it as ${name} (the secret is set in every step's environment), and do not copy it "
                 "elsewhere in the file (a YAML alias of it counts too)")


def _refuse_credentials(text: str, credentials: Mapping[str, str], source: str) -> None:
    for name, value in credentials.items():
        if len(value) < MIN_SECRET_LENGTH or value not in text:
            continue
        line = next(number for number, content in enumerate(text.splitlines(), 1) if value in content)
        raise UsageError(
            f"{source}:{line}: the value of {name}, which this run forwards from your environment to the "
            "run's Secret, is written in the workflow file; the file ships in a ConfigMap, so it would travel "
            "in clear",
            hint=f"remove it from the file: the pod gets {name} from the run's Secret")


def _check_same_workflow(stripped: str, workflow: Workflow, source: str) -> None:
    """The rewritten text must mean the same workflow, secrets aside (a guard on the rewrite)."""
    again = parse_workflow(stripped, _SHIPPED_NAME).workflow
    expected = workflow.model_copy(update={"secrets": {name: PLACEHOLDER for name in workflow.secrets},
                                           "source": None})
    if again.model_copy(update={"source": None, "name": workflow.name}) != expected:
        raise UsageError(f"{source}: could not ship the workflow without its secret values",
                         hint="simplify the `secrets:` block (plain `NAME: value` pairs) and try again")
