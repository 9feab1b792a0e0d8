"""Why a cluster run is stuck or failed: a pure function of the Job, its pods and events.

Inputs are wire-shaped dicts (camelCase, as ``ApiClient.sanitize_for_serialization`` or a
raw JSON response gives them), so the same code reads live API objects, test fixtures and
``kubectl get -o json`` output. Nothing here calls the API, sleeps or reads the clock:
``now`` and the grace windows come in as arguments.

``diagnose`` answers "is this run over, and why?"; the watcher calls it on every change and
stops when a diagnosis is ``terminal``. A non-terminal diagnosis (an image pull still inside
its grace window, a pod waiting for the autoscaler) is what the live status line shows.

Grace windows, after Flyte and SkyPilot:
- InvalidImageName, CreateContainerConfigError (a missing Secret or key): fail at once
  (the latter after a few seconds, in case the Secret is being created right now).
- ErrImagePull / ImagePullBackOff: fail after ``image_pull_seconds`` (default 120) from the
  first pull failure. A registry rate limit (HTTP 429, ``toomanyrequests``) is transient:
  it gets three times as long.
- Unschedulable, or pods the Job cannot create (quota): fail after ``unschedulable_seconds``
  (default 300) without progress; a ``TriggeredScaleUp`` event restarts that clock, because
  the cluster autoscaler is adding a node.
- Terminated containers: the exit code is explained (137 out of memory, 139 segfault, 143
  terminated), the failed step is read from the agent's termination message, and the
  failed container's last 20 log lines are attached.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Final

from prodigy.k8s.config.resolve import GraceWindows
from prodigy.k8s.refusals import RefusedBy, read_refusal

Obj = Mapping[str, Any]

LOG_TAIL_LINES: Final = 20
MAX_EVENTS: Final = 8
CONFIG_ERROR_GRACE_SECONDS: Final = 10
RATE_LIMIT_GRACE_FACTOR: Final = 3
AGENT_CONTAINER: Final = "prodigy-agent"


class Category(StrEnum):
    """Stable names: they are written to the run index and documented in troubleshooting."""

    IMAGE_PULL = "ImagePull"
    IMAGE_PULL_RATE_LIMITED = "ImagePullRateLimited"
    INVALID_IMAGE = "InvalidImageName"
    CONTAINER_CONFIG = "ContainerConfig"
    CREATE_CONTAINER = "CreateContainer"
    RUN_CONTAINER = "RunContainer"
    FAILED_MOUNT = "FailedMount"
    UNSCHEDULABLE = "Unschedulable"
    UNSCHEDULABLE_RESOURCES = "Unschedulable.InsufficientResources"
    UNSCHEDULABLE_NODE_SELECTOR = "Unschedulable.NodeSelector"
    UNSCHEDULABLE_TAINT = "Unschedulable.Taint"
    POD_CREATION = "PodCreationFailed"
    POD_CREATION_QUOTA = "PodCreationFailed.Quota"
    POD_CREATION_LIMIT_RANGE = "PodCreationFailed.LimitRange"
    POD_CREATION_ADMISSION = "PodCreationFailed.Admission"
    NODE_LOST = "NodeLost"
    JOB_DELETED = "JobDeleted"
    OOM_KILLED = "OOMKilled"
    SEGFAULT = "Segfault"
    TERMINATED = "Terminated"
    NON_ZERO_EXIT = "NonZeroExit"
    EVICTED = "Evicted"
    DEADLINE_EXCEEDED = "DeadlineExceeded"
    BACKOFF_LIMIT_EXCEEDED = "BackoffLimitExceeded"
    POD_FAILURE_POLICY = "PodFailurePolicy"
    JOB_FAILED = "JobFailed"


@dataclass(frozen=True)
class Diagnosis:
    category: Category
    summary: str                       # one line, what happened
    terminal: bool                     # the run has failed; stop watching and report
    detail: str = ""                   # the Kubernetes message behind the summary
    hint: str = ""                     # what to change
    pod: str | None = None
    container: str | None = None
    exit_code: int | None = None       # the container's (the agent exits 1 for any failed step)
    failed_step: str | None = None
    step_exit_code: int | None = None  # the failed step's own exit code, when the agent reported it
    events: tuple[str, ...] = ()       # deduplicated Warning events, oldest first
    log_tail: tuple[str, ...] = ()     # last lines of the failed container
    inspect: tuple[str, ...] = ()      # kubectl commands to look further (no --context; render adds it)
    deadline: datetime | None = None   # for a pending reason: when it becomes terminal


# --- small readers over wire dicts ----------------------------------------------------------


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _meta(obj: Obj) -> Obj:
    meta: Obj = obj.get("metadata") or {}
    return meta


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name", ""))


def _status(obj: Obj) -> Obj:
    status: Obj = obj.get("status") or {}
    return status


def _condition(obj: Obj, kind: str) -> Obj | None:
    for cond in _status(obj).get("conditions") or ():
        if cond.get("type") == kind and cond.get("status") == "True":
            return dict(cond)
    return None


def _all_container_statuses(pod: Obj) -> list[Obj]:
    status = _status(pod)
    return [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]


def _newest_first(pods: Iterable[Obj]) -> list[Obj]:
    return sorted(pods, key=lambda p: str(_meta(p).get("creationTimestamp") or ""), reverse=True)


_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


# --- events -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Event:
    type: str
    reason: str
    message: str
    object_name: str
    first: datetime | None
    last: datetime | None
    count: int


def _event(raw: Obj) -> _Event:
    # core/v1 Event and events.k8s.io/v1 Event name the same things differently.
    involved = raw.get("involvedObject") or raw.get("regarding") or {}
    series = raw.get("series") or {}
    first = parse_time(raw.get("firstTimestamp")) or parse_time(raw.get("eventTime"))
    last = (parse_time(series.get("lastObservedTime")) or parse_time(raw.get("lastTimestamp"))
            or parse_time(raw.get("deprecatedLastTimestamp")) or first)
    count = int(series.get("count") or raw.get("count") or raw.get("deprecatedCount") or 1)
    return _Event(str(raw.get("type") or ""), str(raw.get("reason") or ""),
                  " ".join(str(raw.get("message") or raw.get("note") or "").split()),
                  str(involved.get("name") or ""), first, last, count)


def _events_for(events: Iterable[Obj], names: set[str]) -> list[_Event]:
    parsed = [_event(e) for e in events]
    return sorted((e for e in parsed if e.object_name in names),
                  key=lambda e: e.last or e.first or _EPOCH)


def warning_lines(events: Iterable[_Event]) -> tuple[str, ...]:
    """Warning events, one line per distinct (object, reason, message), repeats counted."""
    merged: dict[tuple[str, str, str], int] = {}
    for e in events:
        if e.type == "Warning":
            key = (e.object_name, e.reason, e.message)
            merged[key] = merged.get(key, 0) + e.count
    lines = [f"{reason} on {name}{f' (x{n})' if n > 1 else ''}: {message}"
             for (name, reason, message), n in merged.items()]
    return tuple(lines[-MAX_EVENTS:])


# --- the entry points -------------------------------------------------------------------------


def diagnose(job: Obj, pods: Sequence[Obj], events: Sequence[Obj], log_tails: Mapping[str, Sequence[str]],
             now: datetime, grace: GraceWindows = GraceWindows(), *,
             limit_ranges: Sequence[Obj] = ()) -> Diagnosis | None:
    """The reason this run failed or is stuck, or None while it progresses normally.

    ``log_tails`` maps ``"pod/container"`` (or just ``"container"``) to its last log lines.
    ``limit_ranges``: the namespace's LimitRanges, when readable, to name the one refusing a pod.
    """
    if _condition(job, "Complete") or _condition(job, "SuccessCriteriaMet"):
        return None
    names = {_name(job), *(_name(p) for p in pods)}
    related = _events_for(events, names)
    warnings = warning_lines(related)
    failed = _condition(job, "Failed") or _condition(job, "FailureTarget")
    found = _failure(job, failed, _newest_first(pods), log_tails)
    if found is None and failed is None:
        found = classify_pending(job, pods, events, now, grace, limit_ranges=limit_ranges)
    elif found is not None and failed is None and found.category is not Category.EVICTED:
        # podFailurePolicy fails the Job as soon as the agent exits non-zero; say so now.
        found = _with(found, terminal=_fails_job_at_once(job, found))
    if found is None:
        return None
    inspect = (*_inspect_commands(job, found), *found.inspect)
    return _with(found, events=_news(warnings, found), inspect=inspect)


def _news(lines: Sequence[str], d: Diagnosis) -> tuple[str, ...]:
    """Warning events that tell more than the summary and detail already do. The kubelet
    repeats the waiting message as an event (``Error: couldn't find key ...``) and echoes each
    waiting reason (``Error: ImagePullBackOff``); the Job controller's PodFailurePolicy event
    restates a container's exit code. Printing those again is noise."""
    said = f"{d.summary}\n{d.detail}"
    kept = []
    for line in lines:
        if line.startswith("PodFailurePolicy ") and d.exit_code is not None:
            continue    # "...failed with exit code 137 matching FailJob rule": the summary has the code

        message = line.split(": ", 1)[1] if ": " in line else line
        tail = message.split(": ", 1)[1] if ": " in message else message
        if message not in said and tail not in said:
            kept.append(line)
    return tuple(kept)


def _with(d: Diagnosis, **changes: Any) -> Diagnosis:
    return replace(d, **changes)


def _failure(job: Obj, failed: Obj | None, pods: list[Obj], log_tails: Mapping[str, Sequence[str]]) -> Diagnosis | None:
    reason = str((failed or {}).get("reason") or "")
    message = str((failed or {}).get("message") or "")
    if reason == "DeadlineExceeded":
        # The kubelet killed the pod because of the deadline; its exit code says nothing more.
        limit = (job.get("spec") or {}).get("activeDeadlineSeconds")
        pod = pods[0] if pods else None
        return Diagnosis(
            Category.DEADLINE_EXCEEDED, f"the run exceeded its deadline of {limit}s and was stopped",
            terminal=True, detail=message, pod=_name(pod) if pod else None,
            log_tail=_tail(log_tails, pod, AGENT_CONTAINER) if pod else (),
            hint="raise active_deadline_seconds for this cluster in kubernetes.yaml, or split the workflow")
    if failed is None:
        # The Job has not given up yet: a failed pod may still be replaced (backoff_limit, evictions),
        # so only the newest pod's failure is shown, and not as final. The Failed condition follows.
        found = _pod_failure(pods[0], log_tails) if pods else None
        return _with(found, terminal=False) if found else None
    for pod in pods:
        found = _pod_failure(pod, log_tails)
        if found is not None:
            return found
    category = {"BackoffLimitExceeded": Category.BACKOFF_LIMIT_EXCEEDED,
                "PodFailurePolicy": Category.POD_FAILURE_POLICY}.get(reason, Category.JOB_FAILED)
    hint = ("a pod of this Job failed; see the events above and the pod's logs"
            if category is not Category.JOB_FAILED else "see the Job's events")
    return Diagnosis(category, f"the Job failed: {reason or 'Failed'}", terminal=True, detail=message, hint=hint)


def _pod_failure(pod: Obj, log_tails: Mapping[str, Sequence[str]]) -> Diagnosis | None:
    status = _status(pod)
    name = _name(pod)
    if status.get("reason") == "Evicted" or (status.get("phase") == "Failed" and _condition(pod, "DisruptionTarget")):
        disruption = _condition(pod, "DisruptionTarget") or {}
        return Diagnosis(
            Category.EVICTED, f"pod {name} was evicted from its node", terminal=True, pod=name,
            detail=str(status.get("message") or disruption.get("message") or ""),
            hint="the node ran short of resources or was drained; set resources.requests closer to the real "
                 "usage in kubernetes.yaml so the scheduler picks a node with room, then run again")
    for cs in _all_container_statuses(pod):
        terminated = (cs.get("state") or {}).get("terminated")
        if not terminated or int(terminated.get("exitCode", 0)) == 0:
            continue
        return _exit_diagnosis(pod, cs, terminated, log_tails)
    return None


def oom_killed(pods: Sequence[Obj]) -> bool:
    """True if any container of ``pods`` ended OOMKilled, whatever its exit code."""
    return any(((cs.get("state") or {}).get("terminated") or {}).get("reason") == "OOMKilled"
               for pod in pods for cs in _all_container_statuses(pod))


def _exit_diagnosis(pod: Obj, cs: Obj, terminated: Obj, log_tails: Mapping[str, Sequence[str]]) -> Diagnosis:
    name, container = _name(pod), str(cs.get("name"))
    code = int(terminated.get("exitCode", 0))
    reason = str(terminated.get("reason") or "")
    summary_json = _termination_json(terminated.get("message"))
    step_name = failed_step_name(summary_json)
    step_code = step_exit_code(summary_json)
    common: dict[str, Any] = {"terminal": True, "pod": name, "container": container, "exit_code": code,
                              "failed_step": step_name, "step_exit_code": step_code,
                              "log_tail": _tail(log_tails, pod, container)}
    where = f"container {container} of pod {name}"
    if reason == "OOMKilled" or code == 137:
        sure = reason == "OOMKilled"
        limit = _memory_limit(pod, container)
        # A real runtime reports OOMKilled with the main process's own exit code when the kernel
        # killed another process of the container (a step's child): then say so.
        how = f"exit 137{', OOMKilled' if sure else ', killed'}" if code == 137 else \
            f"OOMKilled: a process in it was killed, the container exited {code}"
        return Diagnosis(
            Category.OOM_KILLED,
            f"{where} ran out of memory ({how})" + (f" at its {limit} limit" if limit else ""),
            detail="" if sure else "exit 137 means SIGKILL; without an OOMKilled reason it may also be a node kill",
            hint="raise resources.limits.memory for this cluster in kubernetes.yaml", **common)
    if code == 139:
        return Diagnosis(Category.SEGFAULT, f"{where} crashed with a segmentation fault (exit 139)",
                         hint="a program in the image crashed; check the image's architecture and native libraries",
                         **common)
    if code == 143:
        return Diagnosis(Category.TERMINATED, f"{where} was terminated (SIGTERM, exit 143)",
                         detail=str(terminated.get("message") or "")[:300] if not summary_json else "",
                         hint="the pod was stopped from outside: a cancellation, a node drain or a deadline", **common)
    error = str(summary_json.get("error") or "")
    if step_name:
        # The same words as a local run's error; the container's own code (1) says nothing more.
        summary = f"step '{step_name}' failed" + (f" with exit code {step_code}" if step_code is not None else "")
    else:
        summary = f"{where} exited with code {code}" + (f" ({reason})" if reason and reason != "Error" else "")
    return Diagnosis(Category.NON_ZERO_EXIT, summary, detail=error,
                     hint="see the log lines above; run the workflow locally without --cluster to debug it",
                     **common)


_STEP_EXIT = re.compile(r"failed with exit code (-?\d+)")


def failed_step_name(summary_json: Mapping[str, Any]) -> str | None:
    step = summary_json.get("failed_step")
    return str(step.get("name") if isinstance(step, Mapping) else step) if step else None


def step_exit_code(summary_json: Mapping[str, Any]) -> int | None:
    """The failed step's exit code from the agent's termination message: an explicit
    ``step_exit_code`` when present, else the code named in the error text, whose wording
    (``Step 'x' failed with exit code 3``) is the local executor's."""
    explicit = summary_json.get("step_exit_code")
    if isinstance(explicit, int) and not isinstance(explicit, bool):
        return explicit
    found = _STEP_EXIT.search(str(summary_json.get("error") or ""))
    return int(found.group(1)) if found else None


def _fails_job_at_once(job: Obj, found: Diagnosis) -> bool:
    """True when the Job's pod failure policy turns this exit into a Failed Job (manifests/job.py sets
    FailJob for any non-zero exit of the agent container)."""
    rules = ((job.get("spec") or {}).get("podFailurePolicy") or {}).get("rules") or ()
    for rule in rules:
        on_exit = rule.get("onExitCodes") or {}
        if rule.get("action") != "FailJob" or on_exit.get("containerName") not in (None, found.container):
            continue
        values = set(on_exit.get("values") or ())
        matched = found.exit_code in values if on_exit.get("operator") == "In" else found.exit_code not in values
        if matched:
            return True
    return False


def _termination_json(message: object) -> dict[str, Any]:
    # With FallbackToLogsOnError the message may be plain log text instead of the agent's JSON.
    if not isinstance(message, str) or not message.lstrip().startswith("{"):
        return {}
    try:
        parsed = json.loads(message)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _memory_limit(pod: Obj, container: str) -> str | None:
    spec = pod.get("spec") or {}
    for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        if c.get("name") == container:
            return ((c.get("resources") or {}).get("limits") or {}).get("memory")
    return None


def _tail(log_tails: Mapping[str, Sequence[str]], pod: Obj, container: str) -> tuple[str, ...]:
    lines = log_tails.get(f"{_name(pod)}/{container}") or log_tails.get(container) or ()
    return tuple(lines[-LOG_TAIL_LINES:])


# --- pending --------------------------------------------------------------------------------

_RATE_LIMITED = re.compile(r"429|toomanyrequests|too many requests|rate limit|pull qps exceeded", re.IGNORECASE)
_INSUFFICIENT = re.compile(r"Insufficient ([\w./-]+)")


def classify_pending(job: Obj, pods: Sequence[Obj], events: Sequence[Obj], now: datetime,
                     grace: GraceWindows = GraceWindows(), *, limit_ranges: Sequence[Obj] = ()) -> Diagnosis | None:
    """Why the newest pod (or the Job, before it has one) is not running yet, with its deadline."""
    if (job.get("spec") or {}).get("suspend"):
        return None
    live = [p for p in _newest_first(pods) if _status(p).get("phase") in (None, "Pending")]
    if not pods:
        return _cannot_create(job, events, now, grace, limit_ranges) or _no_pod_yet(job, now, grace)
    if not live:
        return None
    pod = live[0]
    pod_events = _events_for(events, {_name(pod)})
    for cs in _all_container_statuses(pod):
        waiting = (cs.get("state") or {}).get("waiting") or {}
        found = _waiting(pod, cs, waiting, pod_events, now, grace)
        if found is not None:
            return found
    return _unschedulable(pod, pod_events, now, grace) or _failed_mount(pod, pod_events, now, grace)


def _waiting(pod: Obj, cs: Obj, waiting: Obj, events: list[_Event], now: datetime,
             grace: GraceWindows) -> Diagnosis | None:
    reason, message = str(waiting.get("reason") or ""), str(waiting.get("message") or "")
    name, container, image = _name(pod), str(cs.get("name")), str(cs.get("image") or "")
    base: dict[str, Any] = {"pod": name, "container": container, "detail": message}
    if reason == "InvalidImageName":
        return Diagnosis(Category.INVALID_IMAGE, f"image reference {image!r} is not valid", terminal=True,
                         hint="fix image (or default_image) in kubernetes.yaml, or pass a valid --image", **base)
    if reason in ("ErrImagePull", "ImagePullBackOff"):
        pull_failures = [e for e in events if e.reason in ("Failed", "BackOff", "ErrImagePull") and e.first]
        onset = min((e.first for e in pull_failures if e.first), default=None) or _scheduled_at(pod) or now
        limited = bool(_RATE_LIMITED.search(message)) or any(_RATE_LIMITED.search(e.message) for e in pull_failures)
        seconds = grace.image_pull_seconds * (RATE_LIMIT_GRACE_FACTOR if limited else 1)
        deadline = onset + timedelta(seconds=seconds)
        category = Category.IMAGE_PULL_RATE_LIMITED if limited else Category.IMAGE_PULL
        summary = (f"the registry is rate-limiting pulls of {image}" if limited
                   else f"image {image} cannot be pulled ({reason})")
        hint = ("wait, or authenticate pulls with image_pull_secrets to get a higher limit" if limited else
                "check the image name and tag; for kind run `kind load docker-image IMAGE`, for minikube "
                "`minikube image load IMAGE`; for a private registry set image_pull_secrets in kubernetes.yaml")
        return Diagnosis(category, summary, terminal=now >= deadline, deadline=deadline, hint=hint,
                         **{**base, "detail": message or _last_message(pull_failures)})
    if reason == "CreateContainerConfigError":
        deadline = (_scheduled_at(pod) or now) + timedelta(seconds=CONFIG_ERROR_GRACE_SECONDS)
        # The summary already carries the kubelet's message; no detail line repeating it.
        return Diagnosis(Category.CONTAINER_CONFIG, f"container {container} cannot be configured: {message}",
                         terminal=now >= deadline, deadline=deadline,
                         hint=_config_error_hint(pod, container, message), **{**base, "detail": ""})
    if reason == "CreateContainerError":
        deadline = (_scheduled_at(pod) or now) + timedelta(seconds=grace.image_pull_seconds)
        return Diagnosis(Category.CREATE_CONTAINER, f"container {container} cannot be created",
                         terminal=now >= deadline, deadline=deadline,
                         hint="see the message; often a bad command or a volume mount conflict", **base)
    if reason in ("RunContainerError", "CrashLoopBackOff"):
        hint = ("the image is built for another CPU architecture; rebuild it for the nodes' platform"
                if "exec format error" in message else "the container could not start; check the image's entrypoint")
        return Diagnosis(Category.RUN_CONTAINER, f"container {container} cannot start ({reason})", terminal=True,
                         hint=hint, **base)
    return None


_MISSING_KEY = re.compile(r"couldn't find key (\S+) in (Secret|ConfigMap) ([^/\s]+)/(\S+)")
_MISSING_OBJECT = re.compile(r"(secret|configmap) \"([^\"]+)\" not found", re.IGNORECASE)


def _config_error_hint(pod: Obj, container: str, message: str) -> str:
    """Name the env var, the object and the key the kubelet could not resolve, and the fix.
    The env var is found in the pod spec: ``secrets:`` in kubernetes.yaml becomes ``secretKeyRef``."""
    key_missing = _MISSING_KEY.search(message)
    object_missing = _MISSING_OBJECT.search(message)
    if key_missing:
        key, kind, namespace, name = key_missing.groups()
        var = _env_reading(pod, container, kind, name, key)
        who = f"env {var} reads" if var else "the container reads"
        return (f"{who} key {key!r} of {kind} {name!r}, which has no such key: add it "
                f"(kubectl -n {namespace} edit {kind.lower()} {name})"
                + (f" or fix secrets.{var} in kubernetes.yaml" if var else " or fix secrets: in kubernetes.yaml"))
    if object_missing:
        kind = "Secret" if object_missing.group(1).lower() == "secret" else "ConfigMap"
        name = object_missing.group(2)
        var = _env_reading(pod, container, kind, name, None)
        return (f"{kind} {name!r} does not exist in namespace {_meta(pod).get('namespace') or 'default'}: create it, "
                f"or fix {f'secrets.{var}' if var else 'secrets:'} in kubernetes.yaml")
    return ("a Secret or ConfigMap (or one of its keys) named under secrets: in kubernetes.yaml does not exist "
            "in this namespace; create it or fix the name")


def _env_reading(pod: Obj, container: str, kind: str, name: str, key: str | None) -> str | None:
    ref_field = "secretKeyRef" if kind == "Secret" else "configMapKeyRef"
    spec = pod.get("spec") or {}
    for c in [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]:
        if c.get("name") != container:
            continue
        for env in c.get("env") or ():
            ref = (env.get("valueFrom") or {}).get(ref_field) or {}
            if ref.get("name") == name and (key is None or ref.get("key") == key):
                return str(env.get("name"))
    return None


def _unschedulable(pod: Obj, events: list[_Event], now: datetime, grace: GraceWindows) -> Diagnosis | None:
    status = _status(pod)
    cond = next((c for c in status.get("conditions") or () if c.get("type") == "PodScheduled"
                 and c.get("status") == "False" and c.get("reason") == "Unschedulable"), None)
    if cond is None:
        return None
    scheduling = [e for e in events if e.reason == "FailedScheduling"]
    message = " ".join(str(cond.get("message") or "").split()) or _last_message(scheduling)
    onset = parse_time(cond.get("lastTransitionTime")) or now
    scale_ups = [e.last for e in events if e.reason == "TriggeredScaleUp" and e.last]
    progress = max([onset, *scale_ups])
    deadline = progress + timedelta(seconds=grace.unschedulable_seconds)
    category, summary, hint = _scheduling_reason(message)
    if scale_ups:
        summary += "; the cluster autoscaler is adding a node"
    return Diagnosis(category, summary, terminal=now >= deadline, deadline=deadline, detail=message,
                     pod=_name(pod), hint=hint)


def _scheduling_reason(message: str) -> tuple[Category, str, str]:
    insufficient = sorted({found.rstrip(".") for found in _INSUFFICIENT.findall(message)})
    if insufficient:
        return (Category.UNSCHEDULABLE_RESOURCES, f"no node has enough {' and '.join(insufficient)} for the pod",
                "lower resources.requests for this cluster in kubernetes.yaml, or add capacity; "
                "`kubectl describe nodes` shows what is allocatable")
    if "node affinity/selector" in message or "node selector" in message or "didn't match" in message:
        return (Category.UNSCHEDULABLE_NODE_SELECTOR, "no node matches the pod's node_selector",
                "fix node_selector in kubernetes.yaml to match your nodes' labels (`kubectl get nodes --show-labels`)")
    if "taint" in message:
        return (Category.UNSCHEDULABLE_TAINT, "every node has a taint the pod does not tolerate",
                "add a matching entry to tolerations in kubernetes.yaml, or use untainted nodes")
    return (Category.UNSCHEDULABLE, "the pod cannot be scheduled",
            "see the scheduler's message; `kubectl describe nodes` shows capacity, labels and taints")


_REFUSAL_CATEGORY: Final = {RefusedBy.QUOTA: Category.POD_CREATION_QUOTA,
                             RefusedBy.LIMIT_RANGE: Category.POD_CREATION_LIMIT_RANGE,
                             RefusedBy.ADMISSION: Category.POD_CREATION_ADMISSION,
                             RefusedBy.OTHER: Category.POD_CREATION}
NO_POD_NOTICE_SECONDS: Final = 30


def _cannot_create(job: Obj, events: Sequence[Obj], now: datetime, grace: GraceWindows,
                   limit_ranges: Sequence[Obj] = ()) -> Diagnosis | None:
    """The Job controller's FailedCreate events: admission refused the pod, so none exists.

    A refusal no wait can cure (a LimitRange bound, an admission policy, a pod larger than the
    whole quota) fails after a few seconds; a quota that is only used up now waits the
    unschedulable grace window for other runs to finish."""
    failures = [e for e in _events_for(events, {_name(job)}) if e.reason == "FailedCreate" and e.type == "Warning"]
    if not failures:
        return None
    onset = min((e.first or e.last or now) for e in failures)
    message = _last_message(failures)
    refusal = read_refusal(message, namespace=str(_meta(job).get("namespace") or "default"),
                           template=(job.get("spec") or {}).get("template"), limit_ranges=limit_ranges)
    seconds = CONFIG_ERROR_GRACE_SECONDS if refusal.permanent else grace.unschedulable_seconds
    deadline = onset + timedelta(seconds=seconds)
    return Diagnosis(_REFUSAL_CATEGORY[refusal.by], refusal.summary, terminal=now >= deadline, deadline=deadline,
                     detail=message, hint=refusal.hint, inspect=refusal.inspect)


def creation_refused(job: Obj, events: Sequence[Obj], now: datetime, grace: GraceWindows = GraceWindows(),
                     limit_ranges: Sequence[Obj] = ()) -> Diagnosis | None:
    """A Job that already has pods but is refused more right now (a ResourceQuota used up by its
    own running pods, typically): its newest ``FailedCreate`` is newer than its newest
    ``SuccessfulCreate``. The onset counts from the first refusal since that last success."""
    own = _events_for(events, {_name(job)})
    created = max((moment for e in own if e.reason == "SuccessfulCreate" and (moment := e.last or e.first)),
                  default=None)
    refused = [raw for raw in events if (parsed := _event(raw)).reason == "FailedCreate"
               and parsed.object_name == _name(job)
               and (created is None or (parsed.last or parsed.first or _EPOCH) > created)]
    return _cannot_create(job, refused, now, grace, limit_ranges) if refused else None


def _no_pod_yet(job: Obj, now: datetime, grace: GraceWindows) -> Diagnosis | None:
    """No pod and no event saying why (events may be unreadable to this user): still bounded."""
    started = parse_time(_status(job).get("startTime"))
    if started is None or now - started < timedelta(seconds=NO_POD_NOTICE_SECONDS):
        return None
    deadline = started + timedelta(seconds=grace.unschedulable_seconds)
    waited = int((now - started).total_seconds())
    return Diagnosis(Category.POD_CREATION, f"the Job has created no pod in {waited}s", terminal=now >= deadline,
                     deadline=deadline,
                     hint="the Job's events say why (kubectl describe job); an admission policy, quota or "
                          "webhook may refuse the pod")


def _failed_mount(pod: Obj, events: list[_Event], now: datetime, grace: GraceWindows) -> Diagnosis | None:
    mounts = [e for e in events if e.reason in ("FailedMount", "FailedAttachVolume") and e.type == "Warning"]
    if not mounts:
        return None
    onset = min((e.first or e.last or now) for e in mounts)
    deadline = onset + timedelta(seconds=grace.image_pull_seconds)
    return Diagnosis(Category.FAILED_MOUNT, f"a volume of pod {_name(pod)} cannot be mounted",
                     terminal=now >= deadline, deadline=deadline, detail=_last_message(mounts), pod=_name(pod),
                     hint="a ConfigMap, Secret or volume the pod needs is missing; see the message")


def _scheduled_at(pod: Obj) -> datetime | None:
    cond = _condition(pod, "PodScheduled")
    return parse_time((cond or {}).get("lastTransitionTime")) or parse_time(_meta(pod).get("creationTimestamp"))


def _last_message(events: Sequence[_Event]) -> str:
    return events[-1].message if events else ""


def _inspect_commands(job: Obj, d: Diagnosis) -> tuple[str, ...]:
    namespace = _meta(job).get("namespace") or "default"
    commands = [f"kubectl -n {namespace} describe job {_name(job)}"]
    if d.pod:
        commands.append(f"kubectl -n {namespace} describe pod {d.pod}")
        if d.container and d.exit_code is not None:
            commands.append(f"kubectl -n {namespace} logs {d.pod} -c {d.container}")
    return tuple(commands)


# --- one-line pod state for the status line --------------------------------------------------


def pod_phase_summary(pod: Obj) -> str:
    """``Pending: ImagePullBackOff``, ``ContainerCreating``, ``Unschedulable: 0/1 nodes ...``, ``Running``."""
    status = _status(pod)
    phase = str(status.get("phase") or "Pending")
    if _meta(pod).get("deletionTimestamp"):
        return "Terminating"
    if phase == "Pending":
        for cond in status.get("conditions") or ():
            if cond.get("type") == "PodScheduled" and cond.get("status") == "False":
                text = " ".join(str(cond.get("message") or cond.get("reason") or "").split())
                return f"Unschedulable: {text}" if text else "Unschedulable"
        for cs in status.get("initContainerStatuses") or ():
            waiting = (cs.get("state") or {}).get("waiting")
            if waiting and waiting.get("reason") not in (None, "PodInitializing"):
                return f"Init: {waiting['reason']}"
            if (cs.get("state") or {}).get("running"):
                return f"Init: {cs.get('name')} running"
        for cs in status.get("containerStatuses") or ():
            reason = ((cs.get("state") or {}).get("waiting") or {}).get("reason")
            if reason in ("ContainerCreating", "PodInitializing"):
                return str(reason)
            if reason:
                return f"Pending: {reason}"
        return "Pending" if _condition(pod, "PodScheduled") is None else "ContainerCreating"
    if phase == "Failed":
        if status.get("reason"):
            return f"Failed: {status['reason']}"
        for cs in _all_container_statuses(pod):
            terminated = (cs.get("state") or {}).get("terminated") or {}
            if int(terminated.get("exitCode", 0)) == 0:
                continue
            reported = _termination_json(terminated.get("message"))
            if terminated.get("reason") != "OOMKilled" and failed_step_name(reported):
                # The agent exits 1 for any failed step; the step's own code is the one to show.
                code = step_exit_code(reported)
                return "Failed: a step failed" + (f" (exit code {code})" if code is not None else "")
            return f"Failed: {terminated.get('reason') or 'Error'} (exit {terminated['exitCode']})"
    return phase
