"""The user's repository, shared by every way of running a workflow.

`git` (every git command prodigy runs), `worktrees` (session branches, worktrees and their
metadata), `locks` (one process per session) and `placement` (where a session runs). The local
and Kubernetes executors both build on this package and never on each other.
"""
