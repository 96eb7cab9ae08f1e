"""What the Slurm transformer asks of Slurm, decided without running anything.

Pure functions: the ``sbatch`` command line from a jobspec's counts, the batch
scripts jobspec generates, and the reading of what ``sbatch`` and
``scontrol show job -o`` print. `transformer` runs the commands.

How a jobspec maps onto Slurm:

- resources: ``--nodes`` (when the graph starts at a node), ``--ntasks``,
  ``--ntasks-per-node`` (when the tasks divide evenly over the nodes: the graph
  puts the same number of slots on every node), ``--cpus-per-task``,
  ``--gpus-per-task``, ``--exclusive`` (an exclusive vertex on the way to the slot);
- ``attributes.system.duration`` (seconds): ``--time`` in minutes, rounded up
  (Slurm's resolution is a minute), at least 1; none or 0 leaves the partition's default;
- the working directory: ``--chdir`` (``attributes.system.cwd``, else the stage);
- the environment: ``--export=ALL`` with ``attributes.system.environment`` put in
  the environment of the ``sbatch`` process, not on its command line, so that
  commas, quotes, newlines and non-ASCII text reach the job as they are;
- output: ``<stage>/slurm-<job id>.out`` and ``.err`` (``%`` in the stage doubled,
  since Slurm reads ``%`` in these names as a pattern);
- ``after:``: ``--dependency=afterok:<id>`` with ``--kill-on-invalid-dep=yes``, so a
  job whose parent failed ends (cancelled) on any cluster instead of pending forever;
- passthrough settings: ``--partition``, ``--account``, ``--qos``, then the
  ``slurm.options`` list as given (last, so they can override the rest).

Every value is one element of an argv list (never a shell string); the task's
command inside the generated script is quoted argument by argument.

One description, two interfaces: a `JobRequest` lists what jobspec asks for as
sbatch options (`JobRequest.pairs`). `sbatch_argv` writes them on a command line;
`rest_job` turns the very same pairs, through one table (`REST_FIELDS`, sbatch
option -> field of the REST API's job), into the JSON job slurmrestd takes, the
passthrough options and a batch script's ``#SBATCH`` lines included. An option
the table lacks is refused (for the REST API only) instead of dropped.
"""

from __future__ import annotations

import math
import posixpath
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobspec.document.resources import ResourceCounts
from jobspec.steps.jobs import script_command
from jobspec.transformers.base import JobStatus

# Slurm stores a time limit as a 32-bit count of minutes; the top values mean
# INFINITE and NO_VAL, so this is the largest finite limit it can hold.
MAX_MINUTES = 0xFFFFFFFD
# Slurm's default max_script_size (SchedulerParameters): 4 MB per batch script.
MAX_SCRIPT_BYTES = 4 * 1024 * 1024

# Per task: the rank and count the local transformer also gives, then the command.
TASK_SHELL = 'export JOBSPEC_TASK_RANK="$SLURM_PROCID" JOBSPEC_TASK_COUNT="$SLURM_NTASKS"; exec "$@"'


# ---------------------------------------------------------------- the request


def time_limit(duration: float | None) -> str | None:
    """``--time`` for a duration in seconds: whole minutes, rounded up, at least 1.

    None for no duration (or 0): the partition's default limit then applies.
    Slurm also takes ``D-HH:MM:SS``, but its resolution is a minute either way.
    """
    if not duration:
        return None
    return str(max(1, math.ceil(duration / 60)))


def duration_problem(duration: float | None) -> str | None:
    """Why a duration cannot be a Slurm time limit, or None."""
    if duration is None:
        return None
    if not math.isfinite(duration) or duration < 0:
        return f"duration {duration:g} is not a number of seconds Slurm can take"
    if duration and math.ceil(duration / 60) > MAX_MINUTES:
        return f"duration {duration:g} s is longer than the longest time limit Slurm can hold ({MAX_MINUTES} minutes)"
    return None


# One (long option, value) pair of a job request; value None for a flag without one.
Pair = tuple[str, str | None]


def layout_pairs(counts: ResourceCounts, *, step: bool = False) -> list[Pair]:
    """The task layout, for ``sbatch`` (the allocation) or ``srun`` (``step``: the task itself).

    With fewer tasks than nodes, the allocation keeps every node (``--nodes``
    without ``--ntasks``: Slurm would otherwise shrink it) and the step runs the
    tasks on as many nodes as there are tasks.
    """
    nodes, tasks = counts.nodes, counts.tasks
    pairs: list[Pair] = []
    if nodes:
        if tasks >= nodes:
            pairs += [("--nodes", str(nodes)), ("--ntasks", str(tasks))]
            if tasks % nodes == 0:  # uneven, Slurm would round the allocation up to nodes x per node
                pairs.append(("--ntasks-per-node", str(tasks // nodes)))
        elif step:
            pairs += [("--nodes", str(tasks)), ("--ntasks", str(tasks)), ("--ntasks-per-node", "1")]
        else:
            pairs.append(("--nodes", str(nodes)))
    else:
        pairs.append(("--ntasks", str(tasks)))
    pairs.append(("--cpus-per-task", str(counts.cores_per_task)))
    if counts.gpus_per_task:
        pairs.append(("--gpus-per-task", str(counts.gpus_per_task)))
    if counts.exclusive and not step:  # srun --exclusive means something else
        pairs.append(("--exclusive", None))
    return pairs


def render(pairs: Sequence[Pair]) -> list[str]:
    """Pairs as command-line arguments: ``--name=value`` (one argument each), or ``--flag``."""
    return [flag if value is None else f"{flag}={value}" for flag, value in pairs]


def layout_options(counts: ResourceCounts, *, step: bool = False) -> list[str]:
    """`layout_pairs` as command-line arguments (for srun inside the generated script, and for reading)."""
    return render(layout_pairs(counts, step=step))


def output_pattern(stage: str, suffix: str) -> str:
    """The ``--output``/``--error`` pattern: ``<stage>/slurm-%j.<suffix>``, ``%`` in the stage escaped."""
    return posixpath.join(stage.replace("%", "%%"), f"slurm-%j.{suffix}")


def output_path(stage: str, job_id: str, suffix: str) -> str:
    """Where Slurm writes the job's output: the pattern with the job id filled in."""
    return posixpath.join(stage, f"slurm-{job_id}.{suffix}")


def output_problem(stage: str) -> str | None:
    """Why Slurm cannot write the job's output into ``stage``, or None.

    A backslash in an output name turns Slurm's patterns off and is removed by
    slurmd, so the file would land somewhere else.
    """
    if "\\" in stage:
        return f"the staging directory {stage!r} holds a backslash, which Slurm drops from output file names"
    return None


KEY_MARK = "jobspec-submit-key="
SQUEUE_KEYS = ["squeue", "--me", "--noheader", "--states=all", "--format=%i %k"]


@dataclass(frozen=True)
class JobRequest:
    """Everything jobspec asks of Slurm for one job: the one description that both the
    ``sbatch`` command line (`sbatch_argv`) and the REST API's job (`rest_job`) are made
    from, so the two interfaces cannot ask for different jobs.

    ``environment`` is what the job gets beside the submitting process's own
    environment (sbatch's ``--export=ALL``): the jobspec's variables, JOBSPEC_STAGE, ...
    ``options`` are the ``slurm.options`` passthrough, as the user wrote them.
    ``key`` (a resumable run's submit key) goes into the job's comment, where
    `find_in_squeue` finds it again; a ``--comment`` in ``options`` replaces it.
    """

    counts: ResourceCounts
    job_name: str
    workdir: str
    stage: str
    duration: float | None = None
    after: str | None = None
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    options: tuple[str, ...] = ()
    key: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)

    def pairs(self) -> list[Pair]:
        """What jobspec itself asks for, as sbatch options in order (the passthrough ``options`` follow)."""
        pairs: list[Pair] = [
            ("--job-name", self.job_name),
            ("--chdir", self.workdir),
            ("--output", output_pattern(self.stage, "out")),
            ("--error", output_pattern(self.stage, "err")),
            ("--export", "ALL"),
            *layout_pairs(self.counts),
        ]
        limit = time_limit(self.duration)
        if limit is not None:
            pairs.append(("--time", limit))
        if self.after is not None:
            pairs += [("--dependency", f"afterok:{self.after}"), ("--kill-on-invalid-dep", "yes")]
        for flag, value in (("--partition", self.partition), ("--account", self.account), ("--qos", self.qos)):
            if value:
                pairs.append((flag, value))
        if self.key is not None:
            pairs.append(("--comment", f"{KEY_MARK}{self.key}"))
        return pairs


def sbatch_argv(request: JobRequest, script: str | None = None) -> list[str]:
    """The ``sbatch`` command line; ``script`` is the batch script's path (None: it is read from stdin).

    The passthrough options come last, as given, so they override the rest.
    """
    argv = ["sbatch", "--parsable", *render(request.pairs()), *request.options]
    if script is not None:
        argv.append(script)
    return argv


def sbatch_env(request: JobRequest, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of the ``sbatch`` process (it exports all of it to the job)."""
    return {**base, **request.environment}


def find_in_squeue(text: str, key: str) -> str | None:
    """The job whose comment holds ``key``, from the output of `SQUEUE_KEYS` (newest if several)."""
    found = None
    for line in text.splitlines():
        job_id, _, comment = line.strip().partition(" ")
        if comment.strip() == f"{KEY_MARK}{key}" and job_id.isdigit():
            found = job_id if found is None or int(job_id) > int(found) else found
    return found


def options_problem(options: Sequence[str]) -> str | None:
    """Why a ``slurm.options`` list would not read as sbatch options, or None.

    A first word that is not an option would be taken by sbatch as the script.
    """
    if options and not options[0].startswith("-"):
        return f"slurm.options must start with an option (--name=value), not {options[0]!r}"
    return None


# ---------------------------------------------------------------- the same request, for the REST API

# The REST API (slurmrestd, openapi/v0.0.38: the newest Slurm 22.05 loads without
# slurmdbd) takes ``{"script": ..., "job": {...}}`` at POST /slurm/v0.0.38/job/submit.
# slurmrestd hands each field of the job to the option parser sbatch uses, so a
# field given as text is read exactly as the sbatch option would read it; counts
# are sent as numbers where they are plain numbers. Measured on 22.05:
# - ``nodes`` as a [min, max] list (as the OpenAPI text describes it) is dropped
#   without a word (the job gets 1 node): it is sent as a number or "min-max" text;
# - ``exclusive`` takes "exclusive" (sbatch's bare --exclusive), "user", "mcs" or
#   "oversubscribe"; true, "true" or "" are refused;
# - ``no_kill`` takes "set"/"off", ``get_user_environment`` text, not booleans;
# - ``environment`` is required (HTTP 400 "environment must be set"), and it is the
#   job's whole environment: there is no --export, so what sbatch --export=ALL would
#   send (this process's environment) is sent, then the jobspec's variables;
# - ``#SBATCH`` lines in the script are not read: jobspec reads them itself, with
#   sbatch's precedence (the script's lines, then jobspec's options, then slurm.options);
# - a 200 answer may carry ``errors`` that are warnings (a held job, say).
REST_API = "v0.0.38"
REST_SUBMIT = f"/slurm/{REST_API}/job/submit"


def _text(value: str | None) -> Any:
    return value


def _number(value: str | None) -> Any:
    """A plain count as a number; anything else (``2-4``, ``1:30:00``, ``4G``) as text for Slurm to read."""
    return int(value) if value is not None and value.isdigit() else value


def _yes_no(value: str | None) -> Any:
    return {"yes": True, "no": False}.get((value or "").lower(), value)


def _always(constant: Any) -> Callable[[str | None], Any]:
    return lambda value: constant


def _or(default: str) -> Callable[[str | None], Any]:
    return lambda value: default if value is None else value


class RestField:
    """How one sbatch option travels in a REST job: its field, and its value from the option's.

    (A plain class, not a dataclass: the table is built at import, which `jobspec run` pays for.)
    """

    __slots__ = ("arg", "convert", "key", "short")

    def __init__(
        self, key: str, arg: str, convert: Callable[[str | None], Any] = _text, short: str | None = None
    ) -> None:
        self.key = key
        self.arg = arg  # "required", "optional" (only as --name=value) or "none"
        self.convert = convert
        self.short = short


_R, _O, _N = "required", "optional", "none"

# sbatch long option -> the v0.0.38 job field (every option jobspec writes is here;
# the rest is for slurm.options and #SBATCH lines). Options missing here have no
# field in v0.0.38 (or slurmrestd refuses them: --wait, --wrap, --export-file, ...).
REST_FIELDS: Mapping[str, RestField] = {
    "--account": RestField("account", _R, short="-A"),
    "--acctg-freq": RestField("account_gather_frequency", _R),
    "--array": RestField("array", _R, short="-a"),
    "--batch": RestField("batch_features", _R),
    "--bb": RestField("burst_buffer", _R),
    "--begin": RestField("begin_time", _R, short="-b"),
    "--chdir": RestField("current_working_directory", _R, short="-D"),
    "--cluster-constraint": RestField("cluster_constraint", _R),
    "--comment": RestField("comment", _R),
    "--constraint": RestField("constraints", _R, short="-C"),
    "--core-spec": RestField("core_specification", _R, _number, short="-S"),
    "--cores-per-socket": RestField("cores_per_socket", _R, _number),
    "--cpu-freq": RestField("cpu_frequency", _R),
    "--cpus-per-gpu": RestField("cpus_per_gpu", _R),
    "--cpus-per-task": RestField("cpus_per_task", _R, _number, short="-c"),
    "--deadline": RestField("deadline", _R),
    "--delay-boot": RestField("delay_boot", _R, _number),
    "--dependency": RestField("dependency", _R, short="-d"),
    "--distribution": RestField("distribution", _R, short="-m"),
    "--error": RestField("standard_error", _R, short="-e"),
    "--exclude": RestField("exclude_nodes", _R, short="-x"),
    "--exclusive": RestField("exclusive", _O, _or("exclusive")),
    "--export": RestField("environment", _R),  # see rest_job: only ALL, which is what is sent
    "--get-user-env": RestField("get_user_environment", _O, _or("")),
    "--gpu-bind": RestField("gpu_binding", _R),
    "--gpu-freq": RestField("gpu_frequency", _R),
    "--gpus": RestField("gpus", _R, short="-G"),
    "--gpus-per-node": RestField("gpus_per_node", _R),
    "--gpus-per-socket": RestField("gpus_per_socket", _R),
    "--gpus-per-task": RestField("gpus_per_task", _R),
    "--gres": RestField("gres", _R),
    "--gres-flags": RestField("gres_flags", _R),
    "--hint": RestField("cpu_binding_hint", _R),
    "--hold": RestField("hold", _N, _always(True), short="-H"),
    "--input": RestField("standard_input", _R, short="-i"),
    "--job-name": RestField("name", _R, short="-J"),
    "--kill-on-invalid-dep": RestField("kill_on_invalid_dependency", _R, _yes_no),
    "--licenses": RestField("licenses", _R, short="-L"),
    "--mail-type": RestField("mail_type", _R),
    "--mail-user": RestField("mail_user", _R),
    "--mcs-label": RestField("mcs_label", _R),
    "--mem": RestField("memory_per_node", _R, _number),
    "--mem-bind": RestField("memory_binding", _R),
    "--mem-per-cpu": RestField("memory_per_cpu", _R, _number),
    "--mem-per-gpu": RestField("memory_per_gpu", _R, _number),
    "--mincpus": RestField("minimum_cpus_per_node", _R, _number),
    "--nice": RestField("nice", _O, lambda value: _number("100" if value is None else value)),
    "--no-kill": RestField("no_kill", _O, _or("set"), short="-k"),
    "--no-requeue": RestField("no_requeue", _N, _always(True)),
    "--nodelist": RestField("nodelist", _R, short="-w"),
    "--nodes": RestField("nodes", _R, _number, short="-N"),
    "--ntasks": RestField("tasks", _R, _number, short="-n"),
    "--ntasks-per-core": RestField("ntasks_per_core", _R, _number),
    "--ntasks-per-gpu": RestField("ntasks_per_gpu", _R, _number),
    "--ntasks-per-node": RestField("tasks_per_node", _R, _number),
    "--ntasks-per-socket": RestField("ntasks_per_socket", _R, _number),
    "--open-mode": RestField("open_mode", _R),
    "--output": RestField("standard_output", _R, short="-o"),
    "--oversubscribe": RestField("exclusive", _N, _always("oversubscribe"), short="-s"),
    "--partition": RestField("partition", _R, short="-p"),
    "--priority": RestField("priority", _R),
    "--profile": RestField("profile", _R),
    "--qos": RestField("qos", _R, short="-q"),
    "--requeue": RestField("requeue", _N, _always(True)),
    "--reservation": RestField("reservation", _R),
    "--signal": RestField("signal", _R),
    "--sockets-per-node": RestField("sockets_per_node", _R, _number),
    "--spread-job": RestField("spread_job", _N, _always(True)),
    "--thread-spec": RestField("thread_specification", _R, _number),
    "--threads-per-core": RestField("threads_per_core", _R, _number),
    "--time": RestField("time_limit", _R, _number, short="-t"),
    "--time-min": RestField("time_minimum", _R, _number),
    "--tmp": RestField("temporary_disk_per_node", _R),
    "--use-min-nodes": RestField("minimum_nodes", _N, _always(True)),
    "--wait-all-nodes": RestField("wait_all_nodes", _R, _number),
    "--wckey": RestField("wckey", _R),
}
_SHORT = {f.short: name for name, f in REST_FIELDS.items() if f.short}

# Never sent to a job: the token jobspec uses to talk to the REST API.
PRIVATE_VARIABLES = frozenset({"SLURM_JWT"})


class RestMappingError(ValueError):
    """An sbatch option (in slurm.options or an #SBATCH line) that the REST API cannot carry."""


def parse_sbatch_args(args: Sequence[str], where: str = "slurm.options") -> list[Pair]:
    """sbatch options as (long option, value) pairs, the way sbatch's getopt reads them:
    ``--name=value``, ``--name value``, ``-n value``, ``-nvalue``, ``--flag``.

    RestMappingError for a word that is not an option the REST API takes.
    """
    pairs: list[Pair] = []
    words = list(args)
    i = 0
    while i < len(words):
        word = words[i]
        i += 1
        if word.startswith("--"):
            name, eq, attached = word.partition("=")
            value: str | None = attached if eq else None
        elif word.startswith("-") and len(word) >= 2:
            name = _SHORT.get(word[:2], word[:2])
            value = word[2:] or None
            eq = "=" if value is not None else ""
        else:
            raise RestMappingError(f"{where}: {word!r} is not an option (sbatch would take it for the script)")
        spec = REST_FIELDS.get(name)
        if spec is None:
            raise RestMappingError(
                f"{where}: {name} has no field in Slurm's REST API ({REST_API}); "
                "use the command line for it (slurm.interface cli)"
            )
        if spec.arg == _N and value is not None:
            raise RestMappingError(f"{where}: {name} takes no value (given {value!r})")
        if spec.arg == _R and value is None:
            if i >= len(words):
                raise RestMappingError(f"{where}: {name} needs a value")
            value = words[i]
            i += 1
        pairs.append((name, value))
    return pairs


def directive_args(content: str) -> list[str]:
    """The options of a script's ``#SBATCH`` lines, split as sbatch splits them
    (whitespace, quotes; an unquoted ``#`` starts a comment)."""
    args: list[str] = []
    for line in sbatch_directives(content):
        try:
            args += shlex.split(line[len("#SBATCH") :], comments=True)
        except ValueError as e:
            raise RestMappingError(f"#SBATCH line {line!r}: {e}") from None
    return args


def rest_pairs_problem(options: Sequence[str], script: str = "") -> str | None:
    """Why the passthrough options or a script's ``#SBATCH`` lines cannot go through the REST API, or None."""
    try:
        parse_sbatch_args(directive_args(script), "#SBATCH")
        rest_fields(parse_sbatch_args(options))
    except RestMappingError as e:
        return str(e)
    return None


def rest_fields(pairs: Sequence[Pair]) -> dict[str, Any]:
    """(long option, value) pairs as fields of a REST job, through `REST_FIELDS`; a later pair
    overrides an earlier one, as a later option does on sbatch's command line."""
    job: dict[str, Any] = {}
    for name, value in pairs:
        spec = REST_FIELDS[name]
        if spec.key == "environment":
            if (value or "").upper() != "ALL":
                raise RestMappingError(
                    f"--export={value}: the REST API sends the job's environment whole (this process's, then "
                    "attributes.system.environment); use the command line for --export (slurm.interface cli)"
                )
            continue
        job[spec.key] = spec.convert(value)
    return job


# Variables sbatch puts into the job's environment from its options (slurmrestd
# adds SLURM_JOB_NAME, SLURM_JOB_DEPENDENCY and a few others itself, not these).
# srun inside a batch script reads them as its defaults, so they shape its steps.
_SHAPE_VARIABLES = {
    "cpus_per_task": "SLURM_CPUS_PER_TASK",
    "tasks_per_node": "SLURM_NTASKS_PER_NODE",
    "ntasks_per_socket": "SLURM_NTASKS_PER_SOCKET",
    "ntasks_per_core": "SLURM_NTASKS_PER_CORE",
    "ntasks_per_gpu": "SLURM_NTASKS_PER_GPU",
}


def rest_job(
    request: JobRequest,
    base: Mapping[str, str],
    script: str = "",
    submitter: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The ``job`` of a REST submission: the same job `sbatch_argv` asks for.

    ``base`` is the submitting process's environment (what sbatch --export=ALL
    sends; SLURM_JWT is left out), ``script`` the batch script, whose ``#SBATCH``
    lines come first (sbatch reads them, slurmrestd does not), ``submitter`` the
    variables sbatch itself adds from the submitting process (`submitter_variables`
    in the transformer: SLURM_SUBMIT_DIR, SLURM_UMASK, the resource limits, ...).
    RestMappingError for an option the REST API cannot carry.
    """
    job = rest_fields(parse_sbatch_args(directive_args(script), "#SBATCH"))
    job.update(rest_fields(request.pairs()))
    job.update(rest_fields(parse_sbatch_args(request.options)))
    environment = {k: v for k, v in base.items() if k not in PRIVATE_VARIABLES}
    environment.update(request.environment)
    for key, variable in _SHAPE_VARIABLES.items():
        if isinstance(job.get(key), int):
            environment[variable] = str(job[key])
    environment.update(submitter or {})
    job["environment"] = environment
    return job


# The resource limits sbatch hands to the job (SLURM_RLIMIT_<name>), in Slurm's order.
RLIMIT_NAMES = ("CPU", "FSIZE", "DATA", "STACK", "CORE", "RSS", "NPROC", "NOFILE", "MEMLOCK", "AS")
_PROPAGATE = re.compile(r"(?im)^\s*PropagateResourceLimits(_Except)?\s*=\s*(\S+)")


def propagated_rlimits(conf: str) -> list[str]:
    """The limits a cluster's slurm.conf text propagates (PropagateResourceLimits[_Except]; Slurm's default: all)."""
    values = {bool(m.group(1)): m.group(2).upper().split(",") for m in _PROPAGATE.finditer(conf)}
    if True in values:
        return [name for name in RLIMIT_NAMES if name not in values[True]]
    chosen = values.get(False, ["ALL"])
    if "ALL" in chosen:
        return list(RLIMIT_NAMES)
    return [name for name in RLIMIT_NAMES if name in chosen]


def rest_errors(body: Any) -> list[str]:
    """The messages in a REST answer's ``errors`` list (each ``error``, with its ``description``)."""
    found: list[str] = []
    entries = body.get("errors") if isinstance(body, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        error = str(entry.get("error") or "").strip()
        description = str(entry.get("description") or "").strip()
        text = f"{error} ({description})" if error and description else error or description
        if text and text not in found:
            found.append(text)
    return found


# slurmrestd's answer when it could not pass a token on to slurmctld (a bad or expired one).
_TOKEN_REFUSED = 5005


def rest_failure(status: int, body: Any, url: str) -> str:
    """One line for a REST submission that failed with HTTP ``status``: whose fault, in Slurm's words."""
    said = rest_errors(body)
    codes = (
        {e.get("error_code") for e in body.get("errors", []) if isinstance(e, dict)}
        if isinstance(body, dict)
        else set()
    )
    text = "; ".join(said) if said else (body.strip()[:200] if isinstance(body, str) and body.strip() else "")
    if status == 401:
        return (
            f"Slurm's REST API at {url} needs a token it accepts (401 {text or 'Authentication failure'}): "
            "add an auth step before this step, or export SLURM_JWT"
        )
    if status == 404:
        return f"Slurm's REST API at {url} has no {REST_API} (404): slurmrestd must load openapi/{REST_API}"
    if status >= 500 and _TOKEN_REFUSED in codes:
        return (
            f"Slurm's REST API at {url} could not use the token ({text}): it is expired, or not for this user; "
            "obtain a new one with an auth step"
        )
    if unreachable(text):
        return f"Slurm did not answer: {text}"
    if status == 400:
        return f"Slurm's REST API could not read the job: {text or 'HTTP 400'}"
    return f"Slurm refused the job: {text or f'HTTP {status}'}"


def parse_rest_submit(body: Any) -> tuple[str, list[str]]:
    """The job id and the warnings of a successful (HTTP 200) submission."""
    job_id = body.get("job_id") if isinstance(body, dict) else None
    if not isinstance(job_id, int) or isinstance(job_id, bool):
        raise SbatchOutputError(f"Slurm's REST API answered with no job id: {rest_errors(body) or body!r}")
    warnings = rest_errors(body)
    message = body.get("job_submit_user_msg")
    if isinstance(message, str) and message.strip():
        warnings.append(message.strip())
    return str(job_id), warnings


def parse_token(stdout: str) -> str | None:
    """The token in what ``scontrol token`` prints (``SLURM_JWT=...``), or None."""
    for line in stdout.splitlines():
        name, eq, value = line.strip().partition("=")
        if eq and name == "SLURM_JWT" and value:
            return value
    return None


# ---------------------------------------------------------------- the scripts


def submit_script(command: Sequence[str], counts: ResourceCounts, preamble: str = "") -> str:
    """The batch script of a ``submit``: ``srun`` starts the task count of ``command``.

    Each task gets JOBSPEC_TASK_RANK and JOBSPEC_TASK_COUNT (as with the local
    transformer) beside Slurm's own SLURM_PROCID and SLURM_NTASKS.
    """
    srun = ["srun", *layout_options(counts, step=True), "/bin/sh", "-c", TASK_SHELL, "jobspec-task", *command]
    tasks = counts.tasks
    return (
        "#!/bin/sh\n"
        f"# jobspec: the task, started as {tasks} task{'s' if tasks != 1 else ''} by srun in this allocation\n"
        f"{preamble}"
        f"exec {shlex.join(srun)}\n"
    )


def sbatch_directives(content: str) -> list[str]:
    """The ``#SBATCH`` lines of a script's header (sbatch reads none after the first command)."""
    lines = content.splitlines()[1:] if content.startswith("#!") else content.splitlines()
    found = []
    for line in lines:
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            break
        if stripped.startswith("#SBATCH"):
            found.append(stripped)
    return found


def batch_wrapper(script_path: str, content: str, preamble: str) -> str:
    """A ``batch`` that must first stage files: a wrapper that keeps the script's
    ``#SBATCH`` lines, stages, then runs the script (by its ``#!`` line) in its place."""
    directives = "".join(f"{line}\n" for line in sbatch_directives(content))
    return (
        "#!/bin/sh\n"
        f"{directives}"
        "# jobspec: stage the files on every node, then run the batch script\n"
        f"{preamble}"
        f"exec {shlex.join(script_command(script_path, content))}\n"
    )


STAGE_END = "JOBSPEC_STAGE_END"


def stage_preamble(archive_base64: str, target: str) -> str:
    """Script lines that put the staged files on every node of the job.

    The files travel inside the batch script (a base64 tar.gz), since without a
    shared filesystem nothing of the submitting machine is visible on the nodes.
    On the first node the archive is decoded, ``sbcast`` copies it to every node
    of the job, and one task per node unpacks it into ``target`` (the staging
    directory, same path everywhere). ``--overwrite`` keeps this safe where
    several nodes share a filesystem after all (they write the same bytes).
    """
    per_node = '--nodes="$SLURM_JOB_NUM_NODES" --ntasks="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 --cpus-per-task=1'
    unpack = 'mkdir -p "$1" && tar -xzf "$2" --overwrite -C "$1"'
    body = archive_base64 if archive_base64.endswith("\n") else archive_base64 + "\n"
    return (
        "# jobspec: the staged files (sharedfs: false) are in this script; sbcast sends them to every node\n"
        'jobspec_stage="/tmp/jobspec-stage-$SLURM_JOB_ID.tar.gz"\n'
        f"base64 -d > \"$jobspec_stage.src\" <<'{STAGE_END}' || exit 1\n"
        f"{body}"
        f"{STAGE_END}\n"
        'sbcast --force "$jobspec_stage.src" "$jobspec_stage" '
        "|| { echo 'jobspec: sbcast of the staged files failed' >&2; exit 1; }\n"
        'rm -f "$jobspec_stage.src"\n'
        f'srun {per_node} /bin/sh -c {shlex.quote(unpack)} jobspec-stage {shlex.quote(target)} "$jobspec_stage" '
        "|| { echo 'jobspec: unpacking the staged files failed' >&2; exit 1; }\n"
        f'srun {per_node} rm -f "$jobspec_stage"\n'
    )


# ---------------------------------------------------------------- what Slurm says


class SbatchOutputError(ValueError):
    """sbatch --parsable printed something that is not a job id."""


def parse_sbatch(stdout: str) -> str:
    """The job id from ``sbatch --parsable`` (``ID`` or ``ID;cluster``)."""
    first = stdout.strip().splitlines()[0] if stdout.strip() else ""
    job_id = first.split(";", 1)[0].strip()
    if not job_id.isdigit():
        raise SbatchOutputError(f"sbatch printed no job id: {stdout.strip()!r}")
    return job_id


# Messages that mean Slurm could not be reached (as opposed to a refusal).
UNREACHABLE = (
    "unable to contact slurm controller",
    "socket timed out",
    "connection refused",
    "zero bytes were transmitted",
    "unable to establish controller",
    "unable to process configuration file",
    "munge",
    "authentication",
)


def slurm_messages(stderr: str) -> str:
    """The error lines of a Slurm command, without the ``sbatch: error:`` prefixes."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [
        re.sub(r"^\w+: (?:error|fatal): ", "", line)
        for line in lines
        if re.match(r"^\w+: (?:error|fatal): ", line) or "unrecognized option" in line or "invalid option" in line
    ]
    errors = [re.sub(r"^\w+: ", "", e) if e.startswith("sbatch: ") else e for e in errors]
    return "; ".join(errors or lines)


def unreachable(stderr: str) -> bool:
    text = stderr.lower()
    return any(marker in text for marker in UNREACHABLE)


def sbatch_failure(stderr: str, returncode: int) -> str:
    """One line for a failed ``sbatch``: Slurm did not answer, or Slurm's own reason for refusing."""
    text = slurm_messages(stderr) or f"sbatch exited with status {returncode} and said nothing"
    if unreachable(stderr):
        return f"Slurm did not answer: {text}"
    return f"Slurm refused the job: {text}"


_KEY = re.compile(r"(?:(?<=\s)|^)([A-Za-z][A-Za-z0-9_/:]*)=")

# Fields whose values are free text (a name, a path, a comment: spaces, newlines,
# and text that looks like `Key=value` are all possible), each with the keys that
# can come right after it in scontrol's output (22.05: the comments are optional;
# StdErr, StdIn and StdOut are printed for batch jobs only). A free-text value runs
# to the first of those keys, so a name holding " JobState=RUNNING" stays a name.
_COMMENTS = ("AdminComment", "SystemComment", "Comment")
_FREE: dict[str, frozenset[str] | None] = {
    "JobName": frozenset({"UserId"}),
    "Command": frozenset({"WorkDir"}),
    "WorkDir": frozenset({*_COMMENTS, "StdErr", "Power"}),
    "AdminComment": frozenset({*_COMMENTS[1:], "StdErr", "Power"}),
    "SystemComment": frozenset({*_COMMENTS[2:], "StdErr", "Power"}),
    "Comment": frozenset({"StdErr", "Power"}),
    "StdErr": frozenset({"StdIn"}),
    "StdIn": frozenset({"StdOut"}),
    "StdOut": None,  # to the next key not seen yet (Power, in 22.05)
}


def parse_scontrol(text: str) -> dict[str, str]:
    """The fields of ``scontrol show job -o ID`` (the first job, if it printed several).

    ``-o`` prints one ``Key=Value`` line per job. Most values have no spaces; the
    free-text ones (job name, command, working directory, comments, output paths)
    may hold anything, newlines included, and are read up to the key that follows
    them in scontrol's output (a value holding that key's own ``" Key="`` is the
    one thing this cannot tell apart).
    """
    record = re.split(r"\n(?=JobId=\d)", text.strip("\n"))[0]
    matches = list(_KEY.finditer(record))
    fields: dict[str, str] = {}
    i = 0
    while i < len(matches):
        match = matches[i]
        key = match.group(1)
        j = i + 1
        if key in _FREE:
            followers = _FREE[key]
            while j < len(matches):
                nxt = matches[j].group(1)
                if (followers is not None and nxt in followers) or (
                    followers is None and nxt not in fields and nxt not in _FREE
                ):
                    break
                j += 1
        end = matches[j].start() if j < len(matches) else len(record)
        value = record[match.end() : end]
        if j == len(matches):
            value = value.rstrip(" ")
        elif key not in _FREE:
            value = value.strip()
        else:  # a free-text value keeps its own spaces: drop only the separator(s)
            for _ in range(_SEPARATOR.get(key, 1)):
                value = value[:-1] if value.endswith(" ") else value
        fields.setdefault(key, value)
        i = j
    return fields


# scontrol ends the comment fields with a space of their own before the separator.
_SEPARATOR = {"Comment": 2, "AdminComment": 2, "SystemComment": 2}


def parse_exit_code(text: str | None) -> tuple[int | None, int | None]:
    """Slurm's ``ExitCode=N:S`` as (exit status, signal)."""
    if not text:
        return None, None
    code, _, sig = text.partition(":")
    try:
        return int(code), int(sig or 0)
    except ValueError:
        return None, None


PENDING = frozenset({"PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "CONFIGURING"})
RUNNING = frozenset(
    {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "RESIZING", "STAGE_OUT", "POWER_UP_NODE"}
)
FAILED = frozenset(
    {"FAILED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "SPECIAL_EXIT"}
)
CANCELLED = frozenset({"CANCELLED", "REVOKED"})

_FAILURE_REASONS = {
    "NODE_FAIL": "a node of the job failed",
    "OUT_OF_MEMORY": "out of memory",
    "BOOT_FAIL": "a node of the job failed to boot",
    "DEADLINE": "the job's deadline passed",
    "PREEMPTED": "preempted",
}
_QUIET_REASONS = {"", "None", "(null)", "NonZeroExitCode"}


def map_state(
    job_state: str | None,
    exit_code: str | None = None,
    reason: str | None = None,
    limit: str | None = None,
) -> tuple[str, int | None, str | None]:
    """Slurm's JobState, ExitCode and Reason as (state, exit code, reason) in jobspec's terms.

    States: pending, running, completed, failed, cancelled. The exit code of a job
    killed by signal S is 128 + S (as a shell reports it); a cancelled job has none.
    """
    raw = (job_state or "").split()[0].upper() if (job_state or "").strip() else ""
    code, sig = parse_exit_code(exit_code)
    why = None if reason in _QUIET_REASONS or reason is None else reason
    if raw == "COMPLETED":
        return "completed", code if code is not None else 0, None
    if raw in CANCELLED:
        if why == "DependencyNeverSatisfied":
            why = "dependency never satisfied"
        return "cancelled", None, why
    if raw in FAILED:
        status = 128 + sig if sig else (code or None)
        if raw == "TIMEOUT":
            why = f"time limit of {limit} reached" if limit else "time limit reached"
        elif raw in _FAILURE_REASONS:
            why = _FAILURE_REASONS[raw]
        elif why is None and sig:
            why = f"killed by signal {sig}"
        return "failed", status, why
    if raw in PENDING:
        return "pending", None, why
    if raw in RUNNING:
        return "running", None, why
    return "running", None, f"Slurm state {job_state}"  # unknown: not done, say what it was


def job_status(job_id: str, fields: Mapping[str, str], transformer: str = "slurm") -> JobStatus:
    """A JobStatus from ``parse_scontrol`` fields."""
    state, code, reason = map_state(
        fields.get("JobState"), fields.get("ExitCode"), fields.get("Reason"), fields.get("TimeLimit")
    )
    names = {
        "JobName": "name",
        "JobState": "slurm_state",
        "Reason": "slurm_reason",
        "ExitCode": "slurm_exit_code",
        "Partition": "partition",
        "NodeList": "nodes",
        "NumNodes": "num_nodes",
        "NumTasks": "num_tasks",
        "CPUs/Task": "cpus_per_task",
        "TimeLimit": "time_limit",
        "WorkDir": "workdir",
        "StdOut": "stdout",
        "StdErr": "stderr",
    }
    # stdout and stderr as scontrol shows them (its display of a name holding % is not the path)
    details: dict[str, Any] = {ours: fields[theirs] for theirs, ours in names.items() if theirs in fields}
    return JobStatus(job_id, state, code, transformer, reason, details)
