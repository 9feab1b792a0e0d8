"""MapReduce workflows, run locally: setup, parallel agents in their own worktrees, reduce.

The application layer (`prodigy.app.mapreduce`) drives `MapReduceExecutor` when a workflow file
says ``mode: mapreduce``, and `DeadLetterRetry` for `prodigy dlq retry`.
"""

from prodigy.local.mapreduce.executor import MapReduceExecutor, MapReduceRequest

__all__ = ["MapReduceExecutor", "MapReduceRequest"]
