"""The job steps every transformer implements in its own way: submit, batch, stage, auth.

These classes hold what is common (fields, plan-time rules, the task's command);
each transformer subclasses them and supplies `run`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobspec.document.problems import Problem
from jobspec.steps.base import Field, StepBase, StepOutput

if TYPE_CHECKING:
    from jobspec.engine.run import StepContext

JOB_STEPS = ("submit", "batch")  # the steps that start jobs (never twice in a journaled run)

_JOB_FIELDS: Mapping[str, Field] = {
    "watch": Field(bool, help="stream the job's output and wait for it to end"),
    "wait": Field(bool, help="wait for the job to end, without streaming"),
    "after": Field(str, help="the name of an earlier submit or batch step this job waits for"),
}


def script_command(path: str | Path, content: str) -> list[str]:
    """How to run a script file: by its ``#!`` line (as the kernel would), else with sh.

    Used whether or not the file is executable, so a script written without
    ``executable: true`` runs the same way.
    """
    if content.startswith("#!"):
        first = content[2:].split("\n", 1)[0].strip()
        if first:
            # Linux passes everything after the interpreter as one argument
            return [*first.split(None, 1), str(path)]
    return ["/bin/sh", str(path)]


class JobStep(StepBase):
    """Common ground of submit and batch: a script (or the task's command) that becomes a job."""

    def check(self, settings: Mapping[str, Any], earlier: Sequence[StepBase] = ()) -> Iterator[Problem]:
        filename = self.get("filename")
        if filename is None:
            if not self.jobspec.command:
                yield Problem(
                    "needs a filename (a script to run) since the task has no command",
                    path=self.path,
                )
            return
        written = any(s.name == "write" and s.get("filename") == filename for s in earlier)
        if not written and settings.get("stage") is None and filename in self.scripts:
            yield Problem(
                f"'{filename}' is not written before this step: add a write step for it first",
                path=(*self.path, "filename"),
            )
        if self.get("watch") and self.get("wait") is False:
            yield Problem("watch: true always waits; drop wait: false", path=(*self.path, "wait"))

    def after_job(self, ctx: StepContext) -> str | None:
        """The job id this step's job waits for (``after:``), if any."""
        after = self.get("after")
        if after is None:
            return None
        if ctx.dry_run:
            return f"<job of step {after}>"
        return ctx.job_id(after)

    @property
    def waits(self) -> bool:
        return bool(self.get("watch") or self.get("wait"))

    def command(self, ctx: StepContext) -> list[str]:
        """The task's command: the named script in the staging directory, or task.command."""
        filename = self.get("filename")
        if filename is None:
            return list(self.jobspec.command or [])
        return script_command(ctx.stage_path(filename), self.scripts[filename]["content"])


class SubmitStep(JobStep):
    name = "submit"
    description = "run filename (or task.command) as the task, with the jobspec's resources"
    fields = {
        "filename": Field(str, script=True, in_stage=True, help="the script to run (default: task.command)"),
        **_JOB_FIELDS,
    }


class BatchStep(JobStep):
    name = "batch"
    description = "submit filename as a batch script that holds the allocation"
    fields = {
        "filename": Field(str, required=True, script=True, in_stage=True, help="the batch script"),
        **_JOB_FIELDS,
    }


class StageStep(StepBase):
    name = "stage"
    description = "make the staged files present on every node (nothing when sharedfs is true)"
    fields = {}

    def describe(self, ctx: StepContext) -> str:
        if ctx.settings.get("sharedfs", True):
            return "nothing to do: sharedfs is true"
        return f"would make {ctx.describe_path('.')} present on every node"

    def run(self, ctx: StepContext) -> StepOutput:
        if ctx.settings.get("sharedfs", True):
            return StepOutput("skipped (sharedfs)")
        return self.stage(ctx)

    def stage(self, ctx: StepContext) -> StepOutput:
        raise NotImplementedError(f"stage without a shared filesystem is not implemented for {ctx.transformer.name}")


class AuthStep(StepBase):
    name = "auth"
    description = "authenticate with the service that later steps talk to"
    open_fields = True  # each transformer's auth takes its own fields
