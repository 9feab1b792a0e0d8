"""Names Kubernetes will accept: object names, label values, image references, run ids.

Everything here is pure. Kubernetes rejects a bad name only when the object is POSTed, by
which time a run has half-started; checking here lets us fail before any side effect, with
an error that names the flag or config key the bad value came from.

Rules implemented (from the Kubernetes API conventions):
- DNS-1123 label (Job, namespace, ConfigMap and Secret names we generate): at most 63
  characters of ``[a-z0-9-]``, starting and ending with an alphanumeric.
- DNS-1123 subdomain (names of objects users refer to: Secrets, service accounts): at most
  253 characters, dot-separated DNS-1123 labels.
- Label value: empty, or at most 63 characters of ``[A-Za-z0-9._-]`` starting and ending
  with an alphanumeric.
- Image reference: the grammar of the container image reference (``distribution/reference``).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from typing import Final

from prodigy.errors import ConfigError

MAX_NAME = 63
_HASH_LEN = 8

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_VALUE = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?")
_LABEL_KEY_NAME = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?")
_ENV_NAME = re.compile(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
_SECRET_KEY = re.compile(r"[-._a-zA-Z0-9]+")

RUN_ID_LENGTH: Final = 10
# Lowercase letters and digits only, so a run id is itself a valid DNS label and label value.
_RUN_ID_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_RUN_ID = re.compile(rf"[a-z0-9]{{{RUN_ID_LENGTH}}}")


# --- predicates ----------------------------------------------------------------------------

def is_dns1123_label(value: str) -> bool:
    return len(value) <= MAX_NAME and _DNS_LABEL.fullmatch(value) is not None


def is_dns1123_subdomain(value: str) -> bool:
    return 0 < len(value) <= 253 and all(_DNS_LABEL.fullmatch(part) for part in value.split("."))


def is_label_value(value: str) -> bool:
    return len(value) <= MAX_NAME and _LABEL_VALUE.fullmatch(value) is not None


def is_label_key(value: str) -> bool:
    """``[prefix/]name``: prefix a DNS subdomain, name ≤ 63 of ``[A-Za-z0-9._-]``."""
    prefix, _, name = value.rpartition("/")
    if prefix and not is_dns1123_subdomain(prefix):
        return False
    return len(name) <= MAX_NAME and _LABEL_KEY_NAME.fullmatch(name) is not None


def is_env_var_name(value: str) -> bool:
    return _ENV_NAME.fullmatch(value) is not None


def is_secret_key(value: str) -> bool:
    return len(value) <= 253 and _SECRET_KEY.fullmatch(value) is not None


# --- sanitisers ----------------------------------------------------------------------------

def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:_HASH_LEN]


def _shorten(value: str, original: str, limit: int, allowed_end: re.Pattern[str]) -> str:
    """Cut ``value`` to ``limit`` keeping it unique: two long inputs that share a prefix must
    not collapse onto the same label, so the cut is replaced by a hash of the original."""
    if len(value) <= limit:
        return value
    if limit < _HASH_LEN + 2:  # no room for a hash: plain truncation is the best we can do
        head = value[:limit]
        while head and not allowed_end.fullmatch(head[-1]):
            head = head[:-1]
        return head
    head = value[: limit - _HASH_LEN - 1]
    while head and not allowed_end.fullmatch(head[-1]):
        head = head[:-1]
    return f"{head}-{_digest(original)}" if head else _digest(original)


_ALNUM = re.compile(r"[A-Za-z0-9]")
_LOWER_ALNUM = re.compile(r"[a-z0-9]")


def dns_label(text: str, *, max_length: int = MAX_NAME, fallback: str = "x") -> str:
    """Turn any text into a DNS-1123 label of at most ``max_length`` characters.

    ``My_Workflow.yml`` becomes ``my-workflow-yml``. Text with no usable character gives
    ``fallback`` (which must itself be a valid label).
    """
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    slug = _shorten(slug, text, max_length, _LOWER_ALNUM)
    return slug or fallback


def label_value(text: str, *, fallback: str = "") -> str:
    """Turn any text into a valid label value (≤ 63, alphanumeric at both ends, ``[-_.]`` inside)."""
    value = re.sub(r"[^A-Za-z0-9_.-]+", "-", text)
    value = re.sub(r"^[^A-Za-z0-9]+|[^A-Za-z0-9]+$", "", value)
    value = _shorten(value, text, MAX_NAME, _ALNUM)
    return value or fallback


# --- run ids and the names derived from them ----------------------------------------------

def new_run_id(token: str | None = None) -> str:
    """A fresh run id: 10 characters of ``[a-z0-9]`` (≈ 51 bits, so 10 concurrent
    submissions never collide in practice). ``token`` lets tests pin the value."""
    if token is not None:
        if not _RUN_ID.fullmatch(token):
            raise ValueError(f"run id must be {RUN_ID_LENGTH} characters of [a-z0-9], got {token!r}")
        return token
    return "".join(secrets.choice(_RUN_ID_ALPHABET) for _ in range(RUN_ID_LENGTH))


def is_run_id(value: str) -> bool:
    return _RUN_ID.fullmatch(value) is not None


JOB_PREFIX: Final = "prodigy"


# An Indexed Job's pods get the hostname `<job name>-<index>`, itself a DNS label (≤ 63): a
# MapReduce map Job keeps room for an index of up to six digits.
INDEX_ROOM: Final = 7


def job_name(workflow_name: str, run_id: str, *, phase: str = "") -> str:
    """``prodigy-<workflow-slug>-<run id>``, ≤ 63 characters; a MapReduce phase's Job is
    ``prodigy-<workflow-slug>-<phase>-<run id>`` (the map Job ≤ 56, see `INDEX_ROOM`).

    The run id comes last and is never cut, so the name stays unique; the workflow slug is
    what gets shortened. The pods the Job creates append ``-<5 chars>`` to this name and
    still fit, because pod names may be 253 characters long.
    """
    middle = f"-{phase}" if phase else ""
    room = INDEX_ROOM if phase == "map" else 0
    budget = MAX_NAME - len(JOB_PREFIX) - len(run_id) - len(middle) - 2 - room
    slug = dns_label(workflow_name, max_length=budget, fallback="workflow")
    return f"{JOB_PREFIX}-{slug}{middle}-{run_id}"


def workflow_configmap_name(run_id: str) -> str:
    return f"{JOB_PREFIX}-workflow-{run_id}"


def credentials_secret_name(run_id: str) -> str:
    return f"{JOB_PREFIX}-secrets-{run_id}"


# --- image references -----------------------------------------------------------------------

# The reference grammar, spelled out piece by piece so each rejection can say which part is wrong.
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_REMOTE_NAME = re.compile(rf"{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*")
_DOMAIN_RE = re.compile(_DOMAIN)
_MAX_IMAGE_NAME = 255


def image_reference_problem(ref: str) -> str | None:
    """Why ``ref`` is not a valid image reference, or None when it is."""
    if not ref:
        return "it is empty"
    if ref != ref.strip() or any(c.isspace() for c in ref):
        return "it contains whitespace"
    rest, _, digest = ref.partition("@")
    if "@" in ref and not _DIGEST.fullmatch(digest):
        return f"digest {digest!r} is not <algorithm>:<hex>, e.g. sha256:<64 hex digits>"
    # A ':' after the last '/' starts the tag; one before it belongs to a registry port.
    last_slash = rest.rfind("/")
    colon = rest.rfind(":")
    name, tag = (rest[:colon], rest[colon + 1:]) if colon > last_slash else (rest, None)
    if tag is not None and not _TAG.fullmatch(tag):
        return f"tag {tag!r} must be 1-128 characters of [A-Za-z0-9_.-] and not start with '.' or '-'"
    if not name:
        return "the repository name is missing"
    if len(name) > _MAX_IMAGE_NAME:
        return f"the repository name is longer than {_MAX_IMAGE_NAME} characters"
    domain, _, remote = name.partition("/")
    # The first component is a registry only if it looks like a host (has '.' or ':' or is localhost).
    if not remote or not ("." in domain or ":" in domain or domain == "localhost" or domain != domain.lower()):
        domain, remote = "", name
    if domain and not _DOMAIN_RE.fullmatch(domain):
        return f"registry {domain!r} is not a valid host[:port]"
    if remote != remote.lower() and _REMOTE_NAME.fullmatch(remote.lower()):
        return f"repository {remote!r} must be lowercase"
    if not _REMOTE_NAME.fullmatch(remote):
        return (f"repository {remote!r} must be '/'-separated components of [a-z0-9], "
                "joined inside by '.', '_', '__' or '-'")
    return None


def validate_image_reference(ref: str, *, source: str) -> str:
    """Return ``ref`` if it is a valid image reference, else raise ConfigError naming ``source``
    (the flag or ``file:line: key`` the value came from)."""
    problem = image_reference_problem(ref)
    if problem is not None:
        raise ConfigError(
            f"{source}: invalid image reference {ref!r}: {problem}",
            hint="use a reference such as prodigy-agent:dev or registry.example.com:5000/team/prodigy-agent:1.2",
        )
    return ref
