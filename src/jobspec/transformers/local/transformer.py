"""The local transformer: the built-in default where no cluster is at hand.

``submit`` starts the task count from the resources as processes on this machine
(each with its rank in JOBSPEC_TASK_RANK and the count in JOBSPEC_TASK_COUNT);
``batch`` starts the script as one process holding the "allocation"; ``stage`` has
nothing to do on one node; ``auth`` is empty. Output goes to ``<job id>.out`` and
``<job id>.err`` in the staging directory.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobspec.document.problems import JobspecError, Problem
from jobspec.plugin import (
    BatchStep,
    CopyStep,
    EmptyStep,
    JobLookupError,
    JobStatus,
    JobStep,
    SetStep,
    Setting,
    StepError,
    StepOutput,
    SubmitStep,
    Transformer,
    TransformerError,
    UnsetStep,
    WriterStep,
)
from jobspec.transformers.local import jobs

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.document.resources import ResourceCounts
    from jobspec.plugin import PlannedStep, StepContext


def unreserved(counts: ResourceCounts) -> list[str]:
    """Warnings for what the graph asks that this machine neither reserves nor checks:
    the tasks run as plain processes here. (The node count is not warned about: running
    every task here is what local is for, and JOBSPEC_NODES tells a batch script.)"""
    asked = []
    if counts.gpus:
        asked.append(f"{counts.gpus} gpus")
    if counts.memory:
        asked.append(f"{counts.memory} MiB of memory")
    if counts.sockets_per_node or counts.sockets_per_slot:
        asked.append("sockets")
    if counts.nodes_max or counts.ranges:
        asked.append("count ranges (the minimum is counted)")
    if not asked:
        return []
    return [f"warning: local runs the tasks as processes on this machine: {', '.join(asked)} not reserved or checked"]


class LocalJobStep(JobStep):
    """submit and batch on this machine: a supervised group of processes."""

    # the job's state is a file here: cheap to read, so watched output keeps up closely
    poll_first = 0.005
    poll_longest = 0.1

    def spec(self, ctx: StepContext) -> dict[str, Any]:
        stage = ctx.stage
        return {
            "name": self.jobspec.name,
            "kind": self.name,
            "argv": self.command(ctx),
            "cwd": self.jobspec.cwd or str(stage),
            "env": self.environment(ctx),
            "ntasks": self.tasks(),
            "duration": self.jobspec.duration,
            "after": list(self.after_jobs(ctx)),
            "key": ctx.submit_key,
        }

    def describe(self, ctx: StepContext) -> str:
        spec = self.spec(ctx)
        tasks = spec["ntasks"]
        text = (
            f"would start {tasks} task{'s' if tasks != 1 else ''} of `{shlex.join(spec['argv'])}` "
            f"in {spec['cwd']}, output to {ctx.describe_path('<job id>.out')}"
        )
        if spec["duration"]:
            text += f", time limit {spec['duration']:g} s"
        if self.after_names():
            text += f", after the job of step {self.after_shown()} completes"
        return text + self.then() + "".join(f"\n   {line}" for line in unreserved(self.jobspec.counts))

    def artifact(self, ctx: StepContext) -> str | None:
        return shlex.join(self.spec(ctx)["argv"])

    def submit(self, ctx: StepContext) -> StepOutput:
        spec = self.spec(ctx)
        if not os.path.isdir(spec["cwd"]):
            raise StepError(f"the working directory {spec['cwd']} (attributes.system.cwd) does not exist")
        stage = ctx.stage
        job_id = jobs.new_job_id()
        spec["stdout"] = str(stage / f"{job_id}.out")
        spec["stderr"] = str(stage / f"{job_id}.err")
        for line in unreserved(self.jobspec.counts):
            ctx.note(f"   {line}")
        job = jobs.submit(spec, job_id=job_id)
        return StepOutput(
            job.id, job_id=job.id, details={"stdout": spec["stdout"], "stderr": spec["stderr"], "tasks": spec["ntasks"]}
        )


class LocalSubmit(LocalJobStep, SubmitStep):
    pass


class LocalBatch(LocalJobStep, BatchStep):
    pass


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
    def affinity(cls) -> int:
        return 1  # always here, and the last resort

    def launcher(self) -> list[str]:
        return [sys.executable, str(Path(__file__).with_name("launch.py"))]

    def cannot_give(self, counts: ResourceCounts) -> str | None:
        """One machine: no more cores than it has, and no GPUs unless it has some."""
        cores = os.cpu_count() or 1
        if counts.gpus and not _has_gpus():
            return "this machine has no GPUs"
        if counts.cores_per_slot > cores:
            return f"a slot of {counts.cores_per_slot} cores, and this machine has {cores}"
        return None

    @classmethod
    def owns_job_id(cls, job_id: str) -> bool:
        return job_id.startswith(jobs.ID_PREFIX)

    def ignored(self, jobspec: Jobspec) -> list[str]:
        from jobspec.document.coverage import unread

        return unread(jobspec, vertex_fields=("id", "exclusive"))

    def check_plan(self, jobspec: Jobspec, steps: list[PlannedStep]) -> list[Problem]:
        problems = []
        for planned in steps:
            if planned.step.name != "submit":
                continue
            limit = planned.settings.get("local.max_tasks", 256)
            try:
                tasks = planned.step.jobspec.counts.tasks  # the step's own job, where it has one
            except JobspecError:
                continue  # a graph without that slot: reported where the step is checked
            if tasks > limit:
                problems.append(
                    Problem(
                        f"asks for {tasks} tasks, and the local transformer starts each as a process "
                        f"here: more than local.max_tasks ({limit}); raise it with a set step if you mean it",
                        path=(*jobspec.task_path, "count"),
                    )
                )
                break
        if jobspec.system.get("constraints") and any(p.step.name in ("submit", "batch") for p in steps):
            problems.append(
                Problem(
                    "the local transformer runs the tasks on this machine and cannot choose nodes: remove "
                    "attributes.system.constraints here, or run on flux, slurm or kubernetes",
                    path=("attributes", "system", "constraints"),
                )
            )
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

    def _answer(self, job_id: str, look: Callable[[jobs.LocalJob], Mapping[str, Any]]) -> JobStatus:
        job = self._job(job_id)
        try:
            return self._status(job, look(job))
        except (ValueError, KeyError, TypeError, AttributeError, OSError) as e:  # a record someone broke
            raise TransformerError(
                f"the record of local job {job_id} is unreadable ({type(e).__name__}: {e}); remove {job.dir} if stale"
            ) from None

    def status(self, job_id: str) -> JobStatus:
        return self._answer(job_id, jobs.LocalJob.state)

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        return self._answer(job_id, lambda job: jobs.wait(job, timeout))

    def cancel(self, job_id: str) -> JobStatus:
        return self._answer(job_id, jobs.cancel)


def _has_gpus() -> bool:
    """Whether this machine has an NVIDIA or AMD GPU device."""
    return any(Path(p).exists() for p in ("/dev/nvidia0", "/dev/kfd"))


for _step in (WriterStep, CopyStep, SetStep, UnsetStep, LocalSubmit, LocalBatch):
    LocalTransformer.register_step(_step)
LocalTransformer.register_step(EmptyStep, name="stage")  # one node: nothing to stage
LocalTransformer.register_step(EmptyStep, name="auth")  # nothing to authenticate with
