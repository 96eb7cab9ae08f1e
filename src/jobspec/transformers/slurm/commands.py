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
"""

from __future__ import annotations

import math
import posixpath
import re
import shlex
from collections.abc import Mapping, Sequence
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


def layout_options(counts: ResourceCounts, *, step: bool = False) -> list[str]:
    """The task layout, for ``sbatch`` (the allocation) or ``srun`` (``step``: the task itself).

    With fewer tasks than nodes, the allocation keeps every node (``--nodes``
    without ``--ntasks``: Slurm would otherwise shrink it) and the step runs the
    tasks on as many nodes as there are tasks.
    """
    nodes, tasks = counts.nodes, counts.tasks
    options: list[str] = []
    if nodes:
        if tasks >= nodes:
            options += [f"--nodes={nodes}", f"--ntasks={tasks}"]
            if tasks % nodes == 0:  # uneven, Slurm would round the allocation up to nodes x per node
                options.append(f"--ntasks-per-node={tasks // nodes}")
        elif step:
            options += [f"--nodes={tasks}", f"--ntasks={tasks}", "--ntasks-per-node=1"]
        else:
            options += [f"--nodes={nodes}"]
    else:
        options.append(f"--ntasks={tasks}")
    options.append(f"--cpus-per-task={counts.cores_per_task}")
    if counts.gpus_per_task:
        options.append(f"--gpus-per-task={counts.gpus_per_task}")
    if counts.exclusive and not step:  # srun --exclusive means something else
        options.append("--exclusive")
    return options


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


def sbatch_argv(
    counts: ResourceCounts,
    *,
    job_name: str,
    workdir: str,
    stage: str,
    duration: float | None = None,
    after: str | None = None,
    partition: str | None = None,
    account: str | None = None,
    qos: str | None = None,
    options: Sequence[str] = (),
    script: str | None = None,
    key: str | None = None,
) -> list[str]:
    """The ``sbatch`` command line; ``script`` is the batch script's path (None: it is read from stdin).

    ``key`` (a resumable run's submit key) goes into the job's comment, where
    `find_in_squeue` finds it again; a ``--comment`` in ``options`` replaces it.
    """
    argv = [
        "sbatch",
        "--parsable",
        f"--job-name={job_name}",
        f"--chdir={workdir}",
        f"--output={output_pattern(stage, 'out')}",
        f"--error={output_pattern(stage, 'err')}",
        "--export=ALL",
        *layout_options(counts),
    ]
    limit = time_limit(duration)
    if limit is not None:
        argv.append(f"--time={limit}")
    if after is not None:
        argv += [f"--dependency=afterok:{after}", "--kill-on-invalid-dep=yes"]
    for flag, value in (("--partition", partition), ("--account", account), ("--qos", qos)):
        if value:
            argv.append(f"{flag}={value}")
    if key is not None:
        argv.append(f"--comment={KEY_MARK}{key}")
    argv += list(options)
    if script is not None:
        argv.append(script)
    return argv


KEY_MARK = "jobspec-submit-key="
SQUEUE_KEYS = ["squeue", "--me", "--noheader", "--states=all", "--format=%i %k"]


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
