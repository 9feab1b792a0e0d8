"""The workflow core: models, loading, interpolation, `when:` expressions and the dry-run plan.

Pure code only (no subprocesses, no git, no terminal); enforced by an import-linter contract.
"""
