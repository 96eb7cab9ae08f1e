"""The job steps, submit and batch, and their life cycle, written once.

A backend supplies small hooks (the way psij-python's batch executor asks each
scheduler for a few pieces): `JobStep.submit` starts the job and returns its id;
`JobStep.follow` (for ``watch: true``) and `JobStep.wait_for` (for ``wait: true``)
have defaults that use the transformer's ``status`` and ``wait``. The rest (waiting
or not, reading the final state, "job 42 failed with exit code 3", the job's
environment) is here. ``stage`` and ``auth`` are declared here and implemented by
each backend.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from jobspec.document.problems import JobspecError, Problem
from jobspec.plugin.arrays import array_indexes
from jobspec.plugin.errors import JobLookupError, StepError, TransformerError
from jobspec.plugin.follow import error_sink, follow_files
from jobspec.plugin.progress import wait_reporting
from jobspec.plugin.steps import Field, StepBase, StepOutput

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.plugin.context import StepContext
    from jobspec.plugin.status import JobStatus
    from jobspec.plugin.transformer import Transformer

JOB_STEPS = ("submit", "batch")  # the steps that start jobs (never twice in a resumable run)

_JOB_FIELDS: Mapping[str, Field] = {
    "watch": Field(bool, help="stream the job's output and wait for it to end"),
    "wait": Field(bool, help="wait for the job to end, without streaming"),
    "after": Field(
        (str, list),
        help="the name (or a list of names) of earlier submit or batch steps whose jobs, every element of an "
        "array, must complete before this one starts",
    ),
    "array": Field(str, help="one job per index (0-9, 1,3,5-7, 0-15:4), each with JOBSPEC_ARRAY_INDEX"),
    # A job of its own (what a next-generation task or group is lowered into): these stand
    # in for the document's resources, task slot/count/command and attributes, for this job.
    "resources": Field(list, help="this job's own resource graph (v1 vertices), in place of the document's"),
    "slot": Field(str, help="the slot label in this job's resources"),
    "count": Field(dict, help="this job's task count: per_slot or total"),
    "command": Field(list, help="this job's command, in place of task.command"),
    "attributes": Field(dict, help="this job's attributes (system: duration, cwd, environment, job.name)"),
    "requires": Field(list, help="what this job requires of the nodes (name, field, value entries)"),
    "alternatives": Field(list, help="the resource sets this job could use; it uses the first"),
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

    # How soon `follow` first asks the job's status, and how often at the slowest (seconds)
    poll_first: ClassVar[float] = 0.05
    poll_longest: ClassVar[float] = 0.5

    def __init__(self, jobspec: Jobspec, options: Mapping[str, Any], index: int = 0) -> None:
        super().__init__(jobspec, options, index)
        self.document = jobspec
        # Every backend reads the job through self.jobspec: a step with a job of its own
        # (resources, command, attributes) sees them in place of the document's.
        self.jobspec = jobspec.job_view(self.options)

    def choose(self, transformer: Transformer, settings: Mapping[str, Any]) -> list[Problem]:
        """Of ``alternatives`` (resource sets a|b), take the first ``transformer`` can give."""
        alternatives = self.get("alternatives")
        if not isinstance(alternatives, list) or not alternatives:
            return []
        bad = [
            i for i, a in enumerate(alternatives) if not isinstance(a, dict) or not isinstance(a.get("resources"), list)
        ]
        if bad:
            return [
                Problem(
                    "each alternative is a mapping with a name and resources (a list)",
                    (*self.path, "alternatives", bad[0]),
                )
            ]
        passed: list[str] = []
        for alternative in alternatives:
            options = {**self.options, "resources": alternative["resources"]}
            if "requires" in alternative:
                options["requires"] = alternative["requires"]
            view = self.document.job_view(options)
            try:
                reason = transformer.cannot_give(view.counts)
            except JobspecError:
                reason = "its resource graph has no slot"
            if reason is None:
                self.options, self.jobspec = options, view
                self.chosen = (str(alternative.get("name")), passed)
                return []
            passed.append(f"{alternative.get('name')}: {reason}")
        names = " | ".join(str(a.get("name")) for a in alternatives)
        return [
            Problem(
                f"{transformer.name} can give none of the resources {names} ({'; '.join(passed)})",
                path=(*self.path, "alternatives"),
            )
        ]

    def own_job_problems(self) -> Iterator[Problem]:
        """The step's own resources, slot and count, checked as a document's would be."""
        if self.jobspec is self.document:
            return
        from jobspec.document.validate import rule_problems, schema_problems

        found = list(schema_problems(self.jobspec.data)) or list(rule_problems(self.jobspec))
        for problem in found:
            rest = problem.path
            if rest[:1] in (("task",), ("tasks",)):
                rest = rest[2:] if rest[:1] == ("tasks",) else rest[1:]
                if rest[:1] not in (("slot",), ("count",), ("command",)):
                    continue  # the document's own task: checked where it stands
            problem.path = (*self.path, *rest)
            yield problem

    def check(self, settings: Mapping[str, Any], earlier: Sequence[StepBase] = ()) -> Iterator[Problem]:
        yield from self.own_job_problems()
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
        if isinstance(self.get("array"), str):
            try:
                array_indexes(self.get("array"))
            except ValueError as e:
                yield Problem(str(e), path=(*self.path, "array"))

    # ---------------------------------------------------------------- what the job is

    def tasks(self) -> int:
        """How many tasks the backend starts: the task count (a batch script: one)."""
        return self.jobspec.counts.tasks

    def allocation_env(self) -> dict[str, str]:
        """Variables that describe the allocation to a script that holds it (batch)."""
        return {}

    def environment(self, ctx: StepContext) -> dict[str, str]:
        """The job's environment beyond the submitting one: the jobspec's, the staging
        directory, for batch the allocation's shape, and in an array the element's index."""
        env = {**self.jobspec.environment, "JOBSPEC_STAGE": str(ctx.stage), **self.allocation_env()}
        if ctx.array_index is not None:
            env["JOBSPEC_ARRAY_INDEX"] = str(ctx.array_index)
        return env

    def after_names(self) -> list[str]:
        """The earlier steps named by ``after:`` (one name, or a list of them)."""
        after = self.get("after")
        if after is None:
            return []
        return [after] if isinstance(after, str) else [str(name) for name in after]

    def after_jobs(self, ctx: StepContext) -> tuple[str, ...]:
        """The job ids this step's job waits for (``after:``): each named step's job, and
        every element's where that step is an array. Empty without ``after:``."""
        if ctx.dry_run:
            return tuple(f"<job of step {name}>" for name in self.after_names())
        return tuple(job_id for name in self.after_names() for job_id in ctx.job_ids(name))

    def after_shown(self) -> str:
        """``after:`` in words, for step lines: 'first', or 'first', 'second' and 'third'."""
        names = [f"'{name}'" for name in self.after_names()]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"

    @property
    def waits(self) -> bool:
        return bool(self.get("watch") or self.get("wait"))

    def command(self, ctx: StepContext) -> list[str]:
        """The task's command: the named script in the staging directory, or task.command."""
        filename = self.get("filename")
        if filename is None:
            return list(self.jobspec.command or [])
        return script_command(ctx.stage_path(filename), self.scripts[filename]["content"])

    def notes(self, ctx: StepContext) -> list[str]:
        """For a job of its own: what it asks for, what it waits for, and what of it this
        system does not act on (shown under the step line, in a dry run and a run)."""
        if self.jobspec is self.document:
            return []
        counts = self.jobspec.counts
        nodes = f"{counts.nodes} node{'s' if counts.nodes != 1 else ''}, " if counts.nodes else ""
        gpus = f" and {_many(counts.gpus_per_task, 'gpu')}" if counts.gpus_per_task else ""
        tasks = f"{counts.tasks} task{'s' if counts.tasks != 1 else ''}"
        what = "batch job" if self.name == "batch" else "job"
        lines = [f"{what} {self.jobspec.name}: {nodes}{tasks}, each {_many(counts.cores_per_task, 'core')}{gpus}"]
        if self.after_names():
            lines.append(f"starts after the job of step {self.after_shown()} has completed")
        alternatives = self.get("alternatives")
        if alternatives:
            names = " | ".join(str(a.get("name")) for a in alternatives)
            chosen, passed = getattr(self, "chosen", (alternatives[0].get("name"), []))
            why = f" ({'; '.join(passed)})" if passed else ""
            lines.append(f"resources: '{chosen}', of {names} the first {ctx.transformer.name} does not rule out{why}")
        requires = self.get("requires")
        if requires:
            shown_reqs = ", ".join(_requirement_text(r) for r in requires)
            lines.append(f"requires {shown_reqs}: {ctx.transformer.requirements_note(requires)}")
        return lines

    def then(self) -> str:
        """The end of a dry-run line: an array's size, and what happens after submitting."""
        text = ""
        spec = self.get("array")
        if isinstance(spec, str):
            text += f", as {len(array_indexes(spec))} jobs, one per index of {spec} (JOBSPEC_ARRAY_INDEX)"
        if self.get("watch"):
            return text + ", then stream its output until it ends"
        if self.get("wait"):
            return text + ", then wait for it to end"
        return text

    # ---------------------------------------------------------------- the life cycle

    def run(self, ctx: StepContext) -> StepOutput:
        spec = self.get("array")
        if spec is None and not self.waits and ctx.state.pipelined and not self._adoptable(ctx):
            answer = self.start_submit(ctx)
            if answer is not None:  # sent: the engine takes the answer before anything else
                return StepOutput("submitting", later=lambda: self._submitted(ctx, answer()))
        elements = [ctx] if spec is None else [replace(ctx, array_index=i) for i in array_indexes(spec)]
        outputs: list[StepOutput] = []
        for element in elements:
            try:
                started = self.start(element)
            except StepError as e:
                if spec is None or not outputs:
                    raise
                submitted = {str(el.array_index): o.job_id for el, o in zip(elements, outputs, strict=False)}
                raise StepError(
                    f"element {element.array_index} of the array: {e}", StepOutput(details={"array": submitted})
                ) from None
            outputs.append(self._submitted(element, started))
        ctx.state.look_up_next_job = False  # later steps never started before a cut-short attempt
        failures = []
        for element, output in zip(elements, outputs, strict=True):
            if self.waits:
                failure = self.finish(element, output)
                if failure:
                    failures.append(failure)
        if spec is None:
            if failures:
                raise StepError(failures[0], outputs[0])
            return outputs[0]
        ids = {str(e.array_index): o.job_id for e, o in zip(elements, outputs, strict=True)}
        shown = " ".join(str(i) for i in list(ids.values())[:4]) + (" ..." if len(ids) > 4 else "")
        output = StepOutput(f"{len(ids)} jobs: {shown}", job_id=outputs[0].job_id, details={"array": ids})
        if failures:
            raise StepError(f"{len(failures)} of {len(ids)} jobs did not complete: {'; '.join(failures[:3])}", output)
        return output

    def _submitted(self, ctx: StepContext, output: StepOutput) -> StepOutput:
        if output.job_id is not None:
            ctx.events.submitted(output.job_id, ctx.transformer.name, self.label, output.details, self.waits)
        return output

    def _adoptable(self, ctx: StepContext) -> bool:
        """Whether a cut-short attempt may have submitted this step's job (see `start`)."""
        return ctx.submit_key is not None and ctx.state.look_up_next_job

    def start(self, ctx: StepContext) -> StepOutput:
        """The job of a resumed run's cut-short attempt, found by its key, else a new one."""
        if self._adoptable(ctx):
            job_id = ctx.transformer.find_job(str(ctx.submit_key))
            if job_id is not None:
                return StepOutput(job_id, job_id=job_id, details={"adopted": True})
        return self.submit(ctx)

    def finish(self, ctx: StepContext, output: StepOutput) -> str | None:
        """Wait for (or follow) the job and record its end; why it did not complete, or None."""
        assert output.job_id is not None, f"{type(self).__name__}.submit returned no job id"
        try:
            if output.details.get("adopted"):  # nothing of its submission is known but its id
                status = ctx.transformer.wait(output.job_id)
            elif self.get("watch"):
                status = self.follow(ctx, output)
            else:
                status = self.wait_for(ctx, output)
        except (TransformerError, JobLookupError) as e:
            return f"job {output.job_id}: {e}"
        ctx.events.ended(status)
        self.record(output, status)
        return status.failure() if status.state != "completed" else None

    def submit(self, ctx: StepContext) -> StepOutput:
        """Start the job; its id in ``job_id`` (and, where the job writes them to files the
        submitting host can read, ``details["stdout"]`` and ``details["stderr"]``)."""
        raise NotImplementedError(f"step {self.label} is not implemented by {ctx.transformer.name}")

    def start_submit(self, ctx: StepContext) -> Callable[[], StepOutput] | None:
        """Send the job without waiting for the scheduler's answer, and return what waits
        for it (and gives what `submit` would have returned): a pipelined run sends its next
        jobspec's job meanwhile. None (the default) where the backend cannot split the two;
        then `submit` is used. The answer is asked for on the thread that sent the job."""
        return None

    def follow(self, ctx: StepContext, output: StepOutput) -> JobStatus:
        """Stream the job's output until it ends; its final status. By default the output
        files named in the details, with the transformer's ``status`` asked as they grow."""
        job_id = str(output.job_id)
        streams = [
            (str(output.details[key]), sink)
            for key, sink in (("stdout", ctx.output), ("stderr", error_sink(ctx.output)))
            if output.details.get(key)
        ]
        return follow_files(
            streams, lambda: ctx.transformer.status(job_id), first=self.poll_first, longest=self.poll_longest
        )

    def wait_for(self, ctx: StepContext, output: StepOutput) -> JobStatus:
        """Wait for the job to end, without streaming, telling ``ctx.events`` its state
        as it goes (the command's live line); its final status."""
        return wait_reporting(str(output.job_id), ctx.transformer.wait, ctx.events)

    def record(self, output: StepOutput, status: JobStatus) -> None:
        """Put the final status into the step's details."""
        output.details.update(state=status.state, exit_code=status.exit_code)


def _many(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


def _requirement_text(entry: Mapping[str, Any]) -> str:
    name = entry.get("name", "?")
    key = entry.get("field", "?")
    value = entry.get("value", entry.get("match", "?"))
    return f"{name}:{key}={value}"


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

    def tasks(self) -> int:
        return 1  # the script holds the allocation and starts the work itself

    def allocation_env(self) -> dict[str, str]:
        counts = self.jobspec.counts
        return {
            "JOBSPEC_NODES": str(counts.nodes or 1),
            "JOBSPEC_TASKS": str(counts.tasks),
            "JOBSPEC_CORES_PER_TASK": str(counts.cores_per_task),
        }

    def environment(self, ctx: StepContext) -> dict[str, str]:
        """Also JOBSPEC_LAUNCH, the command the script starts its tasks with on this system."""
        env = super().environment(ctx)
        launcher = ctx.transformer.launcher()
        if launcher is not None:
            env["JOBSPEC_LAUNCH"] = shlex.join(launcher)
        return env


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
