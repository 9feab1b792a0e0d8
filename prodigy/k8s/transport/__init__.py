"""Repository in, commits out: how a cluster run gets its code and gives back its commits.

Two directions, each a small pipeline of git plumbing (docs/transport.md has the design):

    in   (CLI)  spool.spool_commit     base commit + its tree -> pack -> checksummed chunk files
         (K8s)  podspec                chunks -> ConfigMaps owned by the Job, projected into the pod
         (pod)  checkout.materialize   chunks -> verified pack -> shallow repo at the SAME commit id
    out  (pod)  results.export_results commits base..HEAD as a git bundle + checkpoint -> result.tar
         (pod)  results.emit           result.tar -> framed base64 lines on the results container's stdout
         (CLI)  framing.decode_frames  pods/log lines -> verified result.tar
         (CLI)  results.import_results bundle -> local branch prodigy-session-<uuid>, checkpoint -> state dir

`remote` mode replaces the chunks with a clone of a configured URL and the bundle with a push
(remote.py; the URL's rules in urls.py). The two containers that hold its credentials run git
isolated from everything the workflow can write (isolated_git.py). Nothing here imports the
Kubernetes client: these are files, pipes and plain dicts.
"""
