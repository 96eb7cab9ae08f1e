"""The local transformer: the built-in default where no cluster is at hand.

``submit`` starts the task count from the resources as processes on this machine
(each with its rank in JOBSPEC_TASK_RANK and the count in JOBSPEC_TASK_COUNT);
``batch`` starts the script as one process holding the "allocation"; ``stage`` has
nothing to do on one node; ``auth`` is empty. Output goes to ``<job id>.out`` and
``<job id>.err`` in the staging directory.
"""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TextIO

from jobspec.document.problems import Problem
from jobspec.engine.settings import Setting
from jobspec.steps import (
    BatchStep,
    CopyStep,
    EmptyStep,
    SetStep,
    StepError,
    StepOutput,
    SubmitStep,
    UnsetStep,
    WriterStep,
)
from jobspec.steps.jobs import JobStep
from jobspec.transformers.base import JobLookupError, JobStatus, Transformer
from jobspec.transformers.local import jobs

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.engine.plan import PlannedStep
    from jobspec.engine.run import StepContext


class LocalJobStep(JobStep):
    """submit and batch on this machine."""

    def tasks(self) -> int:
        return self.jobspec.counts.tasks

    def spec(self, ctx: StepContext) -> dict[str, Any]:
        stage = ctx.stage
        return {
            "name": self.jobspec.name,
            "kind": self.name,
            "argv": self.command(ctx),
            "cwd": self.jobspec.cwd or str(stage),
            "env": {**self.jobspec.environment, "JOBSPEC_STAGE": str(stage), **self.allocation_env()},
            "ntasks": self.tasks(),
            "duration": self.jobspec.duration,
            "after": self.after_job(ctx),
            "key": ctx.submit_key,
        }

    def allocation_env(self) -> dict[str, str]:
        return {}

    def describe(self, ctx: StepContext) -> str:
        spec = self.spec(ctx)
        tasks = spec["ntasks"]
        text = (
            f"would start {tasks} task{'s' if tasks != 1 else ''} of `{shlex.join(spec['argv'])}` "
            f"in {spec['cwd']}, output to {ctx.describe_path('<job id>.out')}"
        )
        if spec["duration"]:
            text += f", time limit {spec['duration']:g} s"
        if self.get("after"):
            text += f", after step '{self.get('after')}' completes"
        if self.get("watch"):
            text += ", then stream its output until it ends"
        elif self.get("wait"):
            text += ", then wait for it to end"
        return text

    def run(self, ctx: StepContext) -> StepOutput:
        spec = self.spec(ctx)
        stage = ctx.stage
        job_id = jobs.new_job_id()
        spec["stdout"] = str(stage / f"{job_id}.out")
        spec["stderr"] = str(stage / f"{job_id}.err")
        job = jobs.submit(spec, job_id=job_id)
        output = StepOutput(job.id, job_id=job.id, details={"stdout": spec["stdout"], "stderr": spec["stderr"]})
        output.details["tasks"] = spec["ntasks"]
        if self.waits:
            if self.get("watch"):
                state = follow(job, spec["stdout"], spec["stderr"], ctx.output)
            else:
                state = jobs.wait(job)
            output.details.update(state=state["state"], exit_code=state.get("exit_code"))
            if state["state"] != "completed":
                raise StepError(_failure(job.id, state), output)
        return output


class LocalSubmit(LocalJobStep, SubmitStep):
    pass


class LocalBatch(LocalJobStep, BatchStep):
    def tasks(self) -> int:
        return 1  # the script holds the allocation and starts the work itself

    def allocation_env(self) -> dict[str, str]:
        counts = self.jobspec.counts
        return {
            "JOBSPEC_NODES": str(counts.nodes or 1),
            "JOBSPEC_TASKS": str(counts.tasks),
            "JOBSPEC_CORES_PER_TASK": str(counts.cores_per_task),
        }


def _failure(job_id: str, state: Mapping[str, Any]) -> str:
    reason = f" ({state['reason']})" if state.get("reason") else ""
    if state.get("state") == "failed" and state.get("exit_code") is not None:
        return f"job {job_id} failed with exit code {state['exit_code']}{reason}"
    return f"job {job_id} {state.get('state')}{reason}"


def follow(job: jobs.LocalJob, stdout: str, stderr: str, out: TextIO) -> dict[str, Any]:
    """Stream the job's output files as they grow; return its final state."""
    streams = [(stdout, out), (stderr, sys.stderr if out is sys.stdout else out)]
    offsets = {stdout: 0, stderr: 0}

    def drain() -> None:
        for path, sink in streams:
            try:
                with open(path, "rb") as fh:
                    fh.seek(offsets[path])
                    data = fh.read()
            except FileNotFoundError:
                continue
            if data:
                offsets[path] += len(data)
                sink.write(data.decode("utf-8", "replace"))
                sink.flush()

    delay = 0.005
    while True:
        state = job.read_state()
        drain()
        if state.get("state") in jobs.FINAL:
            drain()
            return state
        if delay >= 0.05:
            state = job.state()
            if state.get("state") in jobs.FINAL:
                drain()
                return state
        time.sleep(delay)
        delay = min(delay * 1.5, 0.1)


class LocalTransformer(Transformer):
    name = "local"
    description = "runs the task as processes on this machine; jobs outlive the command"
    settings = {
        "local.max_tasks": Setting(
            "local.max_tasks", "int", 256, "the most tasks (processes) one submit may start here"
        ),
    }

    @classmethod
    def available(cls) -> tuple[bool, str]:
        return True, "this machine"

    @classmethod
    def owns_job_id(cls, job_id: str) -> bool:
        return job_id.startswith(jobs.ID_PREFIX)

    def check_plan(self, jobspec: Jobspec, steps: list[PlannedStep]) -> list[Problem]:
        problems = []
        for planned in steps:
            if planned.step.name != "submit":
                continue
            limit = planned.settings.get("local.max_tasks", 256)
            tasks = jobspec.counts.tasks
            if tasks > limit:
                problems.append(
                    Problem(
                        f"asks for {tasks} tasks, and the local transformer starts each as a process "
                        f"here: more than local.max_tasks ({limit}); raise it with a set step if you mean it",
                        path=(*jobspec.task_path, "count"),
                    )
                )
                break
        return problems

    def _job(self, job_id: str) -> jobs.LocalJob:
        try:
            job = jobs.LocalJob(job_id)
        except KeyError:
            raise JobLookupError(f"'{job_id}' is not a local job id (they look like local-19ab...)") from None
        if not job.exists:
            raise JobLookupError(f"no local job {job_id} (looked in {job.dir.parent})")
        return job

    def _status(self, job: jobs.LocalJob, state: Mapping[str, Any]) -> JobStatus:
        spec = job.spec
        details = {k: state[k] for k in ("started", "ended", "task_exit_codes") if k in state}
        details.update(stdout=spec.get("stdout"), stderr=spec.get("stderr"), name=spec.get("name"))
        return JobStatus(job.id, state["state"], state.get("exit_code"), self.name, state.get("reason"), details)

    def find_job(self, key: str) -> str | None:
        job = jobs.find_by_key(key)
        return job.id if job is not None else None

    def status(self, job_id: str) -> JobStatus:
        job = self._job(job_id)
        return self._status(job, job.state())

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        job = self._job(job_id)
        return self._status(job, jobs.wait(job, timeout))

    def cancel(self, job_id: str) -> JobStatus:
        job = self._job(job_id)
        return self._status(job, jobs.cancel(job))


for _step in (WriterStep, CopyStep, SetStep, UnsetStep, LocalSubmit, LocalBatch):
    LocalTransformer.register_step(_step)
LocalTransformer.register_step(EmptyStep, name="stage")  # one node: nothing to stage
LocalTransformer.register_step(EmptyStep, name="auth")  # nothing to authenticate with
