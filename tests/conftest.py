"""Suite-wide guards: no test may touch the developer's real home, prodigy state or kubeconfig."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Give every test its own HOME, PRODIGY_HOME and git identity.

    KUBECONFIG points at a path that does not exist, so a test that forgets to choose
    a cluster fails loudly instead of reaching whatever cluster the developer uses.
    """
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PRODIGY_HOME", str(home / ".prodigy"))
    monkeypatch.setenv("KUBECONFIG", str(home / "no-kubeconfig-chosen-by-this-test"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Test Author")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "author@example.com")
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Test Committer")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "committer@example.com")
    for var in ("PRODIGY_TEST_MODE", "PRODIGY_CLAUDE_STREAMING", "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test User\n\temail = user@example.com\n[init]\n\tdefaultBranch = main\n"
    )
    assert os.environ["HOME"] == str(home)
    yield home
