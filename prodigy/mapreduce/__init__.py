"""What a MapReduce session is, whichever executor runs its agents: shared by `prodigy.local`
(agents in worktrees on this machine) and `prodigy.k8s` (agents as pods of one Indexed Job).

    journal.py     job.json (phase), items.json, journal.jsonl: what `prodigy resume` continues from
    dlq.py         the dead-letter queue of failed items, for `prodigy dlq`
    layout.py      where a session keeps those files, its agent logs and its queue
    limits.py      the counts a file may give as variables (max_parallel, timeouts), resolved
    ledger.py      an item's end, recorded the same way everywhere: journal, queue, events, view
    merging.py     merging an agent's branch into the session worktree, one at a time
    summary.py     the map phase's closing line, `${map.*}` for reduce, the selection as announced

The executors decide where an agent runs and how its commits arrive on its branch; from there
on (merge, journal, queue, reduce variables) both go through these modules, so a session ends
the same way wherever it ran.
"""
