"""The Slurm steps: submit, batch, stage and auth.

- ``submit``: ``sbatch`` of a small generated script whose one command is
  ``srun`` starting the task count of the task (``filename`` run by its ``#!``
  line, else ``task.command``); the job id is the step's result. ``watch: true``
  streams ``<stage>/slurm-<id>.out`` (and ``.err``) as the job writes them and
  ends with the job's exit code; ``wait: true`` waits without streaming (both
  through the contract's job life cycle, which asks `SlurmTransformer.status`).
- ``batch``: ``sbatch`` of the script itself, which holds the allocation
  (JOBSPEC_NODES, JOBSPEC_TASKS and JOBSPEC_CORES_PER_TASK tell it the shape).
- ``stage`` (``sharedfs: false``): packs the staging directory, as it is then,
  into the scripts of the jobs that follow; at the start of each of those jobs
  ``sbcast`` copies the archive to every node of the job and one task per node
  unpacks it at the same path. With ``sharedfs: true``, nothing.
- ``auth``: ``scontrol token lifespan=N`` (``lifespan``, default 600 s): a JWT for
  the REST API, kept in the run's `SlurmRun` for the steps that follow, renewed
  there when it nears its end; never printed, logged or put into a result. With
  the command line it is harmless: that authenticates with munge, and a cluster
  without JWT support only makes the step say so.

Two interfaces, one job (see `options.resolve_interface`): ``cli`` runs
``sbatch``; ``rest`` POSTs the same `request.JobRequest` to slurmrestd with the
token of an auth step (else ``SLURM_JWT``; without either, the step fails saying
to add an auth step: no token is fetched unasked). A `SlurmTransformer` instance
keeps the tokens its auth steps obtained and gives a later run's auth step the
same one while it is far from its end.
"""

from __future__ import annotations

import json
import os
import shlex
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobspec.plugin import (
    AuthStep,
    BatchStep,
    Field,
    JobStep,
    Problem,
    StageStep,
    StepBase,
    StepError,
    StepOutput,
    SubmitStep,
)
from jobspec.transformers.slurm import client
from jobspec.transformers.slurm.options import SlurmOptions, resolve_interface, resolve_rest_url, rest_url_problem
from jobspec.transformers.slurm.placement import placement
from jobspec.transformers.slurm.request import (
    JobRequest,
    export_environment,
    export_file,
    job_name_in,
    output_path,
    output_problem,
    rounding_note,
    sbatch_argv,
    sbatch_env,
)
from jobspec.transformers.slurm.rest_mapping import REST_SUBMIT, RestMappingError, directive_args, rest_job
from jobspec.transformers.slurm.script import (
    MAX_SCRIPT_BYTES,
    StageTooLarge,
    batch_wrapper,
    pack,
    size_text,
    stage_preamble,
    submit_script,
)
from jobspec.transformers.slurm.state import SlurmRun, StagedFiles, Token

if TYPE_CHECKING:
    from jobspec.plugin import StepContext

DEFAULT_LIFESPAN = 600  # seconds, for auth's `scontrol token lifespan=`
MAX_LIFESPAN = 86400  # a day: a token that leaks somewhere stays usable no longer


# ---------------------------------------------------------------- what the run's transformer says


def slurm_options(ctx: StepContext) -> SlurmOptions:
    """The run's transformer's options (the defaults when these steps serve another transformer)."""
    options = ctx.transformer.options
    return options if isinstance(options, SlurmOptions) else SlurmOptions()


def kept_tokens(ctx: StepContext) -> dict[int, Token] | None:
    """The tokens the run's `SlurmTransformer` keeps across runs (None for another transformer)."""
    # imported here: the transformer's module imports this one, to register these steps
    from jobspec.transformers.slurm.transformer import SlurmTransformer

    return ctx.transformer.tokens if isinstance(ctx.transformer, SlurmTransformer) else None


def interface(ctx: StepContext) -> str:
    """The interface a step uses (``cli`` or ``rest``): see `options.resolve_interface`."""
    return resolve_interface(ctx.settings, slurm_options(ctx))


def rest_url(ctx: StepContext) -> str:
    return resolve_rest_url(ctx.settings, slurm_options(ctx))


# ---------------------------------------------------------------- the REST API's token


def token_for(tokens: dict[int, Token] | None, lifespan: int) -> tuple[Token, bool]:
    """A token of ``lifespan`` seconds, and whether it is one of ``tokens`` (those a
    transformer instance obtained in earlier runs) still far from its end: a process
    submitting many jobspecs with one Transformer runs ``scontrol token`` once, not per run.
    A token obtained here is added to ``tokens``."""
    if tokens is None:
        return client.obtain_token(lifespan), False
    token = tokens.get(lifespan)
    if token is not None and not token.expiring():
        return token, True
    token = client.obtain_token(lifespan)
    tokens[lifespan] = token
    return token, False


def current_token(ctx: StepContext, url: str) -> Token:
    """The token for a REST call: the auth step's (renewed when near its end), else SLURM_JWT."""
    run = ctx.state.of(SlurmRun)
    token = run.token
    if token is not None:
        if token.expiring() and token.lifespan is not None:
            try:
                token, _ = token_for(kept_tokens(ctx), token.lifespan)
            except client.SlurmError as e:
                raise StepError(f"renewing the REST API token: {e}") from None
            run.token = token
        return token
    value = os.environ.get("SLURM_JWT")
    if value:
        return Token(client.user_name(), value)
    raise StepError(
        f"Slurm's REST API ({url}) needs a token: add an auth step before this step "
        "(- step: auth), or export SLURM_JWT (from `scontrol token`)"
    )


class SlurmAuth(AuthStep):
    """auth: a token for the REST API from ``scontrol token``, kept in the run's memory."""

    description = "obtain a token for Slurm's REST API (scontrol token), kept in memory for the steps that follow"
    open_fields = False
    fields = {
        "lifespan": Field(int, help=f"seconds the token is valid (default {DEFAULT_LIFESPAN}, at most {MAX_LIFESPAN})")
    }

    @property
    def lifespan(self) -> int:
        return int(self.get("lifespan", DEFAULT_LIFESPAN))

    def check(self, settings: Mapping[str, Any], earlier: Sequence[StepBase] = ()) -> Iterator[Problem]:
        lifespan = self.get("lifespan")
        if isinstance(lifespan, int) and not isinstance(lifespan, bool) and lifespan < 1:
            yield Problem(f"lifespan must be at least 1 second, not {lifespan}", path=(*self.path, "lifespan"))
        if isinstance(lifespan, int) and not isinstance(lifespan, bool) and lifespan > MAX_LIFESPAN:
            yield Problem(
                f"lifespan must be at most {MAX_LIFESPAN} seconds (a day), not {lifespan}: a token that leaks "
                "stays usable for its whole lifespan; a run's steps renew a shorter one as they need",
                path=(*self.path, "lifespan"),
            )

    def describe(self, ctx: StepContext) -> str:
        text = f"would obtain a token for Slurm's REST API with `scontrol token lifespan={self.lifespan}`"
        text += ", kept in memory for the steps that follow"
        if interface(ctx) != "rest":
            text += " (the command line itself authenticates with munge)"
        return text

    def run(self, ctx: StepContext) -> StepOutput:
        try:
            token, reused = token_for(kept_tokens(ctx), self.lifespan)
        except client.SlurmError as e:
            if interface(ctx) == "rest":
                raise StepError(str(e)) from None
            # the command line authenticates with munge: no token is no failure
            return StepOutput(f"no token ({e}); the command line needs none", details={"token": False})
        ctx.state.of(SlurmRun).token = token
        if reused:
            left = int(token.remaining())
            return StepOutput(
                f"token for {token.user}, valid {left} s (obtained earlier by this transformer)",
                details={"user": token.user, "lifespan": self.lifespan, "reused": True},
            )
        return StepOutput(
            f"token for {token.user}, valid {self.lifespan} s",
            details={"user": token.user, "lifespan": self.lifespan},
        )


# ---------------------------------------------------------------- the stage


class SlurmStage(StageStep):
    """stage without a shared filesystem: the files travel with each later job (see the module doc)."""

    def describe(self, ctx: StepContext) -> str:
        if ctx.settings.get("sharedfs", True):
            return "nothing to do: sharedfs is true"
        return (
            f"would pack {ctx.describe_path('.')} into the jobs that follow; at the start of each, "
            "sbcast copies it to every node of the job"
        )

    def stage(self, ctx: StepContext) -> StepOutput:
        import base64

        stage = ctx.stage
        room = MAX_SCRIPT_BYTES - 64 * 1024  # base64 text: what the script's other lines leave
        limit = room // 77 * 57  # base64.encodebytes: 57 bytes per line of 76 characters and a newline
        try:
            archive, count = pack(stage, limit)
        except StageTooLarge:
            raise StepError(
                f"the staged files come to more than {size_text(limit)} compressed, more than a Slurm batch "
                "script can carry; use a shared filesystem (sharedfs: true) for this much"
            ) from None
        encoded = base64.encodebytes(archive).decode("ascii")
        ctx.state.of(SlurmRun).stage = StagedFiles(encoded, str(stage))
        plural = "s" if count != 1 else ""
        return StepOutput(
            f"{count} file{plural} ({size_text(len(archive))}) to every node at job start (sbcast)",
            details={"files": count, "bytes": len(archive), "target": str(stage)},
        )


# ---------------------------------------------------------------- submit and batch


def submit_rest(ctx: StepContext, text: str, job: dict[str, Any]) -> tuple[str, list[str]]:
    """POST the job to slurmrestd; its id and Slurm's warnings. StepError in Slurm's words."""
    from jobspec.transformers.slurm import rest  # urllib: only the REST interface pays for it

    url = rest_url(ctx)
    problem = rest_url_problem(ctx.settings, slurm_options(ctx))  # checked with the plan too
    if problem:
        raise StepError(problem)
    token = current_token(ctx, url)
    try:
        return rest.submit(url, text, job, user=token.user, token=token.value)
    except rest.RestError as e:
        raise StepError(str(e)) from None


class SlurmJobStep(JobStep):
    """submit and batch: sbatch, or a POST to the REST API (see `interface`). Only the
    submission is here: waiting, following and the final state are the contract's."""

    def workdir(self, ctx: StepContext) -> str:
        cwd = self.jobspec.cwd
        return os.path.abspath(cwd) if cwd else str(ctx.stage)

    def preamble(self, ctx: StepContext) -> str:
        """The lines that unpack an earlier stage step's files on every node, if there was one."""
        staged = ctx.state.of(SlurmRun).stage
        return stage_preamble(staged.archive, staged.target) if staged is not None else ""

    def script(self, ctx: StepContext) -> tuple[str | None, str | None]:
        """(script text for sbatch's stdin, or None; script path for sbatch's argv, or None)."""
        raise NotImplementedError

    def request(self, ctx: StepContext) -> JobRequest:
        """The job, described once for either interface."""
        settings = ctx.settings
        return JobRequest(
            self.jobspec.counts,
            job_name=self.jobspec.name,
            workdir=self.workdir(ctx),
            stage=str(ctx.stage),
            duration=self.jobspec.duration,
            after=self.after_jobs(ctx),
            # Flux's attributes.system.queue and bank are Slurm's partition and account (a setting wins)
            partition=settings.get("slurm.partition") or _text(self.jobspec.system.get("queue")),
            account=settings.get("slurm.account") or _text(self.jobspec.system.get("bank")),
            qos=settings.get("slurm.qos"),
            options=tuple(settings.get("slurm.options") or ()),
            key=None if ctx.dry_run else ctx.submit_key,
            environment=self.environment(ctx),
            placement=tuple(placement(self.jobspec.system.get("constraints"), self.jobspec.counts)[0]),
        )

    def final_name(self, job_request: JobRequest, text: str | None, path: str | None) -> str:
        """The job's name as sbatch ends up with it: jobspec's, unless an #SBATCH line or slurm.options names it."""
        content = text if text is not None else Path(path or "").read_text(encoding="utf-8", errors="surrogateescape")
        try:
            args = directive_args(content)
        except RestMappingError:
            args = []
        return job_name_in([*args, *job_request.options]) or job_request.job_name

    def describe(self, ctx: StepContext) -> str:
        job_request = self.request(ctx)
        text, path = self.script(ctx)
        if interface(ctx) == "rest":
            try:
                job = rest_job(job_request, {}, text if text is not None else self._planned_content())
            except RestMappingError as e:
                return f"would fail: {e}"
            del job["environment"]
            shown = json.dumps(job, ensure_ascii=False)
            line = f"would POST to {rest_url(ctx)}{REST_SUBMIT} the job {shown}"
            line += " (environment: this one, then the jobspec's)"
        else:
            line = f"would run `{shlex.join(sbatch_argv(job_request, path))}`"
            line += " (<fd>: the job's environment, this one's then the jobspec's, NUL-separated)"
        if self.name == "submit":
            tasks = self.tasks()
            line += (
                f", whose script starts {tasks} task{'s' if tasks != 1 else ''} of `{shlex.join(self.command(ctx))}`"
            )
            line += " with srun"
        line += f"; output to {ctx.describe_path('slurm-<job id>.out')}"
        note = rounding_note(self.jobspec.duration)
        return line + self.then() + (f" ({note})" if note else "")

    def artifact(self, ctx: StepContext) -> str | None:
        """The sbatch command line and the script it reads on stdin; or, through the REST
        API, the job as it would be posted (its environment left out)."""
        job_request = self.request(ctx)
        text, path = self.script(ctx)
        if interface(ctx) == "rest":
            try:
                job = rest_job(job_request, {}, text if text is not None else self._planned_content())
            except RestMappingError:
                return None
            del job["environment"]
            return json.dumps(job, indent=2, ensure_ascii=False)
        return shlex.join(sbatch_argv(job_request, path)) + (f"\n{text}" if text is not None else "")

    def _planned_content(self) -> str:
        """The batch script as the jobspec writes it (a dry run has nothing on disk to read)."""
        planned = self.scripts.get(self.get("filename"))
        return str(planned.get("content", "")) if planned else ""

    def submit(self, ctx: StepContext) -> StepOutput:
        stage = str(ctx.stage)
        problem = output_problem(stage)
        if problem:
            raise StepError(problem)
        note = rounding_note(self.jobspec.duration)
        if note and not ctx.state.of(SlurmRun).rounding_noted:
            ctx.state.of(SlurmRun).rounding_noted = True
            ctx.note(f"jobspec: {note}")
        cwd = self.jobspec.cwd
        if cwd and not os.path.isdir(self.workdir(ctx)):  # Slurm would run the job in /tmp instead
            raise StepError(f"the working directory {cwd} (attributes.system.cwd) does not exist")
        job_request = self.request(ctx)
        text, path = self.script(ctx)
        details: dict[str, Any] = {"tasks": self.tasks()}
        if interface(ctx) == "rest":
            from jobspec.transformers.slurm import rest  # urllib: only the REST interface pays for it

            if text is None:
                text = Path(path or "").read_text(encoding="utf-8", errors="surrogateescape")
            try:
                job = rest_job(job_request, os.environ, text, rest.submitter_variables())
            except RestMappingError as e:
                raise StepError(str(e)) from None
            job_id, warnings = submit_rest(ctx, text, job)
            details["rest"] = {k: v for k, v in job.items() if k != "environment"}
        else:
            name = self.final_name(job_request, text, path)
            environment = export_environment(job_request, os.environ, name, client.rlimit_variables())
            try:
                with client.export_descriptor(export_file(environment)) as fd:
                    argv = sbatch_argv(job_request, path, fd)
                    job_id, warnings = client.sbatch(argv, sbatch_env(os.environ), text, pass_fds=(fd,))
            except client.SlurmError as e:
                raise StepError(str(e)) from None
            except OSError as e:  # no descriptor left for the environment, say
                raise StepError(f"cannot hand the job's environment to sbatch: {e.strerror or e}") from None
            details["sbatch"] = argv
        stdout = output_path(stage, job_id, "out")
        stderr = output_path(stage, job_id, "err")
        details = {"stdout": stdout, "stderr": stderr, **details}
        if warnings:
            details["warnings"] = warnings
        return StepOutput(job_id, job_id=job_id, details=details)


class SlurmSubmit(SlurmJobStep, SubmitStep):
    def script(self, ctx: StepContext) -> tuple[str | None, str | None]:
        return submit_script(self.command(ctx), self.jobspec.counts, self.preamble(ctx)), None


class SlurmBatch(SlurmJobStep, BatchStep):
    def check(self, settings: Mapping[str, Any], earlier: Sequence[StepBase] = ()) -> Iterator[Problem]:
        yield from super().check(settings, earlier)
        content = self.scripts.get(self.get("filename"))
        if content is not None and not str(content.get("content", "")).startswith("#!"):
            yield Problem(
                f"'{self.get('filename')}' must start with a #! line: sbatch runs a batch script by it",
                path=(*self.path, "filename"),
            )

    def script(self, ctx: StepContext) -> tuple[str | None, str | None]:
        filename = self.get("filename")
        path = str(ctx.stage_path(filename))
        preamble = self.preamble(ctx)
        if preamble:
            return batch_wrapper(path, self.scripts[filename]["content"], preamble), None
        return None, path


def _text(value: object) -> str | None:
    return None if value is None else str(value)
