"""The Slurm transformer, through Slurm's command line: sbatch, srun, scontrol, scancel.

- ``submit``: ``sbatch`` of a small generated script whose one command is
  ``srun`` starting the task count of the task (``filename`` run by its ``#!``
  line, else ``task.command``); the job id is the step's result. ``watch: true``
  streams ``<stage>/slurm-<id>.out`` (and ``.err``) as the job writes them and
  ends with the job's exit code; ``wait: true`` waits without streaming.
- ``batch``: ``sbatch`` of the script itself, which holds the allocation
  (JOBSPEC_NODES, JOBSPEC_TASKS and JOBSPEC_CORES_PER_TASK tell it the shape).
- ``stage`` (``sharedfs: false``): packs the staging directory, as it is then,
  into the scripts of the jobs that follow; at the start of each of those jobs
  ``sbcast`` copies the archive to every node of the job and one task per node
  unpacks it at the same path. With ``sharedfs: true``, nothing.
- ``auth``: ``scontrol token lifespan=N`` (``lifespan``, default 600 s): a JWT for
  the REST API, kept in the run's private memory (``RunState.secrets``) for the steps
  that follow, renewed there when it nears its end; never printed, logged or put
  into a result. With the command line it is harmless: that authenticates with
  munge, and a cluster without JWT support only makes the step say so.

Two interfaces, one job (``slurm.interface``; unset, the transformer's
``interface`` option, else ``JOBSPEC_SLURM_INTERFACE``, else ``cli``): ``cli``
runs ``sbatch``; ``rest`` POSTs the same request to slurmrestd (``slurm.rest_url``,
else JOBSPEC_SLURMRESTD_URL or SLURMRESTD_URL, else http://127.0.0.1:6820;
openapi v0.0.38), with the token of an auth step (else ``SLURM_JWT``; without
either, the step fails saying to add an auth step: no token is fetched unasked).
A Transformer instance keeps the tokens its auth steps obtained and gives a later
run's auth step the same one while it is far from its end. Both are made from one
`commands.JobRequest` (see `commands`). Status, wait and cancel use ``scontrol``
and ``scancel`` with either: job ids are the same, ``jobspec status ID`` knows no
jobspec (so no interface), and the REST answers need translating (a raw wait
status as the exit code, unexpanded output names). The REST interface therefore
still needs Slurm's client commands here; it changes how jobs are submitted.

Nothing here runs at import, and what only staging, watching or the REST API
needs is imported when they run: `jobspec run` starts fast.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from jobspec.document.problems import Problem
from jobspec.engine.settings import Setting
from jobspec.steps import (
    AuthStep,
    BatchStep,
    CopyStep,
    SetStep,
    StageStep,
    StepBase,
    StepError,
    StepOutput,
    SubmitStep,
    UnsetStep,
    WriterStep,
)
from jobspec.steps.base import Field
from jobspec.steps.jobs import JobStep
from jobspec.transformers.base import JobLookupError, JobStatus, Transformer
from jobspec.transformers.slurm import commands

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.engine.plan import PlannedStep
    from jobspec.engine.run import StepContext

# Where Slurm's client commands look for their configuration when SLURM_CONF is
# unset: the compiled-in default, and the cache of a configless slurmd.
DEFAULT_CONFIGS = ("/etc/slurm/slurm.conf", "/run/slurm/conf/slurm.conf")
PING_TIMEOUT = 2.0  # available(): how long `scontrol ping` may take
COMMAND_TIMEOUT = 120.0  # sbatch, scontrol, scancel: Slurm's own retries end well before this
STAGE_KEY = "slurm.stage"  # in the run's private state: the packed stage for later jobs
JOB_ID = re.compile(r"\d+(?:_\d+)?")


class SlurmError(RuntimeError):
    """Slurm could not be reached, or a command failed; the message is for the user."""


# ---------------------------------------------------------------- talking to Slurm


def config_problem() -> str | None:
    """Why Slurm's commands would find no configuration here, or None.

    Checked first because a client without one retries for a minute before failing.
    """
    conf = os.environ.get("SLURM_CONF")
    if conf:
        return None if os.path.exists(conf) else f"SLURM_CONF names {conf}, which does not exist"
    if any(os.path.exists(path) for path in DEFAULT_CONFIGS):
        return None
    return f"no Slurm configuration here (SLURM_CONF is unset and {DEFAULT_CONFIGS[0]} does not exist)"


_programs: dict[tuple[str, str | None], str] = {}


def find_program(name: str) -> str | None:
    """``shutil.which``, remembered while PATH stays the same (a process submitting many
    jobs looks sbatch up once); a program gone since is reported by `run_slurm` all the same."""
    key = (name, os.environ.get("PATH"))
    found = _programs.get(key)
    if found is None:
        found = shutil.which(name)
        if found is not None:
            _programs[key] = found
    return found


def run_slurm(
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = COMMAND_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run one Slurm command (an argv list, never a shell line); SlurmError if it cannot run."""
    problem = config_problem()
    if problem:
        raise SlurmError(f"Slurm did not answer: {problem}")
    # found on this process's PATH: a PATH in the job's environment is the job's
    program = find_program(argv[0])
    if program is None:
        raise SlurmError(f"{argv[0]} is not installed here (not found on the PATH)")
    try:
        return subprocess.run(
            [program, *argv[1:]],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",
            timeout=timeout,
        )
    except FileNotFoundError:
        _programs.pop((argv[0], os.environ.get("PATH")), None)
        raise SlurmError(f"{argv[0]} is not installed here (not found on the PATH)") from None
    except subprocess.TimeoutExpired:
        raise SlurmError(f"Slurm did not answer: {argv[0]} took more than {timeout:g} s") from None


def sbatch(argv: Sequence[str], env: Mapping[str, str], script: str | None = None) -> tuple[str, list[str]]:
    """Submit (``env``: sbatch's whole environment); the job id and sbatch's warnings.
    StepError with Slurm's reason if it refuses."""
    try:
        done = run_slurm(argv, input=script, env=env)
    except SlurmError as e:
        raise StepError(str(e)) from None
    if done.returncode != 0:
        raise StepError(commands.sbatch_failure(done.stderr, done.returncode))
    try:
        job_id = commands.parse_sbatch(done.stdout)
    except commands.SbatchOutputError as e:
        raise StepError(str(e)) from None
    warnings = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return job_id, warnings


def check_job_id(job_id: str) -> None:
    if not JOB_ID.fullmatch(job_id):
        raise JobLookupError(f"'{job_id}' is not a Slurm job id (they are numbers, like 42 or 42_3)")


def show_job(job_id: str) -> dict[str, str]:
    """``scontrol show job -o ID``, parsed. JobLookupError if Slurm knows no such job."""
    check_job_id(job_id)
    done = run_slurm(["scontrol", "show", "job", "-o", job_id])
    said = f"{done.stderr}\n{done.stdout}"
    if done.returncode != 0:
        if "Invalid job id" in said:
            raise JobLookupError(
                f"no Slurm job {job_id} (Slurm forgets finished jobs after MinJobAge; sacct may still know it)"
            )
        message = commands.slurm_messages(done.stderr) or done.stdout.strip() or f"exit status {done.returncode}"
        lead = "Slurm did not answer" if commands.unreachable(said) else "scontrol failed"
        raise SlurmError(f"{lead}: {message}")
    fields = commands.parse_scontrol(done.stdout)
    if "JobState" not in fields:
        raise JobLookupError(f"no Slurm job {job_id}")
    return fields


def job_status(job_id: str) -> JobStatus:
    return commands.job_status(job_id, show_job(job_id))


def wait_for(job_id: str, timeout: float | None = None) -> JobStatus:
    """Poll scontrol until the job ends (or ``timeout`` seconds pass), backing off to 0.5 s."""
    deadline = None if timeout is None else time.monotonic() + timeout
    delay = 0.02
    while True:
        status = job_status(job_id)
        if status.done:
            return status
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                return status
            delay = min(delay, left)
        time.sleep(delay)
        delay = min(delay * 1.5, 0.5)


def follow(job_id: str, stdout: str, stderr: str, out: TextIO) -> JobStatus:
    """Stream the job's output files as they grow until it ends; its final status."""
    import codecs

    streams = [(stdout, out), (stderr, sys.stderr if out is sys.stdout else out)]
    offsets = dict.fromkeys((stdout, stderr), 0)
    decoders = {path: codecs.getincrementaldecoder("utf-8")("replace") for path in offsets}

    def drain(final: bool = False) -> None:
        for path, sink in streams:
            try:
                with open(path, "rb") as fh:
                    fh.seek(offsets[path])
                    data = fh.read()
            except FileNotFoundError:
                continue
            offsets[path] += len(data)
            text = decoders[path].decode(data, final=final)
            if text:
                sink.write(text)
                sink.flush()

    delay = 0.05
    next_check = 0.0
    while True:
        drain()
        now = time.monotonic()
        if now >= next_check:
            status = job_status(job_id)
            if status.done:
                drain(final=True)
                return status
            next_check = now + delay
            delay = min(delay * 1.5, 0.5)
        time.sleep(0.05)


def failure(job_id: str, status: JobStatus) -> str:
    reason = f" ({status.reason})" if status.reason else ""
    if status.state == "failed" and status.exit_code is not None:
        return f"job {job_id} failed with exit code {status.exit_code}{reason}"
    return f"job {job_id} {status.state}{reason}"


# ---------------------------------------------------------------- the REST API and its token

INTERFACES = ("cli", "rest")
DEFAULT_REST_URL = "http://127.0.0.1:6820"  # slurmrestd's usual port
TOKEN_KEY = "slurm.token"  # in the run's private state: the token an auth step obtained
DEFAULT_LIFESPAN = 600  # seconds, for auth's `scontrol token lifespan=`
RENEW_MARGIN = 30.0  # seconds: a token this close to its end is renewed before use


def interface(ctx: StepContext) -> str:
    """The interface a step uses: the slurm.interface setting, else the transformer's
    ``interface`` option, else JOBSPEC_SLURM_INTERFACE, else the command line."""
    return resolve_interface(ctx.settings, ctx.transformer.options)


def resolve_interface(settings: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    value = settings.get("slurm.interface") or options.get("interface") or os.environ.get("JOBSPEC_SLURM_INTERFACE")
    return str(value or "cli").strip().lower()


def rest_url(ctx: StepContext) -> str:
    return resolve_rest_url(ctx.settings, ctx.transformer.options)


def resolve_rest_url(settings: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    """slurm.rest_url, else the transformer's ``rest_url`` option, else JOBSPEC_SLURMRESTD_URL,
    else SLURMRESTD_URL, else slurmrestd's usual address."""
    for value in (
        settings.get("slurm.rest_url"),
        options.get("rest_url"),
        os.environ.get("JOBSPEC_SLURMRESTD_URL"),
        os.environ.get("SLURMRESTD_URL"),
    ):
        if value:
            return str(value).rstrip("/")
    return DEFAULT_REST_URL


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be slurmrestd's address here, or None."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https") or not rest.split("/", 1)[0]:
        return f"slurm.rest_url {url!r} is not an http:// or https:// address (like {DEFAULT_REST_URL})"
    return None


class Token:
    """A JWT for the REST API. Its value never appears in a repr, a message or a result."""

    __slots__ = ("lifespan", "obtained", "user", "value")

    def __init__(self, user: str, value: str, lifespan: int | None = None, obtained: float = 0.0) -> None:
        self.user = user
        self.value = value
        self.lifespan = lifespan  # None: given from outside (SLURM_JWT), not renewed here
        self.obtained = obtained  # time.monotonic() when obtained

    def __repr__(self) -> str:
        return f"<Token for {self.user}, lifespan {self.lifespan}>"

    def remaining(self) -> float:
        """Seconds it stays valid (infinite when its lifespan is unknown)."""
        if self.lifespan is None:
            return float("inf")
        return self.obtained + self.lifespan - time.monotonic()

    def expiring(self) -> bool:
        return self.remaining() <= RENEW_MARGIN


def user_name() -> str:
    """The user a token from `scontrol token` is for: the one this process runs as."""
    import pwd

    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return str(os.getuid())


def obtain_token(lifespan: int) -> Token:
    """``scontrol token lifespan=N``; SlurmError saying why if Slurm gives none.

    What scontrol prints on success is the token: it is read here and never echoed.
    """
    done = run_slurm(["scontrol", "token", f"lifespan={lifespan}"])
    value = commands.parse_token(done.stdout) if done.returncode == 0 else None
    if value is None:
        said = commands.slurm_messages(done.stderr) or f"exit status {done.returncode}, no token printed"
        lead = "Slurm did not answer" if commands.unreachable(done.stderr) else "scontrol token failed"
        raise SlurmError(f"{lead}: {said}")
    return Token(user_name(), value, lifespan, time.monotonic())


def token_for(ctx: StepContext, lifespan: int) -> tuple[Token, bool]:
    """A token of ``lifespan`` seconds, and whether it is one this transformer instance
    obtained earlier (in an earlier run) and that is still far from its end: a process
    submitting many jobspecs with one Transformer runs ``scontrol token`` once, not per run."""
    tokens = getattr(ctx.transformer, "tokens", None)
    if not isinstance(tokens, dict):
        return obtain_token(lifespan), False
    token = tokens.get(lifespan)
    if isinstance(token, Token) and not token.expiring():
        return token, True
    token = obtain_token(lifespan)
    tokens[lifespan] = token
    return token, False


def current_token(ctx: StepContext, url: str) -> Token:
    """The token for a REST call: the auth step's (renewed when near its end), else SLURM_JWT."""
    token = ctx.state.secrets.get(TOKEN_KEY)
    if isinstance(token, Token):
        if token.expiring() and token.lifespan is not None:
            try:
                token, _ = token_for(ctx, token.lifespan)
            except SlurmError as e:
                raise StepError(f"renewing the REST API token: {e}") from None
            ctx.state.secrets[TOKEN_KEY] = token
        return token
    value = os.environ.get("SLURM_JWT")
    if value:
        return Token(user_name(), value)
    raise StepError(
        f"Slurm's REST API ({url}) needs a token: add an auth step before this step "
        "(- step: auth), or export SLURM_JWT (from `scontrol token`)"
    )


_conf_texts: dict[str, str] = {}


def _conf_text() -> str:
    """The local slurm.conf's text (read once per process), or "" where there is none."""
    path = os.environ.get("SLURM_CONF") or next((p for p in DEFAULT_CONFIGS if os.path.exists(p)), "")
    if path not in _conf_texts:
        try:
            _conf_texts[path] = Path(path).read_text(encoding="utf-8", errors="replace") if path else ""
        except OSError:
            _conf_texts[path] = ""
    return _conf_texts[path]


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def submitter_variables() -> dict[str, str]:
    """What sbatch adds to a job's environment from the process that submits it, for a
    REST submission to give the same job: the submit directory and host, the nice
    value, the umask, and the resource limits slurm.conf propagates (SLURM_RLIMIT_*)."""
    import resource
    import socket

    variables = {
        "SLURM_SUBMIT_DIR": os.getcwd(),
        "SLURM_SUBMIT_HOST": socket.gethostname(),
        "SLURM_PRIO_PROCESS": str(os.getpriority(os.PRIO_PROCESS, 0)),
        "SLURM_UMASK": os.environ.get("SLURM_UMASK") or f"0{_umask():03o}",
    }
    for name in commands.propagated_rlimits(_conf_text()):
        limit = getattr(resource, f"RLIMIT_{name}", None)
        if limit is not None:
            soft = resource.getrlimit(limit)[0]
            variables[f"SLURM_RLIMIT_{name}"] = str(soft & 0xFFFFFFFFFFFFFFFF)  # unlimited: as sbatch prints it
    return variables


def submit_rest(ctx: StepContext, script: str, job: dict[str, Any]) -> tuple[str, list[str]]:
    """POST the job to slurmrestd; its id and Slurm's warnings. StepError in Slurm's words."""
    from jobspec.transformers.slurm import rest

    url = rest_url(ctx)
    token = current_token(ctx, url)
    try:
        return rest.submit(url, script, job, user=token.user, token=token.value)
    except rest.RestError as e:
        raise StepError(str(e)) from None


class SlurmAuth(AuthStep):
    """auth: a token for the REST API from ``scontrol token``, kept in the run's memory."""

    description = "obtain a token for Slurm's REST API (scontrol token), kept in memory for the steps that follow"
    open_fields = False
    fields = {"lifespan": Field(int, help=f"seconds the token is valid (default {DEFAULT_LIFESPAN})")}

    @property
    def lifespan(self) -> int:
        return int(self.get("lifespan", DEFAULT_LIFESPAN))

    def check(self, settings: Mapping[str, Any], earlier: Sequence[StepBase] = ()) -> Iterator[Problem]:
        lifespan = self.get("lifespan")
        if isinstance(lifespan, int) and not isinstance(lifespan, bool) and lifespan < 1:
            yield Problem(f"lifespan must be at least 1 second, not {lifespan}", path=(*self.path, "lifespan"))

    def describe(self, ctx: StepContext) -> str:
        text = f"would obtain a token for Slurm's REST API with `scontrol token lifespan={self.lifespan}`"
        text += ", kept in memory for the steps that follow"
        if interface(ctx) != "rest":
            text += " (the command line itself authenticates with munge)"
        return text

    def run(self, ctx: StepContext) -> StepOutput:
        try:
            token, reused = token_for(ctx, self.lifespan)
        except SlurmError as e:
            if interface(ctx) == "rest":
                raise StepError(str(e)) from None
            # the command line authenticates with munge: no token is no failure
            return StepOutput(f"no token ({e}); the command line needs none", details={"token": False})
        ctx.state.secrets[TOKEN_KEY] = token
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


def pack(stage: Path) -> tuple[bytes, int]:
    """The staging directory as a tar.gz (paths relative to it); the archive and its file count."""
    import io
    import tarfile

    buffer = io.BytesIO()
    count = 0
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(stage):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                path = Path(root, name)
                if not (path.is_symlink() or path.is_file() or path.is_dir()):
                    continue  # sockets, fifos: nothing to send
                tar.add(path, arcname=str(path.relative_to(stage)), recursive=False)
                count += 0 if path.is_dir() and not path.is_symlink() else 1
    return buffer.getvalue(), count


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        return f"{n / 1024:.1f} KB"
    return f"{n / 1024 / 1024:.1f} MB"


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
        archive, count = pack(stage)
        encoded = base64.encodebytes(archive).decode("ascii")
        room = commands.MAX_SCRIPT_BYTES - 64 * 1024  # what the script's other lines need
        if len(encoded) > room:
            raise StepError(
                f"the staged files come to {_size(len(archive))} compressed, more than a Slurm batch script "
                f"can carry ({_size(room * 3 // 4)}); use a shared filesystem (sharedfs: true) for this much"
            )
        ctx.state.secrets[STAGE_KEY] = {"archive": encoded, "target": str(stage)}
        plural = "s" if count != 1 else ""
        return StepOutput(
            f"{count} file{plural} ({_size(len(archive))}) to every node at job start (sbcast)",
            details={"files": count, "bytes": len(archive), "target": str(stage)},
        )


# ---------------------------------------------------------------- submit and batch


class SlurmJobStep(JobStep):
    """submit and batch: sbatch, or a POST to the REST API (see `interface`)."""

    def tasks(self) -> int:
        return self.jobspec.counts.tasks

    def allocation_env(self) -> dict[str, str]:
        return {}

    def workdir(self, ctx: StepContext) -> str:
        cwd = self.jobspec.cwd
        return os.path.abspath(cwd) if cwd else str(ctx.stage)

    def preamble(self, ctx: StepContext) -> str:
        staged = ctx.state.secrets.get(STAGE_KEY)
        if not staged:
            return ""
        return commands.stage_preamble(staged["archive"], staged["target"])

    def script(self, ctx: StepContext) -> tuple[str | None, str | None]:
        """(script text for sbatch's stdin, or None; script path for sbatch's argv, or None)."""
        raise NotImplementedError

    def request(self, ctx: StepContext) -> commands.JobRequest:
        """The job, described once for either interface."""
        stage = str(ctx.stage)
        settings = ctx.settings
        return commands.JobRequest(
            self.jobspec.counts,
            job_name=self.jobspec.name,
            workdir=self.workdir(ctx),
            stage=stage,
            duration=self.jobspec.duration,
            after=self.after_job(ctx),
            partition=settings.get("slurm.partition"),
            account=settings.get("slurm.account"),
            qos=settings.get("slurm.qos"),
            options=tuple(settings.get("slurm.options") or ()),
            key=None if ctx.dry_run else ctx.submit_key,
            environment={**self.jobspec.environment, "JOBSPEC_STAGE": stage, **self.allocation_env()},
        )

    def describe(self, ctx: StepContext) -> str:
        request = self.request(ctx)
        text, path = self.script(ctx)
        if interface(ctx) == "rest":
            try:
                job = commands.rest_job(request, {}, text if text is not None else self._planned_content())
            except commands.RestMappingError as e:
                return f"would fail: {e}"
            del job["environment"]
            shown = json.dumps(job, ensure_ascii=False)
            text = f"would POST to {rest_url(ctx)}{commands.REST_SUBMIT} the job {shown}"
            text += " (environment: this one, then the jobspec's)"
        else:
            text = f"would run `{shlex.join(commands.sbatch_argv(request, path))}`"
        if self.name == "submit":
            tasks = self.tasks()
            text += (
                f", whose script starts {tasks} task{'s' if tasks != 1 else ''} of `{shlex.join(self.command(ctx))}`"
            )
            text += " with srun"
        text += f"; output to {ctx.describe_path('slurm-<job id>.out')}"
        if self.get("watch"):
            text += ", then stream its output until it ends"
        elif self.get("wait"):
            text += ", then wait for it to end"
        return text

    def _planned_content(self) -> str:
        """The batch script as the jobspec writes it (a dry run has nothing on disk to read)."""
        script = self.scripts.get(self.get("filename"))
        return str(script.get("content", "")) if script else ""

    def run(self, ctx: StepContext) -> StepOutput:
        stage = str(ctx.stage)
        problem = commands.output_problem(stage)
        if problem:
            raise StepError(problem)
        request = self.request(ctx)
        text, path = self.script(ctx)
        details: dict[str, Any] = {"tasks": self.tasks()}
        if interface(ctx) == "rest":
            if text is None:
                text = Path(path or "").read_text(encoding="utf-8", errors="surrogateescape")
            try:
                job = commands.rest_job(request, os.environ, text, submitter_variables())
            except commands.RestMappingError as e:
                raise StepError(str(e)) from None
            job_id, warnings = submit_rest(ctx, text, job)
            details["rest"] = {k: v for k, v in job.items() if k != "environment"}
        else:
            argv = commands.sbatch_argv(request, path)
            job_id, warnings = sbatch(argv, commands.sbatch_env(request, os.environ), text)
            details["sbatch"] = argv
        stdout = commands.output_path(stage, job_id, "out")
        stderr = commands.output_path(stage, job_id, "err")
        details = {"stdout": stdout, "stderr": stderr, **details}
        if warnings:
            details["warnings"] = warnings
        output = StepOutput(job_id, job_id=job_id, details=details)
        if self.waits:
            try:
                status = follow(job_id, stdout, stderr, ctx.output) if self.get("watch") else wait_for(job_id)
            except (SlurmError, JobLookupError) as e:
                raise StepError(f"job {job_id}: {e}", output) from None
            details.update(state=status.state, exit_code=status.exit_code)
            if status.state != "completed":
                raise StepError(failure(job_id, status), output)
        return output


class SlurmSubmit(SlurmJobStep, SubmitStep):
    def script(self, ctx: StepContext) -> tuple[str | None, str | None]:
        return commands.submit_script(self.command(ctx), self.jobspec.counts, self.preamble(ctx)), None


class SlurmBatch(SlurmJobStep, BatchStep):
    def tasks(self) -> int:
        return 1  # the script holds the allocation and starts the work itself

    def allocation_env(self) -> dict[str, str]:
        counts = self.jobspec.counts
        return {
            "JOBSPEC_NODES": str(counts.nodes or 1),
            "JOBSPEC_TASKS": str(counts.tasks),
            "JOBSPEC_CORES_PER_TASK": str(counts.cores_per_task),
        }

    def check(self, settings: Mapping[str, Any], earlier: Sequence[StepBase] = ()) -> Iterator[Problem]:
        yield from super().check(settings, earlier)
        script = self.scripts.get(self.get("filename"))
        if script is not None and not str(script.get("content", "")).startswith("#!"):
            yield Problem(
                f"'{self.get('filename')}' must start with a #! line: sbatch runs a batch script by it",
                path=(*self.path, "filename"),
            )

    def script(self, ctx: StepContext) -> tuple[str | None, str | None]:
        filename = self.get("filename")
        path = str(ctx.stage_path(filename))
        preamble = self.preamble(ctx)
        if preamble:
            return commands.batch_wrapper(path, self.scripts[filename]["content"], preamble), None
        return None, path


# ---------------------------------------------------------------- the transformer


class SlurmTransformer(Transformer):
    name = "slurm"
    description = "submits to a Slurm cluster with sbatch (the task started by srun); jobs outlive the command"
    settings = {
        "slurm.partition": Setting("slurm.partition", "str", None, "the partition (sbatch --partition)"),
        "slurm.account": Setting("slurm.account", "str", None, "the account to charge (sbatch --account)"),
        "slurm.qos": Setting("slurm.qos", "str", None, "the quality of service (sbatch --qos)"),
        "slurm.options": Setting(
            "slurm.options", "args", None, "more sbatch options, as a list (each passed as one argument)"
        ),
        "slurm.interface": Setting(
            "slurm.interface",
            "str",
            None,
            "cli (sbatch, the default) or rest (slurmrestd); unset: the transformer's interface option, "
            "else JOBSPEC_SLURM_INTERFACE, else cli",
        ),
        "slurm.rest_url": Setting(
            "slurm.rest_url",
            "str",
            None,
            f"slurmrestd's address; unset: JOBSPEC_SLURMRESTD_URL, else SLURMRESTD_URL, else {DEFAULT_REST_URL}",
        ),
    }

    @classmethod
    def available(cls) -> tuple[bool, str]:
        if shutil.which("sbatch") is None:
            return False, "sbatch is not on the PATH"
        problem = config_problem()
        if problem:
            return False, problem
        try:
            done = subprocess.run(
                ["scontrol", "ping"],
                capture_output=True,
                text=True,
                timeout=PING_TIMEOUT,
                stdin=subprocess.DEVNULL,
            )
        except FileNotFoundError:
            return False, "scontrol is not on the PATH"
        except subprocess.TimeoutExpired:
            return False, f"the Slurm controller did not answer within {PING_TIMEOUT:g} s"
        said = done.stdout.strip().splitlines()[0] if done.stdout.strip() else commands.slurm_messages(done.stderr)
        if done.returncode == 0 and said.endswith(" UP"):
            return True, said
        return False, f"the Slurm controller does not answer ({said or f'scontrol ping: status {done.returncode}'})"

    def __init__(self, **options: Any) -> None:
        """``options``: ``interface`` and ``rest_url`` (see the settings of the same names)."""
        super().__init__(**options)
        self.tokens: dict[int, Token] = {}  # REST API tokens by lifespan (see token_for); never shown

    @classmethod
    def owns_job_id(cls, job_id: str) -> bool:
        return bool(JOB_ID.fullmatch(job_id))

    def check_plan(self, jobspec: Jobspec, steps: list[PlannedStep]) -> list[Problem]:
        problems = []
        why = commands.duration_problem(jobspec.duration)
        if why:
            problems.append(Problem(why, path=("attributes", "system", "duration")))
        for name, value in jobspec.environment.items():
            if not name or "=" in name or "\0" in name or "\0" in value:
                problems.append(
                    Problem(
                        f"environment variable {name!r} cannot be passed to a job (a name needs no '=', no NUL)",
                        path=("attributes", "system", "environment", name),
                    )
                )
        seen: set[str] = set()
        for planned in steps:
            kind = planned.step.name
            if kind not in ("submit", "batch", "auth"):
                continue
            settings = planned.settings
            way = resolve_interface(settings, self.options)
            found: list[str | None] = []
            if way not in INTERFACES:
                found.append(f"slurm.interface is {way!r}: it takes {' or '.join(INTERFACES)}")
            if kind != "auth":
                stage = settings.get("stage")
                if stage is not None:
                    found.append(commands.output_problem(str(stage)))
                options = settings.get("slurm.options") or ()
                found.append(commands.options_problem(options))
                if way == "rest" and found[-1] is None:
                    found.append(url_problem(resolve_rest_url(settings, self.options)))
                    script = planned.step.scripts.get(planned.step.get("filename")) if kind == "batch" else None
                    found.append(commands.rest_pairs_problem(options, str((script or {}).get("content", ""))))
            for message in found:
                if message and message not in seen:
                    seen.add(message)
                    problems.append(Problem(message, path=planned.step.path))
        return problems

    def find_job(self, key: str) -> str | None:
        """The job a resumable run submitted with ``key`` (kept in the job's comment), if Slurm still has it."""
        try:  # the engine asks this while running a step: failures are the step's
            done = run_slurm(commands.SQUEUE_KEYS)
        except SlurmError as e:
            raise StepError(str(e)) from None
        if done.returncode != 0:
            lead = "Slurm did not answer" if commands.unreachable(done.stderr) else "squeue failed"
            raise StepError(f"{lead}: {commands.slurm_messages(done.stderr) or done.returncode}")
        return commands.find_in_squeue(done.stdout, key)

    def status(self, job_id: str) -> JobStatus:
        return job_status(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        return wait_for(job_id, timeout)

    def cancel(self, job_id: str) -> JobStatus:
        status = job_status(job_id)
        if status.done:
            return status
        done = run_slurm(["scancel", job_id])
        if done.returncode != 0:
            said = f"{done.stderr}\n{done.stdout}"
            message = commands.slurm_messages(done.stderr) or f"exit status {done.returncode}"
            lead = "Slurm did not answer" if commands.unreachable(said) else "scancel failed"
            raise SlurmError(f"{lead}: {message}")
        return wait_for(job_id, timeout=10)


for _step in (WriterStep, CopyStep, SetStep, UnsetStep, SlurmSubmit, SlurmBatch, SlurmStage, SlurmAuth):
    SlurmTransformer.register_step(_step)
