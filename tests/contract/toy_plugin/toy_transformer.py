"""A toy transformer, as a plugin author writes one: runs the task's command (one
process per task, one after another) under a small shell that records its exit code.

Jobs are folders under $JOBSPEC_STATE_DIR/toy/<job id>, so status and wait work from
any process. It imports only `jobspec.plugin`, the contract.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from jobspec.plugin import (
    CopyStep,
    EmptyStep,
    JobLookupError,
    JobStatus,
    SetStep,
    Setting,
    StepContext,
    StepOutput,
    SubmitStep,
    Transformer,
    TransformerOptions,
    UnsetStep,
    WriterStep,
)

# "$@" is the task's argv, never parsed by the shell; its exit code lands in a file
RUNNER = 'for i in $(seq "$TOY_TASKS"); do "$@" || echo $? > "$TOY_DIR/failed"; done; touch "$TOY_DIR/ended"'


def jobs_dir() -> Path:
    return Path(os.environ.get("JOBSPEC_STATE_DIR", "/tmp")) / "toy"


@dataclass(frozen=True)
class ToyOptions(TransformerOptions):
    greeting: str = "hello"


class ToySubmit(SubmitStep):
    def describe(self, ctx: StepContext) -> str:
        return f"would run {self.tasks()} task(s) of {self.command(ctx)}{self.then()}"

    def submit(self, ctx: StepContext) -> StepOutput:
        job_id = f"toy-{os.getpid()}-{time.monotonic_ns()}"
        folder = jobs_dir() / job_id
        folder.mkdir(parents=True)
        stdout, stderr = ctx.stage / f"{job_id}.out", ctx.stage / f"{job_id}.err"
        env = {**os.environ, **self.environment(ctx), "TOY_TASKS": str(self.tasks()), "TOY_DIR": str(folder)}
        with open(stdout, "wb") as out, open(stderr, "wb") as err:
            subprocess.Popen(
                ["/bin/sh", "-c", RUNNER, "toy", *self.command(ctx)],
                stdout=out,
                stderr=err,
                env=env,
                cwd=self.jobspec.cwd or ctx.stage,
                start_new_session=True,
            )
        return StepOutput(job_id, job_id=job_id, details={"stdout": str(stdout), "stderr": str(stderr)})


class ToyTransformer(Transformer):
    name = "toy"
    description = "a test plugin: the task's processes, one after another"
    settings = {"toy.colour": Setting("toy.colour", "str", None, "a colour nobody uses")}
    options_type = ToyOptions
    options: ToyOptions

    @classmethod
    def owns_job_id(cls, job_id: str) -> bool:
        return job_id.startswith("toy-")

    def status(self, job_id: str) -> JobStatus:
        folder = jobs_dir() / job_id
        if not self.owns_job_id(job_id) or "/" in job_id or not folder.is_dir():
            raise JobLookupError(f"no toy job {job_id}")
        if not (folder / "ended").exists():
            return JobStatus(job_id, "running", transformer=self.name)
        failed = folder / "failed"
        code = int(failed.read_text()) if failed.exists() else 0
        return JobStatus(job_id, "failed" if code else "completed", code, self.name)

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            status = self.status(job_id)
            if status.done or (deadline is not None and time.monotonic() > deadline):
                return status
            time.sleep(0.01)


for _step in (WriterStep, CopyStep, SetStep, UnsetStep, ToySubmit):
    ToyTransformer.register_step(_step)
ToyTransformer.register_step(EmptyStep, name="stage")
