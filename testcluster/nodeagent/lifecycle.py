"""One pod's life on the node: volumes, init containers, containers, status, deletion.

A :class:`PodWorker` thread walks the pod through the kubelet's states and patches the
status after every transition. Main containers each get a runner thread. Deletion is
driven from outside: when the watch delivers a ``deletionTimestamp`` the worker's
processes get SIGTERM, then SIGKILL after the grace period, and once everything has
stopped the worker writes the final status and deletes the pod for good (grace 0, uid
precondition), which is what lets Jobs, TTL and GC finish.
"""

from __future__ import annotations

import logging
import shutil
import signal
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes.client.exceptions import ApiException

from testcluster.nodeagent import envvars
from testcluster.nodeagent.containers import LaunchSpec, Process, launch, stop_processes
from testcluster.nodeagent.images import ImageRule, InvalidImageName, apply_default_tag, pull_error
from testcluster.nodeagent.kube import STRATEGIC, retry_transient
from testcluster.nodeagent.launchspec import launch_spec
from testcluster.nodeagent.logs import ContainerLog
from testcluster.nodeagent.logserver import PodLogs
from testcluster.nodeagent.runtime import Backoff, ContainerRuntime, NodeContext
from testcluster.nodeagent.status import (
    Running,
    Terminated,
    Waiting,
    exit_code_of,
    exit_reason,
    pod_status,
    termination_message,
)
from testcluster.nodeagent.volumes import VolumeError, materialise

log = logging.getLogger(__name__)

RETRY_CONFIG = 2.0  # how often a missing ConfigMap/Secret is looked for again


class PodWorker:
    def __init__(self, pod: Mapping[str, Any], ctx: NodeContext) -> None:
        meta = pod["metadata"]
        self.ctx = ctx
        self.pod = pod
        self.uid: str = meta["uid"]
        self.namespace: str = meta["namespace"]
        self.name: str = meta["name"]
        self.dir = ctx.state_dir / "pods" / f"{self.namespace}_{self.name}_{self.uid}"
        spec = pod["spec"]
        self.restart_policy: str = spec.get("restartPolicy", "Always")
        self.init = [ContainerRuntime(c, init=True) for c in spec.get("initContainers") or ()]
        self.main = [ContainerRuntime(c, init=False) for c in spec.get("containers") or ()]
        if not self.init:
            for container in self.main:
                container.state = Waiting("ContainerCreating")
        self.start_time = datetime.now(UTC)
        self.lock = threading.RLock()
        self.publish_lock = threading.Lock()
        self.stopping = threading.Event()  # deletion requested or pod gone: start nothing more
        self.abandoned = threading.Event()  # pod gone from the API or agent exiting: no more writes
        self.published: dict[str, Any] = {}
        self.volumes: dict[str, Path] = {}
        self.thread = threading.Thread(target=self._run, name=f"pod-{self.name}", daemon=True)
        self._terminator: threading.Thread | None = None

    # ----- outside events -------------------------------------------------------------

    def start(self) -> None:
        self.thread.start()

    def update(self, pod: Mapping[str, Any]) -> None:
        with self.lock:
            self.pod = pod
        if pod["metadata"].get("deletionTimestamp") and not self.stopping.is_set():
            grace = pod["metadata"].get("deletionGracePeriodSeconds")
            if grace is None:
                grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
            self._terminate(float(grace))

    def abandon(self, grace: float = 1.0) -> None:
        """The pod is gone (or the agent stops): kill everything, write nothing more, clean up."""
        self.abandoned.set()
        self._terminate(grace)
        if self._terminator is not None:
            self._terminator.join()
        self.thread.join(timeout=grace + 10)
        shutil.rmtree(self.dir, ignore_errors=True)  # its volumes and logs

    def _terminate(self, grace: float) -> None:
        with self.lock:
            if self._terminator is not None:
                return
            self.stopping.set()
            self._terminator = threading.Thread(target=self._stop_all, args=(grace,), daemon=True)
            self._terminator.start()

    def _stop_all(self, grace: float) -> None:
        def announce(process: Process) -> None:
            container = next(c for c in self.init + self.main if c.process is process)
            self.ctx.events.emit(self.pod, "Normal", "Killing", f"Stopping container {container.name}", container.field_path)

        with self.lock:
            processes = [c.process for c in self.init + self.main if c.process is not None]
        stop_processes(processes, grace, announce)

    # ----- the pod's life ---------------------------------------------------------------

    def _run(self) -> None:
        try:
            if self._lost_containers():
                return
            self.publish()
            if self._mount_volumes() and self._run_init_containers():
                runners = [
                    threading.Thread(target=self._run_container, args=(c,), name=f"ctr-{c.name}", daemon=True)
                    for c in self.main
                ]
                for runner in runners:
                    runner.start()
                for runner in runners:
                    runner.join()
        except Exception:
            log.exception("pod %s/%s: worker failed", self.namespace, self.name)
        finally:
            self._finish()

    def _lost_containers(self) -> bool:
        """Containers an earlier agent process started cannot be re-attached: report them lost.

        Like the kubelet when a container vanished (ContainerStatusUnknown, exit 137), and
        never start them again: a Job's work must not run twice behind its back.
        """
        reported = {
            s["name"]: s
            for key in ("initContainerStatuses", "containerStatuses")
            for s in (self.pod.get("status") or {}).get(key) or ()
        }
        started = [c for c in self.init + self.main if (reported.get(c.name) or {}).get("containerID")]
        if not started:
            return False
        now = datetime.now(UTC)
        with self.lock:
            for container in started:
                previous = reported[container.name]
                container.restart_count = previous.get("restartCount", 0)
                container.container_id = previous["containerID"]
                terminated = (previous.get("state") or {}).get("terminated")
                container.state = (
                    Terminated(terminated.get("exitCode", 137), terminated.get("reason", "Error"), now,
                               container_id=previous["containerID"])
                    if terminated
                    else Terminated(137, "ContainerStatusUnknown", now,
                                    message="The container could not be located when the node agent restarted",
                                    container_id=previous["containerID"])
                )
        log.warning("pod %s/%s: its containers were started by an earlier agent; reporting them lost",
                    self.namespace, self.name)
        return True

    def _finish(self) -> None:
        if not self.abandoned.is_set():
            self.publish(terminal=True)
            self.stopping.wait()  # a finished pod stays until it is deleted
        if self._terminator is not None:
            self._terminator.join()
        if self.abandoned.is_set():
            return
        self._mark_never_finished()
        self.publish(terminal=True)
        self._final_delete()

    def _mark_never_finished(self) -> None:
        """Like the kubelet's TerminatePod: a deleted pod's containers all end terminated.

        Those that never ran (image pull back-off, waiting for init containers) are
        reported lost with exit code 137, so the pod's final phase is terminal.
        """
        now = datetime.now(UTC)
        with self.lock:
            for container in self.init + self.main:
                if not isinstance(container.state, Terminated):
                    container.state = Terminated(
                        137, "ContainerStatusUnknown", now,
                        message="The container could not be located when the pod was terminated",
                    )

    def _final_delete(self) -> None:
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0, "preconditions": {"uid": self.uid}}
        try:
            retry_transient(
                lambda: self.ctx.kube.request("DELETE", f"/api/v1/namespaces/{self.namespace}/pods/{self.name}",
                                              body=body),
                stop=self.abandoned, what=f"pod {self.namespace}/{self.name}: final delete")
        except ApiException as error:
            if error.status not in (404, 409):
                log.warning("pod %s/%s: final delete failed: %s", self.namespace, self.name, error)

    def _mount_volumes(self) -> bool:
        while not self.stopping.is_set():
            try:
                with self.lock:
                    pod = self.pod
                self.volumes = materialise(pod, self.dir, self._fetch, self.ctx.allocatable)
                return True
            except VolumeError as error:
                self.ctx.events.emit(self.pod, "Warning", "FailedMount", str(error))
                self.stopping.wait(RETRY_CONFIG)
        return False

    def _fetch(self, kind: str, namespace: str, name: str) -> Mapping[str, Any] | None:
        plural = {"ConfigMap": "configmaps", "Secret": "secrets"}[kind]
        return self.ctx.kube.get(f"/api/v1/namespaces/{namespace}/{plural}/{name}")

    def _lookup(self, kind: str, namespace: str, name: str) -> Mapping[str, str] | None:
        obj = self._fetch(kind, namespace, name)
        if obj is None:
            return None
        data = obj.get("data") or {}
        return envvars.decoded_secret(data) if kind == "Secret" else dict(data)

    def _run_init_containers(self) -> bool:
        for container in self.init:
            if not self._run_container(container):
                return False
            for following in self.main if container is self.init[-1] else ():
                with self.lock:
                    following.state = Waiting("ContainerCreating")
        return True

    # ----- one container ----------------------------------------------------------------

    def _set(self, container: ContainerRuntime, state: Waiting | Running | Terminated) -> None:
        with self.lock:
            container.state = state
        self.publish()

    def _resolve_image(self, container: ContainerRuntime) -> ImageRule | None:
        events, pod, path = self.ctx.events, self.pod, container.field_path
        try:
            image = apply_default_tag(container.image)
        except InvalidImageName as error:
            events.emit(pod, "Warning", "InspectFailed", str(error), path)
            events.emit(pod, "Warning", "Failed", "Error: InvalidImageName", path)
            self._set(container, Waiting("InvalidImageName", str(error)))
            self.stopping.wait()
            return None
        rule = self.ctx.images.resolve(container.image) or self.ctx.images.resolve(image)
        backoff = Backoff(10.0)
        while rule is None and not self.stopping.is_set():
            failure = pull_error(image, self.ctx.images.source)
            events.emit(pod, "Normal", "Pulling", f'Pulling image "{image}"', path)
            events.emit(pod, "Warning", "Failed", f'Failed to pull image "{image}": {failure}', path)
            events.emit(pod, "Warning", "Failed", "Error: ErrImagePull", path)
            self._set(container, Waiting("ErrImagePull", failure))
            if self.stopping.wait(2.0):
                break
            events.emit(pod, "Normal", "BackOff", f'Back-off pulling image "{image}"', path)
            events.emit(pod, "Warning", "Failed", "Error: ImagePullBackOff", path)
            self._set(container, Waiting("ImagePullBackOff", f'Back-off pulling image "{image}": ErrImagePull: {failure}'))
            self.stopping.wait(backoff.step())
        if rule is not None:
            events.emit(pod, "Normal", "Pulled", f'Container image "{container.image}" already present on machine', path)
        return rule

    def _launch_spec(self, container: ContainerRuntime, rule: ImageRule) -> LaunchSpec:
        with self.lock:
            pod = self.pod
        return launch_spec(
            pod, container.spec, rule, self.volumes, self._lookup, self.ctx.allocatable, self.ctx.kube.server_address
        )

    def _run_container(self, container: ContainerRuntime) -> bool:
        """Run until the container will not be started again; True when it succeeded."""
        events, path = self.ctx.events, container.field_path
        crash_backoff = Backoff(self.ctx.restart_backoff)
        rule = self._resolve_image(container)
        while rule is not None and not self.stopping.is_set():
            try:
                launch_spec = self._launch_spec(container, rule)
            except envvars.ContainerConfigError as error:
                events.emit(self.pod, "Warning", "Failed", f"Error: {error}", path)
                self._set(container, Waiting("CreateContainerConfigError", str(error)))
                self.stopping.wait(RETRY_CONFIG)
                continue
            try:
                process = self._start(container, launch_spec)
            except OSError as error:  # cgroup or fork trouble: the kubelet's StartError
                log.warning("pod %s/%s: cannot start %s: %s", self.namespace, self.name, container.name, error)
                self._set(container, Terminated(128, "StartError", datetime.now(UTC), message=str(error)))
                if self.stopping.is_set() or not self._restarts(container, 128):
                    return False
                self.stopping.wait(crash_backoff.step())
                continue
            code = exit_code_of(process.wait())
            finished = datetime.now(UTC)
            oom = process.oom_killed()  # ask the cgroup before release() removes it
            process.release()
            process.log.wait_closed(timeout=5.0)  # the whole output, for FallbackToLogsOnError
            self._set(container, self._terminated(container, process, code, oom, finished))
            if self.stopping.is_set():
                return False
            if not self._restarts(container, code):
                return code == 0
            delay = crash_backoff.step()
            events.emit(
                self.pod, "Warning", "BackOff",
                f"Back-off restarting failed container {container.name} in pod {self.name}_{self.namespace}({self.uid})",
                path,
            )
            with self.lock:
                container.last_state = container.state  # type: ignore[assignment]
                container.restart_count += 1
                container.container_id = ""
            self._set(
                container,
                Waiting(
                    "CrashLoopBackOff",
                    f"back-off {int(delay)}s restarting failed container={container.name} "
                    f"pod={self.name}_{self.namespace}({self.uid})",
                ),
            )
            self.stopping.wait(delay)
        return False

    def _restarts(self, container: ContainerRuntime, code: int) -> bool:
        if self.restart_policy == "Never":
            return False
        # Init containers run to completion: even with Always they restart only on failure.
        return code != 0 or (self.restart_policy == "Always" and not container.init)

    def _start(self, container: ContainerRuntime, spec: LaunchSpec) -> Process:
        instance = self.dir / "containers" / container.name / str(container.restart_count)
        container_log = ContainerLog(self.dir / "logs" / container.name / f"{container.restart_count}.log")
        label = f"{self.uid[:8]}-{container.name}"
        process = launch(spec, instance, container_log, self.ctx.memory, label)
        with self.lock:
            container.process = process
            container.container_id = process.container_id
            container.logs[process.container_id] = container_log
            container.state = Running(process.started_at)
            if self.stopping.is_set():  # deletion came while it started: it missed the SIGTERM round
                process.signal_group(signal.SIGKILL)
        self.ctx.events.emit(self.pod, "Normal", "Created", f"Created container: {container.name}", container.field_path)
        self.ctx.events.emit(self.pod, "Normal", "Started", f"Started container {container.name}", container.field_path)
        self.publish()
        return process

    def _terminated(
        self, container: ContainerRuntime, process: Process, code: int, oom: bool, finished: datetime
    ) -> Terminated:
        start_error = process.start_error()
        if start_error:
            return Terminated(128, "StartError", finished, process.started_at, start_error, process.container_id)
        # Like containerd: an OOM kill inside the container (say a step's child process) marks
        # it OOMKilled, while the exit code stays the main process's own (137 only when the
        # kernel killed that process itself).
        message = termination_message(
            container.spec.get("terminationMessagePolicy", "File"),
            process.termination_file_text(),
            process.log.tail_text(80) if code != 0 else [],
            code,
        )
        return Terminated(
            code, exit_reason(code, oom), finished, process.started_at, message, process.container_id,
        )

    # ----- status ----------------------------------------------------------------------

    def status(self, terminal: bool = False) -> dict[str, Any]:
        with self.lock:
            previous = self.published.get("conditions") or (self.pod.get("status") or {}).get("conditions") or []
            return pod_status(
                self.restart_policy,
                [c.view() for c in self.init],
                [c.view() for c in self.main],
                previous,
                self.start_time,
                datetime.now(UTC),
                terminal=terminal,
                generation=self.pod["metadata"].get("generation"),
            )

    def publish(self, terminal: bool = False) -> None:
        """Report the current status; an apiserver that is restarting is retried until it answers
        (each attempt sends the status as it is then), so no transition is ever lost."""
        with self.publish_lock:
            try:
                retry_transient(lambda: self._patch_status(terminal), stop=self.abandoned,
                                what=f"pod {self.namespace}/{self.name}: status update")
            except ApiException as error:
                if error.status not in (404, 409):   # the pod is gone, or replaced (uid precondition)
                    log.warning("pod %s/%s: status update failed: %s", self.namespace, self.name, error)

    def _patch_status(self, terminal: bool) -> None:
        status = self.status(terminal)
        if status == self.published:
            return
        self.ctx.kube.request(
            "PATCH",
            f"/api/v1/namespaces/{self.namespace}/pods/{self.name}/status",
            body={"metadata": {"uid": self.uid}, "status": status},
            content_type=STRATEGIC,
        )
        self.published = status

    def log_view(self) -> PodLogs:
        with self.lock:
            logs: dict[str, ContainerLog] = {}
            for container in self.init + self.main:
                logs.update(container.logs)
            return PodLogs(
                containers=frozenset(c.name for c in self.init + self.main),
                status=self.published or self.status(),
                logs=logs,
            )

