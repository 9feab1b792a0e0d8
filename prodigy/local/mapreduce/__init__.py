"""MapReduce workflows, run locally: setup, parallel agents in their own worktrees, reduce.

Entry points (the session code dispatches here when a file says ``mode: mapreduce``):
`cook_mapreduce`, `resume_mapreduce`; `prodigy dlq retry` uses `retry_dead_letters`.
"""

from prodigy.local.mapreduce.run import cook_mapreduce, resume_mapreduce

__all__ = ["cook_mapreduce", "resume_mapreduce"]
