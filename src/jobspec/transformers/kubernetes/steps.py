"""The Kubernetes job steps, and auth.

- ``submit``: an Indexed ``batch/v1`` Job, one pod per task with the cores and gpus of
  one task; ``batch``: one pod holding the whole request and running the script.
  Before its Job, a step creates the run's ConfigMap, or adds the files written since.
  ``after`` waits here, before the Job is created, for the earlier Job to succeed
  (a Job cannot wait for another by itself). ``watch`` streams the pods' logs until
  the Job ends; ``wait`` waits; both note pods that are stuck.
- ``auth``: a kubeconfig (``KUBECONFIG`` or a path), the pod's service account, or a
  bearer token from an environment variable the step names; the token stays in
  memory (the run's `KubeRun`), never in a message or a result.

In a resumable run (the receiver's) each Job carries its step's submit key, and the
run's names come from that key, so a resumed run adopts its Jobs instead of
creating them twice.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TextIO

from jobspec.plugin import (
    AuthStep,
    BatchStep,
    Field,
    JobStatus,
    JobStep,
    Problem,
    StepBase,
    StepError,
    StepOutput,
    SubmitStep,
    script_command,
)
from jobspec.transformers.kubernetes import manifests as mf
from jobspec.transformers.kubernetes.client import Credentials, KubeError, Session, connect
from jobspec.transformers.kubernetes.ids import job_id, parse_job_id
from jobspec.transformers.kubernetes.node_affinity import node_affinity
from jobspec.transformers.kubernetes.outcome import job_outcome
from jobspec.transformers.kubernetes.pod_resources import PodResources, per_task, whole
from jobspec.transformers.kubernetes.state import kube_run, pod_stage

if TYPE_CHECKING:
    from jobspec.plugin import StepContext


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
    """submit and batch as a Kubernetes Job; the life cycle is the contract's, with the
    pods' logs followed from the API server."""

    def per_pod(self) -> PodResources:
        """What each pod asks for: one task's share (see `pod_resources`)."""
        return per_task(self.jobspec.counts)

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
        pod = self.per_pod()
        tasks = self.tasks()
        annotations = {mf.ANNOTATION_NAME: run.names.original}
        if self.get("name"):
            annotations[mf.ANNOTATION_STEP_NAME] = str(self.get("name"))
        files = run.files.items()
        return mf.JobRequest(
            name=run.names.job(self.index, self.get("name"), tasks, ctx.array_index),
            image=str(ctx.settings.get("kubernetes.image") or mf.DEFAULT_IMAGE),
            command=self.command(ctx),
            tasks=tasks,
            pod=pod,
            affinity=node_affinity(self.jobspec.system.get("constraints"))[0],
            stage=stage,
            cwd=self.jobspec.cwd or stage,
            env=self.jobspec.environment,
            jobspec_env={
                "JOBSPEC_STAGE": stage,
                "JOBSPEC_JOB_NAME": run.names.original,
                **self.allocation_env(),
                **({"JOBSPEC_ARRAY_INDEX": str(ctx.array_index)} if ctx.array_index is not None else {}),
            },
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

    def _dry_run(self, ctx: StepContext) -> tuple[str | None, mf.JobRequest, list[dict[str, Any]]]:
        """The namespace, the Job's request and the manifests (the run's ConfigMap with the
        first Job), made once per step for both describe and artifact."""
        made: tuple[str | None, mf.JobRequest, list[dict[str, Any]]] | None = getattr(self, "_planned", None)
        if made is None:
            run = kube_run(ctx)
            namespace = run.namespace(ctx)
            config_map = self._config_map(ctx, namespace)
            if config_map is not None:
                run.files.publish()
            request = self.request(ctx, namespace)
            made = (namespace, request, [d for d in (config_map, mf.job(request)) if d is not None])
            self._planned = made
        return made

    def artifact(self, ctx: StepContext) -> str | None:
        return mf.to_yaml(self._dry_run(ctx)[2])

    def describe(self, ctx: StepContext) -> str:
        namespace, request, _ = self._dry_run(ctx)
        pods = f"{request.tasks} pod{'s' if request.tasks != 1 else ''}"
        text = (
            f"would create Job {request.name} in namespace {namespace or '(the current one)'}: {pods} "
            f"of image {request.image}, {request.pod.describe()} per pod"
        )
        if self.after_names():
            text += f", once the Job of step {self.after_shown()} has succeeded (jobspec waits for it)"
        text += self.then() + self._names_note(ctx)
        return text + " (manifests on standard output)"

    def submit(self, ctx: StepContext) -> StepOutput:
        """Create the ConfigMap (or add the files written since) and the Job; with
        ``after``, first wait for the earlier Job to succeed."""
        run = kube_run(ctx)
        try:
            session = run.connect(ctx)
            namespace = run.namespace(ctx)
            assert namespace is not None  # not a dry run
            details: dict[str, Any] = {}
            after = self.after_jobs(ctx)
            if after:
                details.update(self._wait_for_earlier(ctx, session, after))
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
        if after:
            summary += f" (created after {' and '.join(after)} succeeded)"
        summary += self._names_note(ctx)
        return StepOutput(summary, job_id=the_id, details=details)

    def follow(self, ctx: StepContext, output: StepOutput) -> JobStatus:
        return self._until_done(ctx, output, ctx.output)

    def wait_for(self, ctx: StepContext, output: StepOutput) -> JobStatus:
        return self._until_done(ctx, output, None)

    def record(self, output: StepOutput, status: JobStatus) -> None:
        """The final state with what the Job and its pods said (each task's exit code)."""
        output.details.update(state=status.state, exit_code=status.exit_code, **status.details)

    def _until_done(self, ctx: StepContext, output: StepOutput, out: TextIO | None) -> JobStatus:
        """Wait for the Job to end, its pods' logs streamed to ``out`` (when given) and
        stuck pods noted; its final status, through this run's session."""
        session = kube_run(ctx).connect(ctx)
        the_id = str(output.job_id)
        namespace, name = parse_job_id(the_id)
        from jobspec.transformers.kubernetes.follow import Follower

        started = time.monotonic()

        def changed(job: dict[str, Any]) -> None:  # waiting without streaming: the live line
            ctx.events.waiting(job_outcome(job, None, the_id), time.monotonic() - started)

        with Follower(session, namespace, name, out, _noter(ctx)) as follower:
            job = session.wait_job(namespace, name, on_change=changed if out is None else None)
            pods = follower.poll() if job is not None else []
        if job is None:
            return JobStatus(the_id, "cancelled", None, ctx.transformer.name, "the Job was deleted before it ended")
        return job_outcome(job, pods, the_id)

    def _wait_for_earlier(self, ctx: StepContext, session: Session, after: tuple[str, ...]) -> dict[str, Any]:
        """Wait for the Jobs this one comes after, in turn (saying so if their pods are stuck);
        StepError unless each succeeded."""
        from jobspec.transformers.kubernetes.follow import Follower

        started = time.monotonic()
        for earlier in after:
            namespace, name = parse_job_id(earlier)
            with Follower(session, namespace, name, None, _noter(ctx)):
                job = session.wait_job(namespace, name)
            if job is None:
                raise StepError(f"not created: job {earlier} (after: {self.after_shown()}) is gone (cancelled?)")
            status = job_outcome(job, session.job_pods(namespace, name), earlier)
            if status.state != "completed":
                raise StepError(f"not created: it runs after step {self.after_shown()}, and {status.failure()}")
        shown_after: str | list[str] = after[0] if len(after) == 1 else list(after)
        return {
            "after": shown_after,
            "after_state": "completed",
            "waited_seconds": round(time.monotonic() - started, 3),
        }


def _noter(ctx: StepContext) -> Callable[[str], None]:
    """Notes about the pods, indented under the step's line."""

    def note(text: str) -> None:
        ctx.note(f"   {text}")

    return note


class KubeSubmit(KubeJobStep, SubmitStep):
    pass


class KubeBatch(KubeJobStep, BatchStep):
    """One pod with the whole request: the script holds the "allocation"."""

    def per_pod(self) -> PodResources:
        return whole(self.jobspec.counts)
