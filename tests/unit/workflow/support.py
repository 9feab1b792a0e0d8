"""Helpers shared by the workflow-core tests (imported, not a conftest, so the names are explicit)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from prodigy.errors import WorkflowFileError
from prodigy.workflow.loader import LoadedWorkflow, parse_workflow

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "workflows"


def load_text(text: str, name: str = "wf.yml") -> LoadedWorkflow:
    """Parse dedented workflow text as if it were read from ``name``."""
    return parse_workflow(textwrap.dedent(text).lstrip("\n"), Path(name))


def load_error(text: str, name: str = "wf.yml") -> str:
    """The WorkflowFileError message for invalid workflow text."""
    with pytest.raises(WorkflowFileError) as caught:
        load_text(text, name)
    return caught.value.message
