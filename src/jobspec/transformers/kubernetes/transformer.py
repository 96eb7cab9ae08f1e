"""The Kubernetes transformer: the same jobspec as Kubernetes Jobs.

- ``write`` and ``copy`` put files in the run's ConfigMap (`staged_files`); nothing is
  written on this machine.
- ``stage`` has nothing more to do: every pod mounts the same ConfigMap.
- ``submit`` and ``batch`` become Jobs, ``auth`` chooses the credentials (`steps`).

Job ids are ``k8s:<namespace>/<job name>`` (`ids`); status, wait and cancel work from
any process with the id alone.

``--dry-run`` prints the manifests as YAML after each job step's line: drop the lines
jobspec itself prints and the rest is a stream ``kubectl apply -f -`` takes
(``grep -v -e '^=> ' -e '^jobspec: '``). `KubernetesTransformer.manifests` gives the
same documents to a program.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

import yaml

from jobspec.plugin import (
    EmptyStep,
    JobLookupError,
    JobStatus,
    Problem,
    SetStep,
    Setting,
    StepError,
    Transformer,
    TransformerOptions,
    TransformerUnavailable,
    UnsetStep,
)
from jobspec.transformers.kubernetes import manifests as mf
from jobspec.transformers.kubernetes.client import INSTALL_HINT, Credentials, KubeError, Session, connect, in_cluster
from jobspec.transformers.kubernetes.ids import is_job_id, job_id, parse_job_id
from jobspec.transformers.kubernetes.node_affinity import node_affinity
from jobspec.transformers.kubernetes.outcome import job_outcome
from jobspec.transformers.kubernetes.pod_resources import resource_problems
from jobspec.transformers.kubernetes.staged_files import KubeCopy, KubeWrite
from jobspec.transformers.kubernetes.steps import KubeAuth, KubeBatch, KubeJobStep, KubeSubmit

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.plugin import PlannedStep

CANCEL_GRACE = 30.0  # seconds cancel waits for the Job and its pods to be gone


@dataclass(frozen=True)
class KubernetesOptions(TransformerOptions):
    """Which credentials status, wait and cancel by id use (a run's steps follow its
    settings and auth step): a kubeconfig file and context, else the defaults."""

    kubeconfig: str | None = None
    context: str | None = None


class KubernetesTransformer(Transformer):
    name = "kubernetes"
    description = "runs the task as Kubernetes Jobs (one pod per task); files travel in a ConfigMap"
    options_type = KubernetesOptions
    options: KubernetesOptions
    _plan_credentials = False  # whether the plan names its own credentials (see check_plan)
    settings = {
        "kubernetes.image": Setting(
            "kubernetes.image", "str", mf.DEFAULT_IMAGE, "the container image the tasks run in"
        ),
        "kubernetes.namespace": Setting(
            "kubernetes.namespace", "str", None, "the namespace (default: the kubeconfig context's, else default)"
        ),
        "kubernetes.kubeconfig": Setting(
            "kubernetes.kubeconfig", "path", None, "a kubeconfig file (default: $KUBECONFIG, else ~/.kube/config)"
        ),
    }

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Cheap: looks for credentials, talks to no server."""
        if os.environ.get("KUBECONFIG"):
            return True, "KUBECONFIG is set"
        if in_cluster():
            return True, "inside a pod with a service account"
        if Path("~/.kube/config").expanduser().is_file():
            return True, "~/.kube/config exists"
        return False, "no KUBECONFIG, ~/.kube/config or in-cluster service account"

    @classmethod
    def affinity(cls) -> int:
        """0: Kubernetes is used only when named (``-t kubernetes``). Credentials being
        at hand (a kubeconfig) says nothing about whether the user wants pods."""
        return 0

    @classmethod
    def owns_job_id(cls, job_id: str) -> bool:
        return is_job_id(job_id)

    def ensure_ready(self) -> None:
        """Credentials from here (available()), or named by the plan itself: an auth step
        with a token, a kubeconfig or in_cluster, or the kubernetes.kubeconfig setting.
        First of all the client library: without it, no step may start."""
        import importlib.util

        if importlib.util.find_spec("kubernetes") is None:  # looked for, not imported: that is slow
            raise TransformerUnavailable(f"transformer {self.name} cannot run here: {INSTALL_HINT}")
        if self._plan_credentials:
            self._ready = True
            return
        super().ensure_ready()

    def ignored(self, jobspec: Jobspec) -> list[str]:
        from jobspec.document.coverage import unread

        return unread(jobspec, vertex_fields=("id", "exclusive"), node_count=True)

    def check_plan(self, jobspec: Jobspec, steps: list[PlannedStep]) -> list[Problem]:
        self._plan_credentials = any(
            planned.settings.get("kubernetes.kubeconfig")
            or (
                isinstance(planned.step, KubeAuth)
                and any(planned.step.get(k) for k in ("token_env", "kubeconfig", "in_cluster"))
            )
            for planned in steps
        )
        problems: list[Problem] = []
        task = jobspec.task_path
        for key in jobspec.environment:
            reason = mf.env_name_problem(key)
            if reason:
                problems.append(Problem(reason, path=("attributes", "system", "environment", key)))
        files = mf.FileSet()
        over = False
        for planned in steps:
            step, settings = planned.step, planned.settings
            path = (*task, "transform", planned.index)
            namespace = settings.get("kubernetes.namespace")
            if namespace is not None and not mf.is_dns_label(str(namespace)):
                problems.append(
                    Problem(
                        f"kubernetes.namespace {namespace!r} is not a Kubernetes namespace name "
                        "(lowercase letters, digits and '-', at most 63)",
                        path=path,
                    )
                )
            stage = settings.get("stage")
            if stage is not None and not PurePosixPath(str(stage)).is_absolute():
                problems.append(
                    Problem(f"stage {stage!r} must be an absolute path: it is where the pods see the files", path=path)
                )
            kubeconfig = settings.get("kubernetes.kubeconfig")
            if kubeconfig is not None and not Path(str(kubeconfig)).expanduser().is_file():
                problems.append(Problem(f"kubernetes.kubeconfig: no such file: {kubeconfig}", path=path))
            if isinstance(step, (KubeWrite, KubeCopy)) and not over:
                found = step.plan_files(files)
                problems += [Problem(p, path=path) for p in found]
                limit = files.limit_problem()
                if limit and not found:
                    problems.append(Problem(limit, path=path))
                    over = True
            if isinstance(step, KubeJobStep):
                reason = mf.image_problem(str(settings.get("kubernetes.image") or ""))
                if reason:
                    problems.append(Problem(reason, path=path))
                refused = resource_problems(jobspec.counts, jobspec.resources, task, batch=isinstance(step, KubeBatch))
                refused += node_affinity(jobspec.system.get("constraints"))[1]
                for problem in refused:
                    if problem.message not in {p.message for p in problems}:
                        problems.append(problem)
                tasks = step.tasks()
                if tasks > mf.MAX_INDEXED_COMPLETIONS:
                    problems.append(
                        Problem(
                            f"asks for {tasks} tasks; a Kubernetes Indexed Job holds at most "
                            f"{mf.MAX_INDEXED_COMPLETIONS} pods",
                            path=(*task, "count"),
                        )
                    )
                files.publish()
        return problems

    # -- job life cycle, by job id, from any process

    def _session(self) -> Session:
        return connect(Credentials(kubeconfig=self.options.kubeconfig, context=self.options.context))

    def _status(self, the_id: str, job: dict[str, Any], pods: list[dict[str, Any]]) -> JobStatus:
        """The Job's status, with the jobspec's name and the run it belongs to."""
        status = job_outcome(job, pods, the_id)
        meta = job.get("metadata") or {}
        status.details["name"] = (meta.get("annotations") or {}).get(mf.ANNOTATION_NAME)
        status.details["run"] = (meta.get("labels") or {}).get(mf.LABEL_RUN)
        return status

    def find_job(self, key: str) -> str | None:
        """The Job a resumable run created with ``key`` (a label holds its hash): looked for
        in the credentials' namespace, then in every namespace the credentials may list."""
        try:
            session = self._session()
            found = session.find_jobs(f"{mf.LABEL_SUBMIT_KEY}={mf.key_label(key)}")
        except KubeError as e:  # the engine asks this while running a step: failures are the step's
            raise StepError(str(e)) from None
        for job in found:
            meta = job.get("metadata") or {}
            if (meta.get("annotations") or {}).get(mf.LABEL_SUBMIT_KEY) == key:
                return job_id(meta.get("namespace") or session.namespace, meta["name"])
        return None

    def _missing(self, the_id: str) -> JobLookupError:
        namespace, name = parse_job_id(the_id)
        return JobLookupError(
            f"no Kubernetes Job {name} in namespace {namespace} (cancel deletes a Job, and its record with it)"
        )

    def status(self, job_id: str) -> JobStatus:
        namespace, name = parse_job_id(job_id)
        session = self._session()
        job = session.read_job(namespace, name)
        if job is None:
            raise self._missing(job_id)
        return self._status(job_id, job, session.job_pods(namespace, name))

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        namespace, name = parse_job_id(job_id)
        session = self._session()
        if session.read_job(namespace, name) is None:
            raise self._missing(job_id)
        job = session.wait_job(namespace, name, timeout)
        if job is None:
            return JobStatus(job_id, "cancelled", None, self.name, "the Job was deleted while waiting for it")
        return self._status(job_id, job, session.job_pods(namespace, name))

    def cancel(self, job_id: str) -> JobStatus:
        """Delete the Job with its pods (foreground: the pods go first); a Job that
        already ended is left as it is, as for the other transformers."""
        namespace, name = parse_job_id(job_id)
        session = self._session()
        job = session.read_job(namespace, name)
        if job is None:
            raise self._missing(job_id)
        pods = session.job_pods(namespace, name)
        current = self._status(job_id, job, pods)
        if current.done:
            return current
        session.delete_job(namespace, name, "Foreground")
        deadline = time.monotonic() + CANCEL_GRACE
        while session.read_job(namespace, name) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        gone = session.read_job(namespace, name) is None
        reason = "the Job and its pods were deleted" if gone else "the Job is being deleted with its pods"
        return JobStatus(job_id, "cancelled", None, self.name, reason, current.details)

    # -- the manifests a dry run prints, for library use

    def manifests(self, source: Any) -> list[dict[str, Any]]:
        """The ConfigMap and Jobs a run of ``source`` would create, as dicts, without
        creating anything: the YAML a dry run's job steps hand on (their artifacts), read back."""
        result = self.run(source, dry_run=True, quiet=True)
        documents: list[dict[str, Any]] = []
        for step in result.steps:
            if step.artifact and step.artifact.startswith("---"):
                documents += [d for d in yaml.safe_load_all(step.artifact) if d]
        return documents


for _step in (KubeWrite, KubeCopy, SetStep, UnsetStep, KubeSubmit, KubeBatch, KubeAuth):
    KubernetesTransformer.register_step(_step)
KubernetesTransformer.register_step(EmptyStep, name="stage")  # every pod mounts the same ConfigMap
