"""Remote mode's repository URL: what `repo.remote_url` may be, and how it is shown. Pure.

The URL is handed to git on the CLI side (`ls-remote`, `push`, `fetch`) and in the pod (the
clone and the push). So it is checked when kubernetes.yaml is read, before anything runs:

- a scheme git speaks natively: https, http, ssh (also `git+ssh`, `ssh+git`), git, file, or
  the scp-like `[user@]host:path`. Remote-helper forms (`ext::…`, `fd::…`, any `name::…`) run
  programs and are refused, as are bare local paths (write `file:///path`);
- nothing git could read as an option: no leading `-`, no host or path beginning with `-`;
- no spaces or control characters;
- no credentials: no password anywhere, and no user name in an http(s) URL (a token is often
  written there). Credentials belong in the Secret named by `repo.credentials_secret`.

Every URL shown to a human goes through `mask_url`.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import urlsplit, urlunsplit

ALLOWED_SCHEMES: Final = ("https", "http", "ssh", "git+ssh", "ssh+git", "git", "file")
_HELPER = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*::")
_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://")
# git's rule: a colon before the first slash makes `host:path` an scp-like ssh address.
_SCP_LIKE = re.compile(r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[^/:]+):(?P<path>.*)$")
_UNSAFE_CHARS = re.compile(r"[\x00-\x20\x7f]")


def mask_url(url: str) -> str:
    """The URL with any userinfo replaced by `***`, safe for messages and logs."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=f"***@{host}"))
    return url


def mask_text(text: str, url: str) -> str:
    """`text` (git's stderr) with the URL's credentials, if any, masked."""
    masked = text.replace(url, mask_url(url))
    parts = urlsplit(url)
    if parts.password:
        masked = masked.replace(parts.password, "***")
    return masked


def url_scheme(url: str) -> str:
    """The transport git will use for `url` (an scp-like address is ssh)."""
    match = _SCHEME.match(url)
    if match is None:
        return "ssh"
    scheme = match["scheme"].lower()
    return "ssh" if scheme in ("git+ssh", "ssh+git") else scheme


def remote_url_problem(url: str) -> str | None:
    """Why `url` may not be used as `repo.remote_url`, or None when it may."""
    shown = mask_url(url)
    if not url:
        return "is empty; set it to the git URL the cluster clones from"
    if url.startswith("-"):
        return f"{shown!r} begins with '-', which git would read as an option"
    if _HELPER.match(url):
        return (f"{shown!r} uses a git remote helper ({url.split('::', 1)[0]}::), which runs a program; "
                f"use one of {', '.join(ALLOWED_SCHEMES)} or user@host:path")
    if _UNSAFE_CHARS.search(url):
        return f"{shown!r} contains spaces or control characters"
    match = _SCHEME.match(url)
    if match is None:
        return _scp_like_problem(url, shown)
    scheme = match["scheme"].lower()
    if scheme not in ALLOWED_SCHEMES:
        return f"{shown!r} has scheme {scheme!r}; allowed: {', '.join(ALLOWED_SCHEMES)}"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError as exc:
        return f"{shown!r} is not a valid URL ({exc})"
    if parts.password is not None:
        return (f"{shown!r} contains a password or token; put the credentials in a Secret (keys username and "
                "password or token) and name it in repo.credentials_secret")
    if parts.username is not None and scheme in ("http", "https"):
        return (f"{shown!r} contains a user name (often a token); put it in the Secret named by "
                "repo.credentials_secret (key username) instead")
    host = parts.hostname or ""
    if scheme == "file":
        if host not in ("", "localhost"):
            return f"{shown!r}: a file URL names a path inside the pod: file:///path"
    elif not host:
        return f"{shown!r} names no host"
    if host.startswith("-"):
        return f"{shown!r} has a host beginning with '-'"
    path = parts.path.lstrip("/")
    if not path:
        return f"{shown!r} names no repository path"
    return None


def _scp_like_problem(url: str, shown: str) -> str | None:
    if "@" in url and ":" in url.split("@", 1)[0]:
        return (f"'***@{url.split('@', 1)[1]}' contains a password; put the credentials in a Secret and name it "
                "in repo.credentials_secret")
    match = _SCP_LIKE.match(url)
    if match is None:
        return (f"{shown!r} is not a URL; write a local path as file:///path, or use one of "
                f"{', '.join(ALLOWED_SCHEMES)} or user@host:path")
    if match["host"].startswith("-"):
        return f"{shown!r} has a host beginning with '-'"
    if not match["path"] or match["path"].startswith("-"):
        return f"{shown!r} names no repository path (or one beginning with '-')"
    return None
