"""The same request for Slurm's REST API: sbatch options as the JSON job slurmrestd
takes, and slurmrestd's answers read.

One table (`REST_FIELDS`, sbatch option -> field of the REST API's job) carries
jobspec's own options (`request.JobRequest.pairs`), the passthrough
``slurm.options`` and a batch script's ``#SBATCH`` lines alike. An option the
table lacks is refused (for the REST API only) instead of dropped.

The REST API (slurmrestd, openapi/v0.0.38: the newest Slurm 22.05 loads without
slurmdbd) takes ``{"script": ..., "job": {...}}`` at POST /slurm/v0.0.38/job/submit.
slurmrestd hands each field of the job to the option parser sbatch uses, so a
field given as text is read exactly as the sbatch option would read it; counts
are sent as numbers where they are plain numbers. Measured on 22.05:

- ``nodes`` as a [min, max] list (as the OpenAPI text describes it) is dropped
  without a word (the job gets 1 node): it is sent as a number or "min-max" text;
- ``exclusive`` takes "exclusive" (sbatch's bare --exclusive), "user", "mcs" or
  "oversubscribe"; true, "true" or "" are refused;
- ``no_kill`` takes "set"/"off", ``get_user_environment`` text, not booleans;
- ``environment`` is required (HTTP 400 "environment must be set"), and it is the
  job's whole environment: there is no --export, so what sbatch --export=ALL would
  send (this process's environment, cleaned by `request.submitter_environment`) is
  sent, then the jobspec's variables (what sbatch's --export-file adds);
- ``#SBATCH`` lines in the script are not read: jobspec reads them itself, with
  sbatch's precedence (the script's lines, then jobspec's options, then slurm.options);
- a 200 answer may carry ``errors`` that are warnings (a held job, say).
"""

from __future__ import annotations

import re
import reprlib
import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from jobspec.transformers.slurm.parse import SbatchOutputError, unreachable
from jobspec.transformers.slurm.request import JobRequest, Pair, submitter_environment
from jobspec.transformers.slurm.script import sbatch_directives

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

    ``base`` is the submitting process's environment (cleaned as for sbatch: no
    SLURM_JWT, no SBATCH_* or SLURM_* input variables), ``script`` the batch script, whose ``#SBATCH``
    lines come first (sbatch reads them, slurmrestd does not), ``submitter`` the
    variables sbatch itself adds from the submitting process (`submitter_variables`
    in `rest`: SLURM_SUBMIT_DIR, SLURM_UMASK, the resource limits, ...).
    RestMappingError for an option the REST API cannot carry.
    """
    job = rest_fields(parse_sbatch_args(directive_args(script), "#SBATCH"))
    job.update(rest_fields(request.pairs()))
    job.update(rest_fields(parse_sbatch_args(request.options)))
    environment = submitter_environment(base)
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


# Slurm's job ids are 32-bit and never 0 (its MaxJobId is at most 0x03FFFFFF, plus a federation's bits).
MAX_JOB_ID = 0xFFFFFFFF


def parse_rest_submit(body: Any) -> tuple[str, list[str]]:
    """The job id and the warnings of a successful (HTTP 200) submission.

    Read strictly, as slurmrestd's v0.0.38 answers it (a JSON object with a positive
    integer ``job_id`` and an ``errors`` list): anything else is no submitted job.
    """
    job_id = body.get("job_id") if isinstance(body, dict) else None
    valid = isinstance(job_id, int) and not isinstance(job_id, bool) and 0 < job_id <= MAX_JOB_ID
    if not valid or not isinstance(body.get("errors"), list):
        shown = "; ".join(rest_errors(body)) or reprlib.repr(body)  # reprlib: bounded, whatever came
        shown = shown if len(shown) <= 200 else shown[:200] + "..."
        raise SbatchOutputError(f"Slurm's REST API answered with no job id (so no job was submitted): {shown}")
    warnings = rest_errors(body)
    message = body.get("job_submit_user_msg")
    if isinstance(message, str) and message.strip():
        warnings.append(message.strip())
    return str(job_id), warnings
