"""The application layer: the use cases a user runs, over whichever executor fits.

    run.py       prodigy cook|run|exec: read the workflow once, choose where it runs, run, finish
    resume.py    prodigy resume: continue a kept session where it ran (this machine or its cluster)
    collect.py   prodigy cluster collect: land a finished cluster run and finish it
    detach.py    prodigy cook --cluster --detach: submit, say how to find the run, exit
    attach.py    prodigy cluster attach: follow a detached run to its end, then finish it
    cancel.py    prodigy cluster cancel: Ctrl+C for a detached run
    logs.py      prodigy cluster logs: a run's output, from the pod or the copy kept here
    runs.py      prodigy cluster runs: the run index joined with the sessions and the clusters
    existing.py  a run submitted earlier: find it, claim it (one finishing client), its workflow
    finish.py    the end of every session: summary, then merge or keep + "Resume with:"
    prepare.py   the checks every run starts with (repository, inputs, Claude)
    executors.py which executor runs a request or a session

The executors (`prodigy.local`, `prodigy.k8s`) implement `prodigy.execution.Executor`; they
never import this package or each other.
"""
