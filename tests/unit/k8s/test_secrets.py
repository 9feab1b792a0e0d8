from __future__ import annotations

from prodigy.k8s.secrets import credentials_from_env, redact


def test_only_set_credentials_are_forwarded() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-1234567", "CLAUDE_CODE_OAUTH_TOKEN": "", "HOME": "/home/u"}
    assert credentials_from_env(env) == {"ANTHROPIC_API_KEY": "sk-ant-1234567"}
    assert credentials_from_env({}) == {}


def test_a_credential_the_cluster_provides_stays_local() -> None:
    env = {"ANTHROPIC_API_KEY": "sk-ant-1234567", "CLAUDE_CODE_OAUTH_TOKEN": "oauth-7654321"}
    assert credentials_from_env(env, provided_by_cluster={"ANTHROPIC_API_KEY"}) == {
        "CLAUDE_CODE_OAUTH_TOKEN": "oauth-7654321"}


def test_redact_replaces_every_occurrence_longest_first() -> None:
    text = "key=sk-ant-1234567 again sk-ant-1234567; prefix sk-ant-12"
    assert redact(text, ["sk-ant-12", "sk-ant-1234567"]) == "key=<redacted> again <redacted>; prefix <redacted>"


def test_redact_leaves_short_values_alone() -> None:
    assert redact("status 1 ok", ["1", "ok"]) == "status 1 ok"
