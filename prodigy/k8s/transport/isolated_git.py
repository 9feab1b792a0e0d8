"""Git in the two pod containers that hold the repository credentials, isolated from the workflow.

In remote mode the init container (`prodigy-repo`, the clone) and the results container
(`prodigy-results`, the push) mount the credentials Secret; the agent container, where workflow
steps and Claude run, does not. But the agent writes `/workspace/repo` as the same uid, and git
obeys a lot of what a repository says: hooks (`pre-push`), `credential.helper`, `url.*.insteadOf`,
`core.fsmonitor`, `core.sshCommand`, include files... So these containers never run git with a
repository or configuration the workspace can write:

- the clone happens before the agent container starts, into a fresh repository made without
  templates (no hooks);
- the push runs in a bare repository the results container creates in its own scratch
  directory; the workspace's commits are read as an alternate object store, which is object
  files only — git never opens the workspace repository's config, hooks or refs
  (`push_from_workspace` in remote.py; the object store is checked first: regular files and
  directories only, no alternates of its own);
- every command runs with no system or global configuration (`GIT_CONFIG_NOSYSTEM`,
  `GIT_CONFIG_GLOBAL=/dev/null`), `HOME` and `XDG_CONFIG_HOME` in a private scratch directory,
  every inherited `GIT_*` variable dropped, and `-c` overrides: no hooks, no credential helper,
  no fsmonitor, no commit-graph or multi-pack-index, no alternate-refs command, and only the
  remote URL's own protocol allowed;
- credentials reach git only through `GIT_ASKPASS` (a script in the scratch directory that
  prints the Secret's files) or `GIT_SSH_COMMAND` (`ssh -F /dev/null`: no ssh config and so no
  `ProxyCommand`; the key copied to the scratch directory with mode 0600), and only for the
  commands that talk to the remote (`credentials=True`).
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from prodigy.k8s.transport.urls import url_scheme
from prodigy.repo.git import GitResult, git

# Applied to every command, after (and so over) any configuration git might still find.
OVERRIDES: Final = (
    "core.hooksPath=/dev/null",
    "credential.helper=",
    "core.fsmonitor=false",
    "core.commitGraph=false",
    "core.multiPackIndex=false",
    "core.alternateRefsCommand=true",
    "protocol.allow=never",
)
# Inherited variables that would redirect git or hand it a program to run.
_DROPPED: Final = frozenset({"SSH_ASKPASS", "HOME", "XDG_CONFIG_HOME"})


def hermetic_env(environ: Mapping[str, str], home: Path) -> dict[str, str]:
    """`environ` without any GIT_* variable, with no system/global config and a private HOME."""
    env = {k: v for k, v in environ.items() if not k.startswith("GIT_") and k not in _DROPPED}
    env.update({
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ATTR_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_NO_REPLACE_OBJECTS": "1",
    })
    return env


@dataclass(frozen=True)
class IsolatedGit:
    """Runs git with `OVERRIDES` and the hermetic env; `credentials=True` adds the Secret's."""

    env: Mapping[str, str]
    credential_env: Mapping[str, str]
    overrides: tuple[str, ...] = field(default=OVERRIDES)

    def run(self, *args: str, cwd: Path, check: bool = True, credentials: bool = False) -> GitResult:
        config = [part for setting in self.overrides for part in ("-c", setting)]
        return git(*config, *args, cwd=cwd, check=check, env=self.credential_env if credentials else self.env)


@contextmanager
def isolated_git(url: str, credentials_dir: Path | None,
                 environ: Mapping[str, str] | None = None) -> Iterator[IsolatedGit]:
    """An `IsolatedGit` for talking to `url`, with a scratch HOME removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="prodigy-git-") as scratch:
        home = Path(scratch)
        os.chmod(home, stat.S_IRWXU)
        env = hermetic_env(os.environ if environ is None else environ, home)
        overrides = (*OVERRIDES, f"protocol.{url_scheme(url)}.allow=always")
        yield IsolatedGit(env, _with_credentials(env, credentials_dir, home), overrides)


def _with_credentials(env: dict[str, str], credentials_dir: Path | None, home: Path) -> dict[str, str]:
    """Env that answers git's prompts from the mounted Secret's files (never from env vars)."""
    out = dict(env)
    ssh = ["ssh", "-F", os.devnull, "-o", "BatchMode=yes"]
    if credentials_dir is not None and credentials_dir.is_dir():
        key = credentials_dir / "ssh-privatekey"
        if key.is_file():
            # ssh refuses a key readable by the group, which the kubelet's fsGroup handling grants.
            private_key = home / "ssh-privatekey"
            shutil.copyfile(key, private_key)
            private_key.chmod(stat.S_IRUSR | stat.S_IWUSR)
            ssh += ["-i", str(private_key), "-o", "IdentitiesOnly=yes"]
        known_hosts = credentials_dir / "known_hosts"
        if known_hosts.is_file():
            ssh += ["-o", f"UserKnownHostsFile={known_hosts}"]
        else:
            ssh += ["-o", f"UserKnownHostsFile={home / 'known_hosts'}", "-o", "StrictHostKeyChecking=accept-new"]
        askpass = home / "askpass"
        # The helper prints a file's content; the secret itself is never in argv or env.
        askpass.write_text(
            "#!/bin/sh\n"
            f"dir={shlex.quote(str(credentials_dir))}\n"
            'case "$1" in\n'
            '  Username*) if [ -f "$dir/username" ]; then cat "$dir/username"; else echo x-access-token; fi ;;\n'
            '  *) if [ -f "$dir/password" ]; then cat "$dir/password"; else cat "$dir/token"; fi ;;\n'
            "esac\n"
        )
        askpass.chmod(stat.S_IRWXU)
        out["GIT_ASKPASS"] = str(askpass)
    else:
        ssh += ["-o", f"UserKnownHostsFile={home / 'known_hosts'}", "-o", "StrictHostKeyChecking=accept-new"]
    out["GIT_SSH_COMMAND"] = " ".join(shlex.quote(part) for part in ssh)
    return out
