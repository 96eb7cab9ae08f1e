"""Reading what Slurm prints: sbatch's job id and its errors, ``scontrol show job -o``,
exit codes and job states (in jobspec's terms), squeue's listing of submit keys, and
``scontrol token``.

Pure functions of text; the records under tests/slurm/records were printed by a
real Slurm 22.05 cluster. `client` runs the commands whose output is read here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from jobspec.plugin import JobStatus
from jobspec.transformers.slurm.request import KEY_MARK


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


def find_in_squeue(text: str, key: str) -> str | None:
    """The job whose comment holds ``key``, from the output of `request.SQUEUE_KEYS` (newest if several)."""
    found = None
    for line in text.splitlines():
        job_id, _, comment = line.strip().partition(" ")
        if comment.strip() == f"{KEY_MARK}{key}" and job_id.isdigit():
            found = job_id if found is None or int(job_id) > int(found) else found
    return found


def parse_token(stdout: str) -> str | None:
    """The token in what ``scontrol token`` prints (``SLURM_JWT=...``), or None."""
    for line in stdout.splitlines():
        name, eq, value = line.strip().partition("=")
        if eq and name == "SLURM_JWT" and value:
            return value
    return None
