"""The Flux transformer: the default inside a Flux instance.

``submit`` builds the job's own Flux jobspec (`jobspec_v1`: the resource graph as
written, the script in the staging directory as the task, cwd, duration,
environment, a name, ``afterok`` for ``after:``) and submits it; ``watch: true``
streams its output and ends with its exit code, ``wait: true`` waits. ``batch``
submits the script the way ``flux batch`` does. ``stage`` (with ``sharedfs:
false``) copies the staging directory to every other broker rank with
``flux archive`` (the entries after ``--``, the archive removed whatever happens).
``auth`` is empty: inside an instance there is nothing to log in to. Flux's shell
renders ``{{...}}`` templates: command arguments are encoded so they arrive as
written, and a stage with ``{{`` is refused for output files (`templates`).

Flux is reached through flux-core's Python bindings when they import, else
through the ``flux`` command (setting ``flux.interface``); both submit the same
jobspec. Outside a Flux instance the plan is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import json
import os
import posixpath
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from jobspec.plugin import (
    BatchStep,
    CopyStep,
    EmptyStep,
    JobLookupError,
    JobStatus,
    JobStep,
    Problem,
    SetStep,
    Setting,
    StageStep,
    StepError,
    StepOutput,
    SubmitStep,
    Transformer,
    TransformerError,
    TransformerOptions,
    TransformerUnavailable,
    UnsetStep,
    WriterStep,
    error_sink,
    wait_reporting,
)
from jobspec.transformers.flux import command_lines, jobids, limits, resume, rfc25, templates
from jobspec.transformers.flux.client import (
    INTERFACES,
    Client,
    FluxError,
    JobNotFound,
    bindings_present,
    command_path,
    connect,
    instance_uri,
)
from jobspec.transformers.flux.jobspec_v1 import FluxJob, batch_job, submit_job, to_jobspec, v1_problems

if TYPE_CHECKING:
    from jobspec.plugin import Jobspec, PlannedStep, StepContext

INTERFACE = Setting(
    "flux.interface",
    "str",
    "auto",
    "how to reach Flux: bindings (flux-core's Python module), command (the flux command), "
    "or auto: the bindings when they import, else the command",
)

FLUXION = Setting(
    "flux.fluxion",
    "bool",
    False,
    "the instance schedules with flux-sched (Fluxion), which honours memory and socket vertices: "
    "pass them to Flux as written (flux-core's own scheduler ignores them, so they are refused without this)",
)

NOT_IN_INSTANCE = (
    "not inside a Flux instance (FLUX_URI is not set): start one with `flux start --test-size=4` "
    "and run jobspec in it, or choose another transformer with -t"
)


def _client(settings: Mapping[str, Any]) -> Client:
    """The client for the step's ``flux.interface`` setting (made once per process)."""
    try:
        return connect(str(settings.get("flux.interface") or "auto"))
    except FluxError as e:
        raise StepError(str(e)) from None


class FluxJobStep(JobStep):
    """submit and batch as Flux jobs: the life cycle is the contract's; Flux streams a
    watched job's output itself (from the KVS), and waits for it."""

    def flux_job(self, ctx: StepContext) -> FluxJob:
        raise NotImplementedError

    def output_stage(self, ctx: StepContext) -> str:
        """The staging directory, refused when the job's output files would go there and
        Flux's shell would read a template in its name (see `check_plan`)."""
        stage = str(ctx.stage)
        problem = None if self.get("watch") else templates.stage_problem(stage)
        if problem:
            raise StepError(problem)
        return stage

    def artifact(self, ctx: StepContext) -> str | None:
        """The Flux jobspec (RFC 25 JSON) as it would be submitted."""
        return json.dumps(to_jobspec(self.flux_job(ctx)), indent=2, ensure_ascii=False)

    def describe(self, ctx: StepContext) -> str:
        job = self.flux_job(ctx)
        spec = to_jobspec(job)
        interface = ctx.settings.get("flux.interface") or "auto"
        hand = shlex.join(command_lines.by_hand(job))
        same = "the same job" if command_lines.same_job(job) else "the closest flux command (not quite the same job)"
        body = "".join(f"    | {line}\n" for line in json.dumps(spec, indent=2, ensure_ascii=False).splitlines())
        return (
            f"would submit this Flux jobspec (flux.interface {interface}; the environment and resource limits "
            f"of this process are added to the ones shown, as flux submit does){self.then()}:\n{body}"
            f"    {same} by hand: {hand}"
        )

    def submit(self, ctx: StepContext) -> StepOutput:
        job = self.flux_job(ctx)
        client = _client(ctx.settings)
        try:
            job_id = client.submit(to_jobspec(job, os.environ, limits.propagated(job.rlimit_rules)))
        except FluxError as e:
            raise StepError(f"Flux refused the job: {e}") from None
        return self._output(client, job, job_id)

    def start_submit(self, ctx: StepContext) -> Callable[[], StepOutput] | None:
        """Through the bindings, the job is sent now and its id taken later (a pipelined run)."""
        client = _client(ctx.settings)
        if not client.sends_ahead:
            return None  # the command client: one process a job, sent and answered
        job = self.flux_job(ctx)
        try:
            answer = client.start_submit(to_jobspec(job, os.environ, limits.propagated(job.rlimit_rules)))
        except FluxError as e:
            raise StepError(f"Flux refused the job: {e}") from None

        def output() -> StepOutput:
            try:
                return self._output(client, job, answer())
            except FluxError as e:
                raise StepError(f"Flux refused the job: {e}") from None

        return output

    def _output(self, client: Client, job: FluxJob, job_id: str) -> StepOutput:
        details: dict[str, Any] = {"interface": client.name, "name": job.name, "tasks": self.tasks()}
        decimal = str(jobids.decode(job_id))
        for stream, path in (("stdout", job.stdout), ("stderr", job.stderr)):
            if path is not None:  # the shell opens a relative one (a directive's) in the job's cwd
                details[stream] = posixpath.join(job.cwd, path.replace("{{id.dec}}", decimal))
        return StepOutput(job_id, job_id=job_id, details=details)

    def follow(self, ctx: StepContext, output: StepOutput) -> JobStatus:
        """A watched job's output stays in Flux (the KVS): Flux streams it."""
        return _client(ctx.settings).watch(str(output.job_id), ctx.output, error_sink(ctx.output))

    def wait_for(self, ctx: StepContext, output: StepOutput) -> JobStatus:
        """Flux's wait, a second at a time, telling ``ctx.events`` the job's state between
        turns (the command's live line): one RPC, or one ``flux`` process, a turn."""
        return wait_reporting(str(output.job_id), _client(ctx.settings).wait, ctx.events)

    def record(self, output: StepOutput, status: JobStatus) -> None:
        super().record(output, status)
        output.details["result"] = status.details.get("result")  # Flux's own word: COMPLETED, TIMEOUT...


class FluxSubmit(FluxJobStep, SubmitStep):
    def flux_job(self, ctx: StepContext) -> FluxJob:
        return submit_job(
            self.jobspec,
            self.command(ctx),
            stage=self.output_stage(ctx),
            filename=self.get("filename"),
            watch=bool(self.get("watch")),
            after=self.after_jobs(ctx),
            key=ctx.submit_key,
            environment=self.environment(ctx),
        )


class FluxBatch(FluxJobStep, BatchStep):
    def flux_job(self, ctx: StepContext) -> FluxJob:
        filename = str(self.options["filename"])
        ctx.stage_path(filename)  # refuses a name that leads out of the stage
        return batch_job(
            self.jobspec,
            self.scripts[filename]["content"],
            stage=self.output_stage(ctx),
            filename=filename,
            watch=bool(self.get("watch")),
            after=self.after_jobs(ctx),
            key=ctx.submit_key,
            environment=self.environment(ctx),
        )


class FluxStage(StageStep):
    """Copy the staging directory to every broker rank that does not see it already."""

    def describe(self, ctx: StepContext) -> str:
        if ctx.settings.get("sharedfs", True):
            return "nothing to do: sharedfs is true"
        stage = str(ctx.stage)
        name = "jobspec-<id>"
        marker = f".jobspec-stage-{name}"
        steps = [
            command_lines.archive_create(name, stage, ["<each entry of the stage>"]),
            command_lines.archive_extract_elsewhere(name, stage, marker, 0),
            command_lines.archive_remove(name),
        ]
        return f"would copy {stage} to every other Flux broker rank that does not already see it:\n" + "\n".join(
            f"    $ {shlex.join(argv)}" for argv in steps
        )

    def stage(self, ctx: StepContext) -> StepOutput:
        stage = ctx.stage
        entries = sorted(os.listdir(stage))
        if not entries:
            return StepOutput("nothing to stage: the staging directory is empty")
        client = _client(ctx.settings)
        try:
            rank, size = client.rank_size()
        except FluxError as e:
            raise StepError(f"cannot ask Flux for this broker's rank: {e}") from None
        if size <= 1:
            return StepOutput("one broker: nothing to copy", details={"ranks": size})
        name = f"jobspec-{os.urandom(6).hex()}"
        marker = stage / f".jobspec-stage-{name}"
        marker.touch()
        tool = "archive"
        try:
            done = client.run_flux(command_lines.archive_create(name, str(stage), entries))
            if done.returncode != 0 and "is not a flux command" in (done.stderr or ""):
                tool = "filemap"  # flux-core before flux archive: the older name
                done = client.run_flux(command_lines.filemap_map(name, str(stage), entries))
            if done.returncode != 0:
                raise StepError(f"cannot archive {stage} with flux {tool}: {(done.stderr or done.stdout).strip()}")
            if tool == "archive":
                extract = command_lines.archive_extract_elsewhere(name, str(stage), marker.name, rank)
            else:
                extract = command_lines.filemap_get_elsewhere(name, str(stage), marker.name, rank)
            done = client.run_flux(extract)
            if done.returncode != 0:
                raise StepError(f"cannot extract {stage} on the other ranks: {(done.stderr or done.stdout).strip()}")
        finally:
            marker.unlink(missing_ok=True)
            _remove_archive(client, name, tool)
        return StepOutput(
            f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'} on {size} ranks",
            details={"archive": name, "tool": tool, "ranks": size, "from_rank": rank, "entries": entries},
        )


def _directive_problems(jobspec: Jobspec, step: Any) -> list[Problem]:
    """A batch script's ``# flux:`` directive that flux batch would refuse, that disagrees
    with the document, or that jobspec cannot carry: refused at plan time, with its line."""
    from jobspec.transformers.flux.directives import DirectiveError  # batch steps alone read directives

    filename = step.get("filename")
    script = jobspec.scripts.get(filename) if isinstance(filename, str) else None
    if not script or not isinstance(script.get("content"), str):
        return []  # the core reports a missing script
    try:
        batch_job(jobspec, script["content"], stage="/stage", filename=filename, watch=bool(step.get("watch")))
    except DirectiveError as e:
        names = [s.get("name") for s in jobspec.task.get("scripts") or [] if isinstance(s, dict)]
        where = (*jobspec.task_path, "scripts", names.index(filename), "content") if filename in names else step.path
        return [Problem(f"line {e.line} of {filename}: {e}", path=where)]
    return []


def _remove_archive(client: Client, name: str, tool: str) -> None:
    """Remove the stage's archive, whether or not it was made whole: it holds a copy of
    the stage in the KVS. Best effort: a failure here never hides the step's own."""
    argv = command_lines.archive_remove(name) if tool == "archive" else command_lines.filemap_unmap(name)
    with contextlib.suppress(FluxError):
        client.run_flux(argv)


@dataclass(frozen=True)
class FluxOptions(TransformerOptions):
    """``FluxTransformer(interface="command")``: how `status`, `wait` and `cancel` reach
    Flux (auto, bindings or command; None: auto). Steps follow ``flux.interface``."""

    interface: str | None = None


class FluxTransformer(Transformer):
    name = "flux"
    description = (
        "runs the task as Flux jobs in the enclosing Flux instance (flux-core's Python bindings, else the flux command)"
    )
    settings = {"flux.interface": INTERFACE, "flux.fluxion": FLUXION}
    options_type = FluxOptions
    options: FluxOptions
    native_format = "Flux jobspec (RFC 25, version 1)"
    # Flux's job-ingest answers submissions in batches (every 10 ms, one KVS commit each),
    # about 25 ms after they were sent: a run_many or receiver worker sends the jobs of up to
    # 64 jobspecs before it waits for the first one's id (through the bindings; see
    # start_submit). bench/flux_throughput.py: 16 reached 0.40-0.55x the raw loop, 64 0.6-0.67x.
    in_flight = 64

    @classmethod
    def available(cls) -> tuple[bool, str]:
        uri = instance_uri()
        if uri is None:
            return False, "not inside a Flux instance (FLUX_URI is not set)"
        ways = [w for w, ok in (("Python bindings", bindings_present()), ("flux command", command_path())) if ok]
        if not ways:
            return (
                False,
                f"FLUX_URI is set ({uri}), but neither flux-core's Python bindings nor the flux command is here",
            )
        return True, f"inside a Flux instance ({uri}), through the {' or '.join(ways)}"

    @classmethod
    def affinity(cls) -> int:
        """Inside a Flux instance that can be reached from here, Flux is the one to use."""
        return 30 if cls.available()[0] else 0

    def launcher(self) -> list[str]:
        """Inside a batch job's own Flux instance, ``flux run`` starts its tasks."""
        return ["flux", "run"]

    @classmethod
    def owns_job_id(cls, job_id: str) -> bool:
        """F58 ids (``ƒ2oLkTLb``, or ``f2oLkTLb`` as Flux prints them in an ASCII locale).
        Plain numbers are left alone: Slurm's ids are numbers too."""
        return jobids.is_f58(job_id)

    # the flux.interface values the last plan's Flux steps name (see check_plan)
    _plan_interfaces: frozenset[str] = frozenset()

    def ensure_ready(self) -> None:
        """Outside a Flux instance, say so and how to start one; a flux.interface the plan
        names that cannot be had here (bindings that do not import, no flux command),
        say why: before anything is written."""
        if instance_uri() is None:
            raise TransformerUnavailable(f"transformer flux cannot run here: {NOT_IN_INSTANCE}")
        for interface in sorted(self._plan_interfaces - {"auto"}):
            try:
                connect(interface)  # made once per process: cheap after the first time
            except FluxError as e:
                raise TransformerUnavailable(f"transformer flux cannot run here: {e}") from None
        super().ensure_ready()

    def ignored(self, jobspec: Jobspec) -> list[str]:
        """Flux takes attributes as written; only the requirement metadata stays behind."""
        return ["task.resources"] if jobspec.task.get("resources") else []

    def check_plan(self, jobspec: Jobspec, steps: list[PlannedStep]) -> list[Problem]:
        """What the document asks that Flux V1 cannot carry; independent of this machine,
        so validate and --dry-run work anywhere."""
        problems: list[Problem] = []
        interfaces = set()
        for planned in steps:
            step = planned.step
            if step.name in ("submit", "batch", "stage"):
                interfaces.add(str(planned.settings.get("flux.interface") or "auto"))
            if step.name == "set" and step.get("key") == "flux.interface" and step.get("value") not in INTERFACES:
                problems.append(
                    Problem(
                        f"flux.interface is one of {', '.join(INTERFACES)}, not {step.get('value')!r}",
                        path=(*step.path, "value"),
                    )
                )
            if step.name == "batch":
                problems += _directive_problems(jobspec, step)
            stage = planned.settings.get("stage")
            if step.name in ("submit", "batch") and not step.get("watch") and stage is not None:
                why = templates.stage_problem(str(stage))
                if why:
                    problems.append(Problem(why, path=step.path))
        jobs = [p for p in steps if p.step.name in ("submit", "batch")]
        problems += v1_problems(
            jobspec,
            fluxion=bool(jobs) and all(p.settings.get("flux.fluxion") for p in jobs),
            submits=any(p.step.name == "submit" for p in jobs),
        )
        self._plan_interfaces = frozenset(interfaces & set(INTERFACES))
        return problems

    def native_problems(self, jobspec: Jobspec) -> list[Problem]:
        """A plain Flux jobspec checked as Flux checks it (`jobspec validate -t flux --native`)."""
        return rfc25.validate_flux(jobspec)

    # ---------------------------------------------------------------- job life cycle

    def _connect(self) -> Client:
        return connect(self.options.interface or "auto")

    def _lookup(self, job_id: str) -> str:
        try:
            return jobids.normalise(job_id)
        except ValueError as e:
            raise JobLookupError(str(e)) from None

    def status(self, job_id: str) -> JobStatus:
        job_id = self._lookup(job_id)
        try:
            return self._connect().status(job_id)
        except JobNotFound as e:
            raise JobLookupError(str(e)) from None

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        job_id = self._lookup(job_id)
        try:
            return self._connect().wait(job_id, timeout)
        except JobNotFound as e:
            raise JobLookupError(str(e)) from None

    def cancel(self, job_id: str) -> JobStatus:
        job_id = self._lookup(job_id)
        client = self._connect()
        try:
            client.cancel(job_id)
            return client.wait(job_id, timeout=10)
        except JobNotFound as e:
            raise JobLookupError(str(e)) from None

    def find_job(self, key: str) -> str | None:
        try:
            return self._submit_keys.find(self._connect(), key)
        except FluxError:
            return None

    @cached_property
    def _submit_keys(self) -> resume.SubmitKeys:
        return resume.SubmitKeys()

    def settle_submissions(self) -> None:
        """Flux answers a submission once job-ingest has checked and committed it, in batches:
        `resume.settle` waits until those a dead receiver left on their way are listed."""
        try:
            resume.settle(self._connect())
        except FluxError as e:
            raise TransformerError(f"cannot tell which submissions reached Flux: {e}") from None


for _step in (WriterStep, CopyStep, SetStep, UnsetStep, FluxSubmit, FluxBatch, FluxStage):
    FluxTransformer.register_step(_step)
FluxTransformer.register_step(EmptyStep, name="auth")  # inside an instance there is nothing to log in to
