"""The thin layer that runs Slurm's commands: sbatch, scontrol (show job, ping, token),
squeue and scancel, each an argv list with a timeout, never a shell line.

What the commands say is read in `parse`; what they are asked is decided in
`request`. Every failure is a `SlurmError` (a `TransformerError`) whose message is
for the user: Slurm did not answer, or Slurm's own reason.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from jobspec.plugin import JobLookupError, JobStatus, TransformerError
from jobspec.transformers.slurm import parse
from jobspec.transformers.slurm.request import SQUEUE_KEYS
from jobspec.transformers.slurm.state import Token

# Where Slurm's client commands look for their configuration when SLURM_CONF is
# unset: the compiled-in default, and the cache of a configless slurmd.
DEFAULT_CONFIGS = ("/etc/slurm/slurm.conf", "/run/slurm/conf/slurm.conf")
PING_TIMEOUT = 2.0  # available(): how long `scontrol ping` may take
COMMAND_TIMEOUT = 120.0  # sbatch, scontrol, scancel: Slurm's own retries end well before this
# `scontrol show job` first gets this long: a controller that is down makes it retry for
# about 18 s before failing, while `scontrol ping` says DOWN at once (see show_job)
QUICK_TIMEOUT = 3.0
JOB_ID = re.compile(r"\d+(?:_\d+)?")


class SlurmError(TransformerError):
    """Slurm could not be reached, or a command failed; the message is for the user."""


class SlurmTimeout(SlurmError):
    """A Slurm command did not end in the time it was given."""


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
    pass_fds: Sequence[int] = (),
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
            pass_fds=tuple(pass_fds),
            capture_output=True,
            encoding="utf-8",
            errors="surrogateescape",
            timeout=timeout,
        )
    except FileNotFoundError:
        _programs.pop((argv[0], os.environ.get("PATH")), None)
        raise SlurmError(f"{argv[0]} is not installed here (not found on the PATH)") from None
    except subprocess.TimeoutExpired:
        raise SlurmTimeout(f"Slurm did not answer: {argv[0]} took more than {timeout:g} s") from None


@contextlib.contextmanager
def export_descriptor(content: bytes) -> Iterator[int]:
    """A descriptor (3 or above, as sbatch's ``--export-file=<fd>`` requires) to read
    ``content`` from, closed afterwards. In memory (memfd) where Linux has it, else an
    unnamed temporary file: the job's environment is written to no named file."""
    if hasattr(os, "memfd_create"):
        fd = os.memfd_create("jobspec-environment", os.MFD_CLOEXEC)
    else:
        import tempfile

        with tempfile.TemporaryFile() as handle:
            fd = os.dup(handle.fileno())
    try:
        if fd < 3:  # a process started with 0-2 closed: sbatch takes no descriptor below 3
            import fcntl

            moved = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 3)
            os.close(fd)
            fd = moved
        view = memoryview(content)
        while view:
            view = view[os.write(fd, view) :]
        os.lseek(fd, 0, os.SEEK_SET)
        yield fd
    finally:
        os.close(fd)


def sbatch(
    argv: Sequence[str], env: Mapping[str, str], script: str | None = None, pass_fds: Sequence[int] = ()
) -> tuple[str, list[str]]:
    """Submit (``env``: sbatch's whole environment, ``script``: its stdin, ``pass_fds``: the
    descriptor of its ``--export-file``); the job id and sbatch's warnings. SlurmError with
    Slurm's reason if it refuses."""
    done = run_slurm(argv, input=script, env=env, pass_fds=pass_fds)
    if done.returncode != 0:
        raise SlurmError(parse.sbatch_failure(done.stderr, done.returncode))
    try:
        job_id = parse.parse_sbatch(done.stdout)
    except parse.SbatchOutputError as e:
        raise SlurmError(str(e)) from None
    warnings = [line.strip() for line in done.stderr.splitlines() if line.strip()]
    return job_id, warnings


def check_job_id(job_id: str) -> None:
    if not JOB_ID.fullmatch(job_id):
        raise JobLookupError(f"'{job_id}' is not a Slurm job id (they are numbers, like 42 or 42_3)")


def show_job(job_id: str) -> dict[str, str]:
    """``scontrol show job -o ID``, parsed. JobLookupError if Slurm knows no such job."""
    check_job_id(job_id)
    argv = ["scontrol", "show", "job", "-o", job_id]
    try:
        done = run_slurm(argv, timeout=QUICK_TIMEOUT)
    except SlurmTimeout:  # a controller that is down, or one that is slow today: ask which
        up, why = ping()
        if not up:
            raise SlurmError(f"Slurm did not answer: {why}") from None
        done = run_slurm(argv)
    said = f"{done.stderr}\n{done.stdout}"
    if done.returncode != 0:
        if "Invalid job id" in said:
            raise JobLookupError(
                f"no Slurm job {job_id} (Slurm forgets finished jobs after MinJobAge; sacct may still know it)"
            )
        message = parse.slurm_messages(done.stderr) or done.stdout.strip() or f"exit status {done.returncode}"
        lead = "Slurm did not answer" if parse.unreachable(said) else "scontrol failed"
        raise SlurmError(f"{lead}: {message}")
    fields = parse.parse_scontrol(done.stdout)
    if "JobState" not in fields:
        raise JobLookupError(f"no Slurm job {job_id}")
    return fields


def job_status(job_id: str) -> JobStatus:
    return parse.job_status(job_id, show_job(job_id))


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


def cancel(job_id: str) -> JobStatus:
    """``scancel`` a job that has not ended, then wait (10 s at most) for Slurm to end it."""
    status = job_status(job_id)
    if status.done:
        return status
    done = run_slurm(["scancel", job_id])
    if done.returncode != 0:
        said = f"{done.stderr}\n{done.stdout}"
        message = parse.slurm_messages(done.stderr) or f"exit status {done.returncode}"
        lead = "Slurm did not answer" if parse.unreachable(said) else "scancel failed"
        raise SlurmError(f"{lead}: {message}")
    return wait_for(job_id, timeout=10)


def find_by_key(key: str) -> str | None:
    """The job submitted with ``key`` in its comment (see `request.JobRequest`), if Slurm still has it."""
    done = run_slurm(SQUEUE_KEYS)
    if done.returncode != 0:
        lead = "Slurm did not answer" if parse.unreachable(done.stderr) else "squeue failed"
        raise SlurmError(f"{lead}: {parse.slurm_messages(done.stderr) or done.returncode}")
    return parse.find_in_squeue(done.stdout, key)


def node_shapes() -> dict[str, tuple[int, int]]:
    """Each node's CPUs and GPUs (``sinfo -N``; a node in several partitions once)."""
    done = run_slurm(["sinfo", "-h", "-N", "-o", "%N|%c|%G"])
    if done.returncode != 0:
        raise SlurmError(f"sinfo failed: {done.stderr.strip() or done.returncode}")
    shapes: dict[str, tuple[int, int]] = {}
    for line in done.stdout.splitlines():
        name, _, rest = line.partition("|")
        cpus, _, gres = rest.partition("|")
        gpus = 0
        for entry in gres.split(","):  # gpu:2, gpu:a100:4(S:0-1)
            parts = entry.split("(")[0].split(":")
            if parts[0] == "gpu" and parts[-1].isdigit():
                gpus += int(parts[-1])
        if cpus.strip().isdigit():
            shapes[name.strip()] = (int(cpus), gpus)
    return shapes


def ping() -> tuple[bool, str]:
    """Whether Slurm's commands are here and its controller answers ``scontrol ping``
    within `PING_TIMEOUT`, and why (or why not)."""
    if find_program("sbatch") is None:
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
    said = done.stdout.strip().splitlines()[0] if done.stdout.strip() else parse.slurm_messages(done.stderr)
    if done.returncode == 0 and said.endswith(" UP"):
        return True, said
    return False, f"the Slurm controller does not answer ({said or f'scontrol ping: status {done.returncode}'})"


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
    value = parse.parse_token(done.stdout) if done.returncode == 0 else None
    if value is None:
        said = parse.slurm_messages(done.stderr) or f"exit status {done.returncode}, no token printed"
        lead = "Slurm did not answer" if parse.unreachable(done.stderr) else "scontrol token failed"
        raise SlurmError(f"{lead}: {said}")
    return Token(user_name(), value, lifespan, time.monotonic())


_conf_texts: dict[str, str] = {}


def conf_text() -> str:
    """The local slurm.conf's text (read once per process), or "" where there is none."""
    path = os.environ.get("SLURM_CONF") or next((p for p in DEFAULT_CONFIGS if os.path.exists(p)), "")
    if path not in _conf_texts:
        try:
            _conf_texts[path] = Path(path).read_text(encoding="utf-8", errors="replace") if path else ""
        except OSError:
            _conf_texts[path] = ""
    return _conf_texts[path]


def rlimit_variables() -> dict[str, str]:
    """SLURM_RLIMIT_<name> for each limit slurm.conf propagates: what sbatch hands a job from
    this process. Given explicitly, since neither the REST API nor sbatch with an export
    file (which drops the environment sbatch built) passes them on."""
    import resource

    from jobspec.transformers.slurm.rest_mapping import propagated_rlimits

    variables = {}
    for name in propagated_rlimits(conf_text()):
        limit = getattr(resource, f"RLIMIT_{name}", None)
        if limit is not None:
            soft = resource.getrlimit(limit)[0]
            variables[f"SLURM_RLIMIT_{name}"] = str(soft & 0xFFFFFFFFFFFFFFFF)  # unlimited: as sbatch prints it
    return variables
