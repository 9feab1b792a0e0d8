from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from prodigy.k8s.config.resolve import GraceWindows
from prodigy.k8s.diagnose import Category, Diagnosis, diagnose, oom_killed, parse_time, pod_phase_summary

from . import wire as w

START = parse_time(w.T0)
assert START is not None
GRACE = GraceWindows(image_pull_seconds=120, unschedulable_seconds=300)


def at(seconds: float) -> datetime:
    assert START is not None
    return START + timedelta(seconds=seconds)


def run(job: dict[str, Any], pods: list[dict[str, Any]], events: list[dict[str, Any]] = (),  # type: ignore[assignment]
        *, now: float = 10, logs: dict[str, list[str]] | None = None) -> Diagnosis | None:
    return diagnose(job, pods, list(events), logs or {}, at(now), GRACE)


def must(d: Diagnosis | None) -> Diagnosis:
    assert d is not None
    return d


# --- nothing to say ----------------------------------------------------------------------------

def test_a_healthy_run_has_no_diagnosis() -> None:
    assert run(w.job(), [w.pod("Running", containers=[w.running()], conditions=[w.scheduled()])]) is None
    assert run(w.job(), []) is None
    assert run(w.job(suspend=True), []) is None
    complete = w.job(w.job_condition("Complete", "CompletionsReached", "Reached expected number of succeeded pods"))
    assert run(complete, [w.pod("Succeeded", containers=[w.terminated(0, "Completed")])]) is None


def test_normal_container_creation_is_not_a_problem() -> None:
    pod = w.pod(containers=[w.waiting("ContainerCreating")], conditions=[w.scheduled()])
    assert run(w.job(), [pod], [w.event("Pulling", 'Pulling image "prodigy-agent:dev"', type_="Normal")]) is None


# --- image problems ----------------------------------------------------------------------------

BACKOFF_MSG = 'Back-off pulling image "prodigy-agent:nope": ErrImagePull: failed to resolve reference "docker.io/library/prodigy-agent:nope": not found'


def image_pull_pod(reason: str = "ImagePullBackOff", message: str = BACKOFF_MSG) -> dict[str, Any]:
    return w.pod(containers=[w.waiting(reason, message, image="prodigy-agent:nope")], conditions=[w.scheduled()])


@pytest.mark.parametrize(("seconds", "terminal"), [(5, False), (119, False), (121, True)])
def test_image_pull_failure_becomes_final_after_the_grace_window(seconds: float, terminal: bool) -> None:
    events = [w.event("Failed", 'Failed to pull image "prodigy-agent:nope": not found', first="2026-11-27T09:30:01Z"),
              w.event("BackOff", 'Back-off pulling image "prodigy-agent:nope"', first="2026-11-27T09:30:02Z", count=4)]
    d = must(run(w.job(), [image_pull_pod()], events, now=seconds + 1))
    assert d.category is Category.IMAGE_PULL
    assert d.terminal is terminal
    assert d.deadline == at(121)
    assert "prodigy-agent:nope" in d.summary
    assert "kind load docker-image" in d.hint and "image_pull_secrets" in d.hint


def test_err_image_pull_without_events_counts_from_scheduling() -> None:
    d = must(run(w.job(), [image_pull_pod("ErrImagePull", "rpc error: code = NotFound")], now=130))
    assert (d.category, d.terminal) == (Category.IMAGE_PULL, True)


def test_registry_rate_limit_is_retryable_for_longer() -> None:
    message = ('Back-off pulling image "python:3.11": ErrImagePull: 429 Too Many Requests - Server message: '
               "toomanyrequests: You have reached your pull rate limit.")
    d = must(run(w.job(), [image_pull_pod(message=message)], now=300))
    assert (d.category, d.terminal) == (Category.IMAGE_PULL_RATE_LIMITED, False)
    assert must(run(w.job(), [image_pull_pod(message=message)], now=361)).terminal


def test_invalid_image_name_fails_at_once() -> None:
    pod = w.pod(containers=[w.waiting("InvalidImageName", 'Failed to apply default image tag "Bad:Image": '
                                      "couldn't parse image name", image="Bad:Image")], conditions=[w.scheduled()])
    d = must(run(w.job(), [pod], now=1))
    assert (d.category, d.terminal) == (Category.INVALID_IMAGE, True)
    assert "Bad:Image" in d.summary


def test_missing_secret_fails_almost_at_once() -> None:
    pod = w.pod(containers=[w.waiting("CreateContainerConfigError", 'secret "github" not found')],
                conditions=[w.scheduled()])
    early, late = must(run(w.job(), [pod], now=3)), must(run(w.job(), [pod], now=11))
    assert early.category is Category.CONTAINER_CONFIG and not early.terminal
    assert late.terminal and 'secret "github" not found' in late.summary
    assert "secrets:" in late.hint


def test_exec_format_error_points_at_the_architecture() -> None:
    pod = w.pod(containers=[w.waiting("RunContainerError", "exec /usr/bin/tini: exec format error")],
                conditions=[w.scheduled()])
    d = must(run(w.job(), [pod]))
    assert (d.category, d.terminal) == (Category.RUN_CONTAINER, True)
    assert "architecture" in d.hint


# --- scheduling ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("message", "category", "words"), [
    ("0/3 nodes are available: 3 Insufficient memory. preemption: 0/3 nodes are available: "
     "3 No preemption victims found for incoming pod.", Category.UNSCHEDULABLE_RESOURCES, "memory"),
    ("0/2 nodes are available: 1 Insufficient cpu, 1 Insufficient memory.", Category.UNSCHEDULABLE_RESOURCES,
     "cpu and memory"),
    ("0/1 nodes are available: 1 node(s) didn't match Pod's node affinity/selector.",
     Category.UNSCHEDULABLE_NODE_SELECTOR, "node_selector"),
    ("0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.",
     Category.UNSCHEDULABLE_TAINT, "taint"),
    ("0/1 nodes are available: 1 node(s) were unschedulable.", Category.UNSCHEDULABLE, "scheduled"),
])
def test_unschedulable_reasons(message: str, category: Category, words: str) -> None:
    pod = w.pod(conditions=[w.unschedulable(message)])
    events = [w.event("FailedScheduling", message, count=3)]
    d = must(run(w.job(), [pod], events, now=60))
    assert (d.category, d.terminal) == (category, False)
    assert words in d.summary
    assert d.detail == message
    assert must(run(w.job(), [pod], events, now=301)).terminal


def test_a_recent_scale_up_extends_the_unschedulable_deadline() -> None:
    message = "0/1 nodes are available: 1 Insufficient cpu."
    pod = w.pod(conditions=[w.unschedulable(message)])
    events = [w.event("FailedScheduling", message),
              w.event("TriggeredScaleUp", "pod triggered scale-up: [{ng-1 1->2 (max: 5)}]", type_="Normal",
                      first="2026-11-27T09:34:00Z")]
    d = must(run(w.job(), [pod], events, now=400))
    assert not d.terminal
    assert d.deadline == at(240 + 300)
    assert "autoscaler" in d.summary
    assert must(run(w.job(), [pod], events, now=541)).terminal


def test_quota_blocking_pod_creation_is_explained_and_bounded() -> None:
    message = ('Error creating: pods "prodigy-implement-k3x9q2m7ab-x7k2p" is forbidden: exceeded quota: compute, '
               "requested: limits.memory=4Gi, used: limits.memory=16Gi, limited: limits.memory=16Gi")
    events = [w.event("FailedCreate", message, kind="Job", name=w.JOB, count=5)]
    d = must(run(w.job(), [], events, now=30))
    assert (d.category, d.terminal) == (Category.POD_CREATION_QUOTA, False)
    assert d.summary.startswith("ResourceQuota compute has no room for the pod")
    assert "wait for other runs" in d.hint and "raise the quota" in d.hint
    assert f"kubectl -n {w.NS} describe resourcequota compute" in d.inspect
    assert must(run(w.job(), [], events, now=301)).terminal


def _failed_create(reason: str) -> list[dict[str, Any]]:
    message = f'Error creating: pods "{w.JOB}-x7k2p" is forbidden: {reason}'
    return [w.event("FailedCreate", message, kind="Job", name=w.JOB, count=3)]


def _job_with_plumbing() -> dict[str, Any]:
    job = w.job()
    job["spec"]["template"]["spec"] = {
        "initContainers": [{"name": "prodigy-repo", "resources": {"limits": {"cpu": "500m", "memory": "512Mi"}}}],
        "containers": [{"name": "prodigy-agent", "resources": {"limits": {"cpu": "2", "memory": "4Gi"}}},
                       {"name": "prodigy-results", "resources": {"limits": {"cpu": "100m", "memory": "128Mi"}}}]}
    return job


def test_a_pod_larger_than_the_whole_quota_fails_after_a_few_seconds_not_the_grace_window() -> None:
    events = _failed_create("exceeded quota: compute, requested: limits.cpu=2600m,limits.memory=4736Mi, "
                            "used: limits.cpu=0,limits.memory=0, limited: limits.cpu=2,limits.memory=8Gi")
    assert not must(run(w.job(), [], events, now=5)).terminal
    d = must(run(w.job(), [], events, now=11))
    assert (d.category, d.terminal) == (Category.POD_CREATION_QUOTA, True)
    assert d.summary == ("the pod asks for more than ResourceQuota compute allows at all: "
                         "limits.cpu 2600m (quota 2)")
    assert "resources.limits.cpu" in d.hint


def test_a_limit_range_refusal_names_the_limit_range_the_container_and_the_setting() -> None:
    events = _failed_create("maximum cpu usage per Container is 1, but limit is 2")
    ranges = [{"metadata": {"name": "small-pods"},
               "spec": {"limits": [{"type": "Container", "max": {"cpu": "1", "memory": "2Gi"}}]}},
              {"metadata": {"name": "storage"}, "spec": {"limits": [{"type": "PersistentVolumeClaim",
                                                                      "max": {"storage": "1"}}]}}]
    d = must(diagnose(_job_with_plumbing(), [], events, {}, at(11), GRACE, limit_ranges=ranges))
    assert (d.category, d.terminal) == (Category.POD_CREATION_LIMIT_RANGE, True)
    assert d.summary == ("LimitRange small-pods allows at most 1 cpu per Container as limit; "
                         "prodigy-agent asks for 2")
    assert d.hint.startswith("set resources.limits.cpu to at most 1 in kubernetes.yaml")
    assert f"kubectl -n {w.NS} describe limitrange small-pods" in d.inspect


def test_a_limit_range_on_prodigys_own_containers_points_at_plumbing_resources() -> None:
    events = _failed_create("minimum memory usage per Container is 256Mi, but request is 64Mi")
    job = _job_with_plumbing()
    job["spec"]["template"]["spec"]["containers"][1]["resources"]["requests"] = {"memory": "64Mi"}
    d = must(run(job, [], events, now=11))
    assert d.summary == ("the namespace's LimitRange allows at least 256Mi memory per Container as request; "
                         "prodigy-results asks for 64Mi")
    assert d.hint.startswith("set plumbing_resources.requests.memory to at least 256Mi in kubernetes.yaml")


@pytest.mark.parametrize("reason, summary, inspect", [
    ("ValidatingAdmissionPolicy 'no-agents' with binding 'no-agents-here' denied request: agents are not welcome",
     "ValidatingAdmissionPolicy no-agents refuses the pod: agents are not welcome",
     "kubectl get validatingadmissionpolicy no-agents -o yaml"),
    ('admission webhook "policy.example.com" denied the request: images must come from registry.example.com',
     "admission webhook policy.example.com refuses the pod: images must come from registry.example.com",
     "kubectl get validatingwebhookconfigurations,mutatingwebhookconfigurations"),
    ('violates PodSecurity "restricted:latest": seccompProfile (pod must set seccompProfile.type)',
     f'namespace {w.NS} enforces Pod Security restricted:latest and the pod violates it: seccompProfile '
     "(pod must set seccompProfile.type)", f"kubectl get namespace {w.NS} --show-labels"),
])
def test_admission_refusals_name_the_policy_and_fail_after_a_few_seconds(reason: str, summary: str,
                                                                          inspect: str) -> None:
    events = _failed_create(reason)
    d = must(run(w.job(), [], events, now=3))
    assert (d.category, d.terminal, d.summary) == (Category.POD_CREATION_ADMISSION, False, summary)
    assert must(run(w.job(), [], events, now=11)).terminal
    assert inspect in d.inspect


def test_a_quota_that_requires_limits_names_what_is_missing() -> None:
    events = _failed_create("failed quota: compute: must specify limits.cpu for: prodigy-repo; "
                            "limits.memory for: prodigy-repo")
    d = must(run(w.job(), [], events, now=11))
    assert (d.category, d.terminal) == (Category.POD_CREATION_QUOTA, True)
    assert "ResourceQuota compute requires resources on every container" in d.summary
    assert "plumbing_resources" in d.hint


def test_a_job_without_pod_and_without_events_is_still_bounded() -> None:
    assert run(w.job(), [], now=20) is None                 # the first seconds are normal
    d = must(run(w.job(), [], now=45))
    assert (d.category, d.terminal, d.summary) == (Category.POD_CREATION, False, "the Job has created no pod in 45s")
    assert must(run(w.job(), [], now=301)).terminal


def test_failed_mount_is_reported_then_fails() -> None:
    pod = w.pod(containers=[w.waiting("ContainerCreating")], conditions=[w.scheduled()])
    events = [w.event("FailedMount", 'MountVolume.SetUp failed for volume "workflow" : configmap '
                      '"prodigy-workflow-k3x9q2m7ab" not found', count=6)]
    assert not must(run(w.job(), [pod], events, now=60)).terminal
    d = must(run(w.job(), [pod], events, now=125))
    assert (d.category, d.terminal) == (Category.FAILED_MOUNT, True)


# --- terminated containers ------------------------------------------------------------------------

def failed_job(reason: str = "PodFailurePolicy", message: str = "Container prodigy-agent for pod "
               "prodigy-dev/prodigy-implement-k3x9q2m7ab-x7k2p failed with exit code 1 matching FailJob rule at index 0",
               **kw: Any) -> dict[str, Any]:
    return w.job(w.job_condition("FailureTarget", reason, message), w.job_condition("Failed", reason, message),
                 failed=1, **kw)


LOG = [f"line {i}" for i in range(1, 31)]


def test_oom_kill_names_the_limit_and_the_fix() -> None:
    pod = w.pod("Failed", containers=[w.terminated(137, "OOMKilled")], conditions=[w.scheduled()], memory_limit="256Mi")
    d = must(run(failed_job(), [pod], logs={f"{w.POD}/prodigy-agent": LOG}))
    assert (d.category, d.terminal, d.exit_code) == (Category.OOM_KILLED, True, 137)
    assert "out of memory" in d.summary and "256Mi" in d.summary
    assert "resources.limits.memory" in d.hint
    assert d.log_tail == tuple(LOG[-20:])
    assert f"kubectl -n {w.NS} logs {w.POD} -c prodigy-agent" in d.inspect


def test_oom_kill_of_a_step_process_is_explained_with_the_agents_own_exit_code() -> None:
    # containerd: the kernel killed a child (a step), the agent exited 1, the container is OOMKilled.
    pod = w.pod("Failed", containers=[w.terminated(1, "OOMKilled")], conditions=[w.scheduled()], memory_limit="96Mi")
    d = must(run(failed_job(), [pod]))
    assert (d.category, d.exit_code) == (Category.OOM_KILLED, 1)
    assert "ran out of memory (OOMKilled: a process in it was killed, the container exited 1) at its 96Mi limit" \
        in d.summary
    assert oom_killed([pod]) and not oom_killed([w.pod("Failed", containers=[w.terminated(1, "Error")])])


def test_exit_137_without_oom_reason_is_still_explained() -> None:
    pod = w.pod("Failed", containers=[w.terminated(137, "Error")])
    d = must(run(failed_job(), [pod]))
    assert d.category is Category.OOM_KILLED and "killed" in d.summary and d.detail


def test_segfault() -> None:
    d = must(run(failed_job(), [w.pod("Failed", containers=[w.terminated(139)])]))
    assert (d.category, d.exit_code) == (Category.SEGFAULT, 139)
    assert "segmentation fault" in d.summary


def test_failed_step_is_named_from_the_termination_message() -> None:
    summary = json.dumps({"status": "failed", "exit_code": 1, "failed_step": "shell: cargo test",
                          "error": "command exited with status 101", "steps_completed": 2, "steps_total": 4})
    pod = w.pod("Failed", containers=[w.terminated(1, "Error", summary)])
    d = must(run(failed_job(), [pod], logs={"prodigy-agent": ["test result: FAILED"]}))
    assert d.category is Category.NON_ZERO_EXIT
    assert d.summary == "step 'shell: cargo test' failed"
    assert d.failed_step == "shell: cargo test"
    assert d.detail == "command exited with status 101"
    assert d.log_tail == ("test result: FAILED",)


def test_a_failed_step_is_reported_with_its_own_exit_code_not_the_agents() -> None:
    # The agent exits 1 for any failed step (like a local run); the step's code is in its error text.
    summary = json.dumps({"status": "failed", "exit_code": 1, "failed_step": "shell: make; exit 3",
                          "error": "Step 'shell: make; exit 3' failed with exit code 3\n\n=== Error Output ==="})
    pod = w.pod("Failed", containers=[w.terminated(1, "Error", summary)])
    d = must(run(failed_job(), [pod]))
    assert d.summary == "step 'shell: make; exit 3' failed with exit code 3"
    assert (d.failed_step, d.step_exit_code, d.exit_code) == ("shell: make; exit 3", 3, 1)
    assert pod_phase_summary(pod) == "Failed: a step failed (exit code 3)"


def test_an_explicit_step_exit_code_wins_over_the_error_text() -> None:
    summary = json.dumps({"exit_code": 1, "failed_step": "claude: /fix", "step_exit_code": 2, "error": "boom"})
    d = must(run(failed_job(), [w.pod("Failed", containers=[w.terminated(1, "Error", summary)])]))
    assert (d.summary, d.step_exit_code) == ("step 'claude: /fix' failed with exit code 2", 2)


def test_a_plain_text_termination_message_is_not_mistaken_for_json() -> None:
    pod = w.pod("Failed", containers=[w.terminated(2, "Error", "Traceback (most recent call last):\n...")])
    d = must(run(failed_job(), [pod]))
    assert d.summary == f"container prodigy-agent of pod {w.POD} exited with code 2"
    assert d.failed_step is None


def test_an_init_container_failure_is_diagnosed() -> None:
    pod = w.pod("Failed", init=[w.terminated(128, "Error", name="prodigy-repo")],
                containers=[w.waiting("PodInitializing")])
    d = must(run(failed_job("BackoffLimitExceeded", "Job has reached the specified backoff limit"), [pod]))
    assert (d.container, d.exit_code) == ("prodigy-repo", 128)


def test_agent_exit_is_final_as_soon_as_the_pod_fails() -> None:
    # Before the Job controller writes its Failed condition, the pod failure policy already decides.
    pod = w.pod("Failed", containers=[w.terminated(1)])
    d = must(run(w.job(), [pod]))
    assert d.terminal and d.exit_code == 1


def test_eviction_before_the_job_fails_is_not_final() -> None:
    pod = w.pod("Failed", reason="Evicted", message="The node was low on resource: memory. Threshold quantity: "
                "100Mi, available: 50Mi. Container prodigy-agent was using 3Gi, request is 1Gi.")
    assert not must(run(w.job(), [pod])).terminal
    d = must(run(failed_job("BackoffLimitExceeded", "Job has reached the specified backoff limit"), [pod]))
    assert (d.category, d.terminal) == (Category.EVICTED, True)
    assert "low on resource: memory" in d.detail
    assert "resources.requests" in d.hint


def test_deadline_exceeded_wins_over_the_kill_exit_code() -> None:
    job = w.job(w.job_condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline"),
                active_deadline=600)
    pod = w.pod("Failed", containers=[w.terminated(143, "Error")])
    d = must(run(job, [pod], logs={"prodigy-agent": ["still working"]}))
    assert (d.category, d.terminal) == (Category.DEADLINE_EXCEEDED, True)
    assert "600s" in d.summary
    assert "active_deadline_seconds" in d.hint
    assert d.log_tail == ("still working",)


def test_job_failure_without_pods_uses_the_condition() -> None:
    d = must(run(failed_job("BackoffLimitExceeded", "Job has reached the specified backoff limit"), []))
    assert (d.category, d.terminal) == (Category.BACKOFF_LIMIT_EXCEEDED, True)
    assert d.detail == "Job has reached the specified backoff limit"
    d = must(run(failed_job(), []))
    assert d.category is Category.POD_FAILURE_POLICY


def test_the_newest_pod_is_diagnosed_first() -> None:
    old = w.pod("Failed", containers=[w.terminated(1)], name=f"{w.JOB}-aaaaa", created="2026-11-27T09:30:00Z")
    new = w.pod("Failed", containers=[w.terminated(137, "OOMKilled")], name=f"{w.JOB}-bbbbb",
                created="2026-11-27T09:31:00Z")
    d = must(run(failed_job("BackoffLimitExceeded", "Job has reached the specified backoff limit"), [old, new]))
    assert d.pod == f"{w.JOB}-bbbbb"


# --- events ------------------------------------------------------------------------------------

def test_warning_events_are_deduplicated_and_counted() -> None:
    pod = image_pull_pod()
    events = [
        w.event("Failed", "dial tcp: i/o timeout", count=2, first="2026-11-27T09:30:01Z"),
        w.event("Failed", "dial tcp: i/o timeout", count=3, first="2026-11-27T09:30:20Z"),
        w.event("Pulling", 'Pulling image "prodigy-agent:nope"', type_="Normal"),
        w.event("Failed", "unrelated", name="some-other-pod"),
    ]
    d = must(run(w.job(), [pod], events))
    assert d.events == (f"Failed on {w.POD} (x5): dial tcp: i/o timeout",)


def test_events_k8s_io_shape_is_understood() -> None:
    new_style = {"apiVersion": "events.k8s.io/v1", "kind": "Event", "type": "Warning", "reason": "FailedScheduling",
                 "note": "0/2 nodes are available: 2 Insufficient cpu.", "eventTime": "2026-11-27T09:30:00.000000Z",
                 "regarding": {"kind": "Pod", "name": w.POD, "namespace": w.NS},
                 "series": {"count": 4, "lastObservedTime": "2026-11-27T09:31:00.000000Z"}}
    pod = w.pod(conditions=[w.unschedulable("0/1 nodes are available: 1 Insufficient cpu.")])
    d = must(run(w.job(), [pod], [new_style]))
    assert d.events == (f"FailedScheduling on {w.POD} (x4): 0/2 nodes are available: 2 Insufficient cpu.",)


# --- status line ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("pod", "expected"), [
    (w.pod(), "Pending"),
    (w.pod(conditions=[w.unschedulable("0/1 nodes are available: 1 Insufficient cpu.")]),
     "Unschedulable: 0/1 nodes are available: 1 Insufficient cpu."),
    (w.pod(conditions=[w.scheduled()]), "ContainerCreating"),
    (w.pod(conditions=[w.scheduled()], containers=[w.waiting("ContainerCreating")]), "ContainerCreating"),
    (image_pull_pod(), "Pending: ImagePullBackOff"),
    (w.pod(conditions=[w.scheduled()], init=[w.running("prodigy-repo")], containers=[w.waiting("PodInitializing")]),
     "Init: prodigy-repo running"),
    (w.pod(conditions=[w.scheduled()], init=[w.waiting("ErrImagePull", name="prodigy-repo")]), "Init: ErrImagePull"),
    (w.pod("Running", containers=[w.running()]), "Running"),
    (w.pod("Succeeded", containers=[w.terminated(0, "Completed")]), "Succeeded"),
    (w.pod("Failed", containers=[w.terminated(137, "OOMKilled")]), "Failed: OOMKilled (exit 137)"),
    (w.pod("Failed", reason="Evicted"), "Failed: Evicted"),
    (w.pod("Running", containers=[w.running()], deleting=True), "Terminating"),
])
def test_pod_phase_summary(pod: dict[str, Any], expected: str) -> None:
    assert pod_phase_summary(pod) == expected


def test_a_finished_init_container_does_not_hide_the_main_containers_problem() -> None:
    pod = w.pod(init=[w.terminated(0, "Completed", name="prodigy-repo")],
                containers=[w.waiting("CreateContainerConfigError", "couldn't find key token in Secret prodigy-dev/github")],
                conditions=[w.scheduled()])
    d = must(run(w.job(), [pod], now=30))
    assert (d.category, d.terminal, d.container) == (Category.CONTAINER_CONFIG, True, "prodigy-agent")


def _agent_reading(env: list[dict[str, Any]], message: str) -> dict[str, Any]:
    pod = w.pod(containers=[w.waiting("CreateContainerConfigError", message)], conditions=[w.scheduled()])
    pod["spec"]["containers"] = [{"name": "prodigy-agent", "env": env}]
    return pod


def test_a_missing_secret_key_names_the_env_var_the_secret_and_the_key() -> None:
    env = [{"name": "LOG", "value": "x"},
           {"name": "GITHUB_TOKEN", "valueFrom": {"secretKeyRef": {"name": "github", "key": "token"}}}]
    message = "couldn't find key token in Secret prodigy-dev/github"
    event = w.event("Failed", f"Error: {message}", count=5)
    d = must(run(w.job(), [_agent_reading(env, message)], [event], now=30))
    assert d.summary == f"container prodigy-agent cannot be configured: {message}"
    assert d.detail == "" and d.events == ()          # the kubelet's message is said once, in the summary
    assert "env GITHUB_TOKEN reads key 'token' of Secret 'github'" in d.hint
    assert "kubectl -n prodigy-dev edit secret github" in d.hint and "secrets.GITHUB_TOKEN" in d.hint


def test_a_missing_secret_names_the_env_var_that_needs_it() -> None:
    env = [{"name": "NPM_TOKEN", "valueFrom": {"secretKeyRef": {"name": "npm", "key": "token"}}}]
    d = must(run(w.job(), [_agent_reading(env, 'secret "npm" not found')], now=30))
    assert d.hint.startswith("Secret 'npm' does not exist in namespace")
    assert "secrets.NPM_TOKEN" in d.hint


def test_warning_events_that_repeat_the_diagnosis_are_left_out() -> None:
    events = [w.event("Failed", 'Failed to pull image "prodigy-agent:nope": not found', first="2026-11-27T09:30:01Z"),
              w.event("Failed", "Error: ErrImagePull", first="2026-11-27T09:30:01Z"),
              w.event("FailedMount", "MountVolume.SetUp failed for volume x", first="2026-11-27T09:30:01Z")]
    d = must(run(w.job(), [image_pull_pod(message=BACKOFF_MSG.replace("failed to resolve reference "
                                                                       '"docker.io/library/prodigy-agent:nope": ', ""))],
                 events, now=200))
    assert [line.split(": ", 1)[1] for line in d.events] == ["MountVolume.SetUp failed for volume x"]


def test_the_pod_failure_policy_event_does_not_restate_the_exit_code() -> None:
    pod = w.pod("Failed", containers=[w.terminated(137, "OOMKilled")])
    event = w.event("PodFailurePolicy", f"Container prodigy-agent for pod {w.NS}/{w.POD} failed with exit code 137 "
                    "matching FailJob rule at index 0", kind="Job", name=w.JOB)
    d = must(run(failed_job("PodFailurePolicy", "Container prodigy-agent failed"), [pod], [event]))
    assert d.category is Category.OOM_KILLED and d.events == ()
