"""The Kubernetes transformer: the same jobspec as Kubernetes Jobs.

- ``write`` and ``copy`` put files in the run's ConfigMap (nothing is written on this
  machine); it is created, or grown, right before the first Job that mounts it, and
  each Job mounts it read-only at the staging path with the files' modes.
- ``stage`` has nothing more to do: every pod mounts the same ConfigMap.
- ``submit``: an Indexed ``batch/v1`` Job, one pod per task with the cores and gpus of
  one task; ``batch``: one pod holding the whole request and running the script.
  ``watch`` streams the pods' logs until the Job ends; ``wait`` waits; ``after`` waits
  here for the earlier Job to succeed before creating this one.
- ``auth``: a kubeconfig (``KUBECONFIG`` or a path), the pod's service account, or a
  bearer token from an environment variable the step names; the token stays in
  memory (the run's secrets), never in a message or a result.

Job ids are ``k8s:<namespace>/<job name>``: the prefix tells them from local, Flux and
Slurm ids at a glance, and the id alone finds the Job from any process. In a resumable
run (the receiver's) each Job carries its step's submit key, and the run's names come
from that key, so a resumed run adopts its Jobs instead of creating them twice.

``--dry-run`` prints the manifests as YAML after each job step's line: drop the lines
jobspec itself prints and the rest is a stream ``kubectl apply -f -`` takes
(``grep -v -e '^=> ' -e '^jobspec: '``).
"""

from __future__ import annotations

import io
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from jobspec.document.problems import Problem
from jobspec.engine.settings import Setting
from jobspec.steps import (
    AuthStep,
    BatchStep,
    CopyStep,
    EmptyStep,
    Field,
    SetStep,
    StepError,
    StepOutput,
    SubmitStep,
    UnsetStep,
    WriterStep,
)
from jobspec.steps.base import StepBase
from jobspec.steps.jobs import JobStep, script_command
from jobspec.steps.paths import outside_reason
from jobspec.transformers.base import JobLookupError, JobStatus, Transformer
from jobspec.transformers.kubernetes import manifests as mf

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.engine.plan import PlannedStep
    from jobspec.engine.run import StepContext
    from jobspec.transformers.kubernetes.client import Credentials, Session

ID_PREFIX = "k8s:"
_JOB_ID = re.compile(r"k8s:([a-z0-9]([-a-z0-9]*[a-z0-9])?)/([a-z0-9]([-a-z0-9]*[a-z0-9])?)")
RUN_KEY = "kubernetes.run"  # the run's state, in ctx.state.secrets (it holds the session's credentials)
CANCEL_GRACE = 30.0  # seconds cancel waits for the Job and its pods to be gone


def job_id(namespace: str, name: str) -> str:
    return f"{ID_PREFIX}{namespace}/{name}"


def parse_job_id(text: str) -> tuple[str, str]:
    """``k8s:<namespace>/<name>`` -> (namespace, name); JobLookupError otherwise."""
    found = _JOB_ID.fullmatch(text)
    if found is None or len(found.group(1)) > mf.MAX_NAME or len(found.group(3)) > mf.MAX_NAME:
        raise JobLookupError(f"'{text}' is not a Kubernetes job id (they look like k8s:<namespace>/<job name>)")
    return found.group(1), found.group(3)


# ---------------------------------------------------------------------------- the run's state


class KubeRun:
    """What the steps of one run share: its names, its files, its session."""

    def __init__(self, jobspec: Jobspec, key_prefix: str | None = None) -> None:
        self.names = mf.RunNames(jobspec.name, mf.new_run_id(key_prefix))
        self.files = mf.FileSet()
        self.credentials: Credentials | None = None  # set by an auth step
        self.session: Session | None = None
        self.documents: list[dict[str, Any]] = []  # what a dry run printed, in order

    def connect(self, ctx: StepContext) -> Session:
        if self.session is None:
            from jobspec.transformers.kubernetes.client import Credentials, connect

            creds = self.credentials or Credentials(kubeconfig=ctx.settings.get("kubernetes.kubeconfig"))
            self.session = connect(creds)
        return self.session

    def namespace(self, ctx: StepContext) -> str | None:
        """The namespace: the setting in force, else (running) the kubeconfig context's or
        the service account's; None in a dry run without the setting, so that kubectl
        applies the manifests to its own current namespace."""
        configured = ctx.settings.get("kubernetes.namespace")
        if configured or ctx.dry_run:
            return str(configured) if configured else None
        return self.connect(ctx).namespace

    def labels(self, step_index: int | None = None) -> dict[str, str]:
        return mf.run_labels(self.names, step_index)


def kube_run(ctx: StepContext) -> KubeRun:
    run = ctx.state.secrets.get(RUN_KEY)
    if not isinstance(run, KubeRun):
        key = None if ctx.dry_run else ctx.submit_key  # a resumable run's: "<run's prefix>.<step>"
        run = ctx.state.secrets[RUN_KEY] = KubeRun(ctx.jobspec, key.rsplit(".", 1)[0] if key else None)
    return run


def pod_stage(settings: Mapping[str, Any]) -> str:
    """The staging directory inside the pods: the stage setting, else /jobspec."""
    return str(settings.get("stage") or mf.DEFAULT_STAGE)


# ---------------------------------------------------------------------------- files


def _mode(executable: bool) -> int:
    return 0o755 if executable else 0o644


def copied_files(source: Path, destination: str) -> Iterator[tuple[str, Path, int]]:
    """(path in the stage, local file, mode) for a copy step, directories walked in order."""
    if not source.is_dir():
        yield destination, source, _mode(bool(source.stat().st_mode & 0o111))
        return
    seen: set[str] = set()
    for root, dirs, files in os.walk(source, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:  # a symbolic link back up the tree
            dirs[:] = []
            continue
        seen.add(real)
        dirs.sort()
        for name in sorted(files):
            local = Path(root, name)
            relative = local.relative_to(source).as_posix()
            if not local.is_file():
                continue  # a socket, a fifo, a dangling link: nothing a ConfigMap can hold
            yield str(PurePosixPath(destination, relative)), local, _mode(bool(local.stat().st_mode & 0o111))


class KubeWrite(WriterStep):
    """write: the script goes into the run's ConfigMap."""

    def _put(self, ctx: StepContext) -> mf.StagedFile:
        run = kube_run(ctx)
        content = str(self.scripts[self.target]["content"]).encode("utf-8")
        staged = run.files.put(self.target, content, _mode(bool(self.get("executable"))))
        return staged

    def describe(self, ctx: StepContext) -> str:
        staged = self._put(ctx)
        return (
            f"would put {staged.path} ({len(staged.data)} bytes, mode {staged.mode:04o}) in ConfigMap "
            f"{kube_run(ctx).names.run} (key {staged.key}), mounted at {PurePosixPath(pod_stage(ctx.settings))}"
        )

    def run(self, ctx: StepContext) -> StepOutput:
        staged = self._put(ctx)
        problem = kube_run(ctx).files.limit_problem()
        if problem:
            raise StepError(problem)
        return StepOutput(
            f"{staged.path} -> ConfigMap {kube_run(ctx).names.run}",
            details={"config_map": kube_run(ctx).names.run, "key": staged.key, "mode": f"{staged.mode:04o}"},
        )


class KubeCopy(CopyStep):
    """copy: the local file, or every file under the local directory, goes into the ConfigMap."""

    def _put(self, ctx: StepContext) -> list[mf.StagedFile]:
        run = kube_run(ctx)
        staged = []
        try:
            for path, local, mode in copied_files(self.source, self.destination):
                reason = outside_reason(path) or mf.path_problem(path)
                if reason:
                    raise StepError(f"cannot copy {local}: {reason}")
                staged.append(run.files.put(path, local.read_bytes(), mode))
        except OSError as e:
            raise StepError(f"cannot copy {self.source}: {e.strerror or e}") from None
        return staged

    def describe(self, ctx: StepContext) -> str:
        staged = self._put(ctx)
        size = sum(len(f.data) for f in staged)
        what = staged[0].path if len(staged) == 1 else f"{len(staged)} files under {self.destination}/"
        return f"would put {what} ({size} bytes) from {self.source} in ConfigMap {kube_run(ctx).names.run}"

    def run(self, ctx: StepContext) -> StepOutput:
        staged = self._put(ctx)
        problem = kube_run(ctx).files.limit_problem()
        if problem:
            raise StepError(problem)
        return StepOutput(
            f"{self.destination} -> ConfigMap {kube_run(ctx).names.run}",
            details={
                "source": str(self.source),
                "config_map": kube_run(ctx).names.run,
                "files": {f.path: f.key for f in staged},
            },
        )


# ---------------------------------------------------------------------------- auth


class KubeAuth(AuthStep):
    """auth: which credentials the later steps use. A token is read from the
    environment variable the step names, kept in memory, and never shown."""

    open_fields = False
    fields = {
        "kubeconfig": Field(
            str, help="a kubeconfig file (default: kubernetes.kubeconfig, $KUBECONFIG, ~/.kube/config)"
        ),
        "context": Field(str, help="the kubeconfig context (default: its current one)"),
        "in_cluster": Field(bool, help="use the pod's service account (default: when there is no kubeconfig)"),
        "token_env": Field(str, help="the name of an environment variable holding a bearer token"),
        "server": Field(str, help="the API server's URL, for a token (default: the kubeconfig's, or in-cluster)"),
        "certificate_authority": Field(str, help="a CA bundle file the server's certificate is checked against"),
    }

    def check(self, settings: Mapping[str, Any], earlier: Sequence[StepBase] = ()) -> Iterator[Problem]:
        token_env = self.get("token_env")
        if token_env is not None:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", token_env):
                # never echo it: it may be the token itself, pasted in the wrong place
                yield Problem(
                    "token_env names an environment variable that holds the token (letters, digits and _), "
                    "not the token itself",
                    path=(*self.path, "token_env"),
                )
            elif token_env not in os.environ:
                yield Problem(f"the environment variable {token_env} is not set", path=(*self.path, "token_env"))
        if self.get("in_cluster") and self.get("kubeconfig"):
            yield Problem("give kubeconfig or in_cluster: true, not both", path=(*self.path, "in_cluster"))
        if self.get("server") and not token_env:
            yield Problem("server goes with token_env (a kubeconfig names its own server)", path=(*self.path, "server"))
        for key in ("kubeconfig", "certificate_authority"):
            value = self.get(key)
            if value and not Path(value).expanduser().is_file():
                yield Problem(f"no such file: {value}", path=(*self.path, key))

    def credentials(self, ctx: StepContext) -> Credentials:
        from jobspec.transformers.kubernetes.client import Credentials

        token_env = self.get("token_env")
        token = os.environ.get(token_env) if token_env else None
        if token_env and not token:
            raise StepError(f"the environment variable {token_env} is empty or not set")
        kubeconfig = self.get("kubeconfig") or ctx.settings.get("kubernetes.kubeconfig")
        return Credentials(
            kubeconfig=str(Path(kubeconfig).expanduser()) if kubeconfig else None,
            context=self.get("context"),
            in_cluster=self.get("in_cluster"),
            token=token,
            token_env=token_env,
            server=self.get("server"),
            certificate_authority=self.get("certificate_authority"),
        )

    def _what(self, ctx: StepContext) -> str:
        if self.get("token_env"):
            where = self.get("server") or "the kubeconfig's or the pod's API server"
            return f"a bearer token from ${self.get('token_env')} (not shown) for {where}"
        if self.get("in_cluster"):
            return "the pod's service account"
        kubeconfig = self.get("kubeconfig") or ctx.settings.get("kubernetes.kubeconfig") or "$KUBECONFIG"
        return f"kubeconfig {kubeconfig}" + (f" (context {self.get('context')})" if self.get("context") else "")

    def describe(self, ctx: StepContext) -> str:
        return f"would authenticate with {self._what(ctx)} and check it by listing Jobs"

    def run(self, ctx: StepContext) -> StepOutput:
        from jobspec.transformers.kubernetes.client import KubeError, connect

        run = kube_run(ctx)
        run.credentials = self.credentials(ctx)
        try:
            run.session = connect(run.credentials)
            namespace = run.namespace(ctx)
            assert namespace is not None  # not a dry run
            run.session.check(namespace)
        except KubeError as e:
            raise StepError(str(e)) from None
        session = run.session
        return StepOutput(
            f"{session.origin}, namespace {namespace}",
            details={"server": session.host, "as": session.origin, "namespace": namespace},
        )


# ---------------------------------------------------------------------------- submit and batch


class KubeJobStep(JobStep):
    """submit and batch as a Kubernetes Job."""

    def tasks(self) -> int:
        return self.jobspec.counts.tasks

    def per_pod(self) -> tuple[int, int]:
        counts = self.jobspec.counts
        return counts.cores_per_task, counts.gpus_per_task

    def allocation_env(self) -> dict[str, str]:
        return {}

    def command(self, ctx: StepContext) -> list[str]:
        """The script at its path inside the pods, or task.command."""
        filename = self.get("filename")
        if filename is None:
            return list(self.jobspec.command or [])
        path = PurePosixPath(pod_stage(ctx.settings), filename)
        return script_command(str(path), self.scripts[filename]["content"])

    def request(self, ctx: StepContext, namespace: str | None) -> mf.JobRequest:
        run = kube_run(ctx)
        stage = pod_stage(ctx.settings)
        cpu, gpus = self.per_pod()
        tasks = self.tasks()
        annotations = {mf.ANNOTATION_NAME: run.names.original}
        if self.get("name"):
            annotations[mf.ANNOTATION_STEP_NAME] = str(self.get("name"))
        files = run.files.items()
        return mf.JobRequest(
            name=run.names.job(self.index, self.get("name"), tasks),
            image=str(ctx.settings.get("kubernetes.image") or mf.DEFAULT_IMAGE),
            command=self.command(ctx),
            tasks=tasks,
            cpu=cpu,
            gpus=gpus,
            stage=stage,
            cwd=self.jobspec.cwd or stage,
            env=self.jobspec.environment,
            jobspec_env={"JOBSPEC_STAGE": stage, "JOBSPEC_JOB_NAME": run.names.original, **self.allocation_env()},
            duration=self.jobspec.duration,
            namespace=namespace,
            config_map=run.names.run if files else None,
            items=files,
            labels=run.labels(self.index),
            annotations=annotations,
            submit_key=None if ctx.dry_run else ctx.submit_key,
        )

    def _config_map(self, ctx: StepContext, namespace: str | None) -> dict[str, Any] | None:
        """The ConfigMap as it must be before this Job, or None if it already is."""
        run = kube_run(ctx)
        if not run.files.pending:
            return None
        problem = run.files.limit_problem()
        if problem:
            raise StepError(problem)
        return mf.config_map(
            run.names.run,
            run.files.content(),
            namespace,
            run.labels(),
            {mf.ANNOTATION_NAME: run.names.original},
        )

    def _names_note(self, ctx: StepContext) -> str:
        run = kube_run(ctx)
        changes = [c for c in (mf.renaming(run.names.original, run.names.base),) if c]
        step_name = self.get("name")
        if step_name and mf.dns_label(step_name, mf.STEP_NAME_PART, "step") != step_name:
            changes.append(f"{step_name!r} -> {mf.dns_label(step_name, mf.STEP_NAME_PART, 'step')!r}")
        return f"; names made valid for Kubernetes: {', '.join(changes)}" if changes else ""

    def describe(self, ctx: StepContext) -> str:
        run = kube_run(ctx)
        namespace = run.namespace(ctx)
        config_map = self._config_map(ctx, namespace)
        if config_map is not None:
            run.files.publish()
        request = self.request(ctx, namespace)
        manifest = mf.job(request)
        documents = [d for d in (config_map, manifest) if d is not None]
        run.documents.extend(documents)
        pods = f"{request.tasks} pod{'s' if request.tasks != 1 else ''}"
        gpus = f" and {request.gpus} gpu{'s' if request.gpus != 1 else ''}" if request.gpus else ""
        text = (
            f"would create Job {request.name} in namespace {namespace or '(the current one)'}: {pods} "
            f"of image {request.image}, {max(1, request.cpu)} cpu{gpus} per pod"
        )
        if self.get("after"):
            text += f", once the Job of step '{self.get('after')}' has succeeded (jobspec waits for it)"
        if self.get("watch"):
            text += ", then stream its logs until it ends"
        elif self.get("wait"):
            text += ", then wait for it to end"
        text += self._names_note(ctx)
        return text + "\n" + mf.to_yaml(documents).rstrip("\n")

    def run(self, ctx: StepContext) -> StepOutput:
        from jobspec.transformers.kubernetes.client import Follower, KubeError, job_outcome

        run = kube_run(ctx)
        try:
            session = run.connect(ctx)
            namespace = run.namespace(ctx)
            assert namespace is not None  # not a dry run
            details: dict[str, Any] = {}
            after = self.after_job(ctx)
            if after is not None:
                details.update(self._wait_for(ctx, session, after))
            config_map = self._config_map(ctx, namespace)
            if config_map is not None:
                session.apply_config_map(config_map)
                run.files.publish()
            request = self.request(ctx, namespace)
            session.create_job(mf.job(request))
        except KubeError as e:
            raise StepError(str(e)) from None
        the_id = job_id(namespace, request.name)
        details.update(
            job=request.name,
            namespace=namespace,
            tasks=request.tasks,
            image=request.image,
            config_map=request.config_map,
            labels={mf.LABEL_RUN: run.names.run},
        )
        summary = the_id
        if after is not None:
            summary += f" (created after {after} succeeded)"
        summary += self._names_note(ctx)
        output = StepOutput(summary, job_id=the_id, details=details)
        if not self.waits:
            return output
        try:
            with Follower(
                session, namespace, request.name, ctx.output if self.get("watch") else None, _noter(ctx)
            ) as follower:
                job = session.wait_job(namespace, request.name)
                pods = follower.poll() if job is not None else []
            if job is None:
                raise StepError(f"job {the_id} was deleted before it ended", output)
            outcome = job_outcome(job, pods)
        except KubeError as e:
            raise StepError(str(e), output) from None
        output.details.update(state=outcome.state, exit_code=outcome.exit_code, **outcome.details)
        if outcome.state != "completed":
            raise StepError(_failure(the_id, outcome.state, outcome.exit_code, outcome.reason), output)
        return output

    def _wait_for(self, ctx: StepContext, session: Session, after: str) -> dict[str, Any]:
        """Wait for the Job this one comes after (saying so if its pods are stuck);
        StepError unless it succeeded."""
        from jobspec.transformers.kubernetes.client import Follower, job_outcome

        namespace, name = parse_job_id(after)
        started = time.monotonic()
        with Follower(session, namespace, name, None, _noter(ctx)):
            job = session.wait_job(namespace, name)
        if job is None:
            raise StepError(f"not created: job {after} (after: {self.get('after')}) is gone (cancelled?)")
        outcome = job_outcome(job, session.job_pods(namespace, name))
        if outcome.state != "completed":
            why = _failure(after, outcome.state, outcome.exit_code, outcome.reason)
            raise StepError(f"not created: it runs after step '{self.get('after')}', and {why}")
        return {"after": after, "after_state": outcome.state, "waited_seconds": round(time.monotonic() - started, 3)}


def _noter(ctx: StepContext) -> Callable[[str], None]:
    def note(text: str) -> None:
        ctx.reporter.note(f"   {text}")

    return note


def _failure(the_id: str, state: str, exit_code: int | None, reason: str | None) -> str:
    why = f" ({reason})" if reason else ""
    if state == "failed" and exit_code is not None:
        return f"job {the_id} failed with exit code {exit_code}{why}"
    return f"job {the_id} {state}{why}"


class KubeSubmit(KubeJobStep, SubmitStep):
    pass


class KubeBatch(KubeJobStep, BatchStep):
    """One pod with the whole request: the script holds the "allocation"."""

    def tasks(self) -> int:
        return 1

    def per_pod(self) -> tuple[int, int]:
        counts = self.jobspec.counts
        return max(1, counts.cores), counts.gpus

    def allocation_env(self) -> dict[str, str]:
        counts = self.jobspec.counts
        return {
            "JOBSPEC_NODES": str(counts.nodes or 1),
            "JOBSPEC_TASKS": str(counts.tasks),
            "JOBSPEC_CORES_PER_TASK": str(counts.cores_per_task),
        }


# ---------------------------------------------------------------------------- the transformer


class KubernetesTransformer(Transformer):
    name = "kubernetes"
    description = "runs the task as Kubernetes Jobs (one pod per task); files travel in a ConfigMap"
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
        from jobspec.transformers.kubernetes.client import SERVICE_ACCOUNT_DIR

        if os.environ.get("KUBERNETES_SERVICE_HOST") and (SERVICE_ACCOUNT_DIR / "token").is_file():
            return True, "inside a pod with a service account"
        if Path("~/.kube/config").expanduser().is_file():
            return True, "~/.kube/config exists"
        return False, "no KUBECONFIG, ~/.kube/config or in-cluster service account"

    @classmethod
    def owns_job_id(cls, job_id: str) -> bool:
        return _JOB_ID.fullmatch(job_id) is not None

    def ensure_ready(self) -> None:
        """Credentials from here (available()), or named by the plan itself: an auth step
        with a token, a kubeconfig or in_cluster, or the kubernetes.kubeconfig setting."""
        if getattr(self, "_plan_credentials", False):
            self._ready = True
            return
        super().ensure_ready()

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
                found = _plan_files(step, files)
                problems += [Problem(p, path=path) for p in found]
                limit = files.limit_problem()
                if limit and not found:
                    problems.append(Problem(limit, path=path))
                    over = True
            if isinstance(step, KubeJobStep):
                reason = mf.image_problem(str(settings.get("kubernetes.image") or ""))
                if reason:
                    problems.append(Problem(reason, path=path))
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
        from jobspec.transformers.kubernetes.client import Credentials, connect

        return connect(Credentials(kubeconfig=self.options.get("kubeconfig"), context=self.options.get("context")))

    def _status(self, the_id: str, job: dict[str, Any], pods: list[dict[str, Any]]) -> JobStatus:
        from jobspec.transformers.kubernetes.client import job_outcome

        outcome = job_outcome(job, pods)
        meta = job.get("metadata") or {}
        details = dict(outcome.details)
        details["name"] = (meta.get("annotations") or {}).get(mf.ANNOTATION_NAME)
        details["run"] = (meta.get("labels") or {}).get(mf.LABEL_RUN)
        return JobStatus(the_id, outcome.state, outcome.exit_code, self.name, outcome.reason, details)

    def find_job(self, key: str) -> str | None:
        """The Job a resumable run created with ``key`` (a label holds its hash): looked for
        in the credentials' namespace, then in every namespace the credentials may list."""
        from jobspec.transformers.kubernetes.client import KubeError

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
        creating anything (a dry run's documents)."""
        from jobspec.engine.plan import plan
        from jobspec.engine.run import Reporter, RunState, StepContext

        the_plan = plan(source, self)
        state = RunState(dry_run=True)
        reporter = Reporter(stream=io.StringIO(), output=io.StringIO(), color=False)
        for planned in the_plan.steps:
            ctx = StepContext(the_plan.jobspec, self, planned.settings, state, reporter)
            planned.step.describe(ctx)
        found = state.secrets.get(RUN_KEY)
        return list(found.documents) if isinstance(found, KubeRun) else []


def _plan_files(step: StepBase, files: mf.FileSet) -> list[str]:
    """Add what a write or copy step would put in the ConfigMap; the problems found.
    Reads a copied file only while the total stays under the ConfigMap's limit."""
    problems: list[str] = []
    if isinstance(step, KubeWrite):
        reason = mf.path_problem(step.target)
        if reason:
            return [reason]
        content = str(step.scripts[step.target]["content"]).encode("utf-8")
        files.put(step.target, content, _mode(bool(step.get("executable"))))
    elif isinstance(step, KubeCopy):
        if not step.source.exists():
            return []  # the copy step's own check says so
        try:
            for path, local, mode in copied_files(step.source, step.destination):
                reason = outside_reason(path) or mf.path_problem(path)
                if reason:
                    problems.append(f"cannot copy {local}: {reason}")
                    continue
                if files.size() + local.stat().st_size > mf.CONFIG_MAP_LIMIT:
                    files.put(path, b"\0" * (mf.CONFIG_MAP_LIMIT + 1), mode)  # over: no need to read it
                    break
                files.put(path, local.read_bytes(), mode)
        except OSError as e:
            problems.append(f"cannot read {step.source}: {e.strerror or e}")
    return problems


for _step in (KubeWrite, KubeCopy, SetStep, UnsetStep, KubeSubmit, KubeBatch, KubeAuth):
    KubernetesTransformer.register_step(_step)
KubernetesTransformer.register_step(EmptyStep, name="stage")  # every pod mounts the same ConfigMap
