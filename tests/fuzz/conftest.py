"""The property/fuzz tier: hostile input to every parser prodigy has, through the real entry points.

Each test feeds generated text or bytes to one parser and asserts what the issue promises: the
input is accepted or refused with prodigy's own error (exit 2 through the CLI), never an exception
that would surface as exit 3. Work is bounded by construction (size limits on the generated
input, the loaders' own limits); the memory bound is asserted with tracemalloc where a parser
could amplify its input. No wall-clock assertions: pytest-timeout is only a backstop.

Every test here is marked ``fuzz`` and runs in ``scripts/test``. Examples per test come from the
``prodigy-fuzz`` profile (derandomized under CI, so a CI failure reproduces); more with
``PRODIGY_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest tests/fuzz``.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "prodigy-fuzz",
    max_examples=int(os.environ.get("PRODIGY_FUZZ_EXAMPLES", "150")),
    deadline=None,                       # no wall-clock assertions; the machine may be busy
    derandomize=os.environ.get("CI", "").lower() == "true",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large],
)
FUZZ = settings.get_profile("prodigy-fuzz")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/fuzz/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.fuzz)
            item.add_marker(pytest.mark.timeout(900))
