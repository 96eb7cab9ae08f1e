"""The job jobspec asks Slurm for, as sbatch options: decided here, run nowhere.

Pure functions: the ``sbatch`` command line and environment from a jobspec's
counts and settings, and where the job's output goes. `client` runs sbatch;
`rest_mapping` turns the same request into the REST API's job.

How a jobspec maps onto Slurm:

- resources (`allocation_pairs`), counted in slots so that every core, gpu and byte
  the graph names is allocated however many tasks share a slot: ``--nodes`` (``min-max``
  for a node count range), ``--ntasks`` (the slots), ``--ntasks-per-node``,
  ``--cpus-per-task`` (a slot's cores), ``--gpus-per-task`` (a slot's gpus, when each task
  gets whole gpus of its own) or else ``--gpus-per-node`` (``--gpus`` with no node), ``--mem``
  (MiB a node) or, with no node in the graph, ``--mem-per-cpu`` (a slot's memory over its
  cores, rounded up), ``--sockets-per-node``, ``--exclusive`` (an exclusive vertex on the
  way to the slot). The step (`step_pairs`, srun in the allocation) starts the task count;
- ``attributes.system.duration`` (seconds): ``--time`` in minutes, rounded up
  (Slurm's resolution is a minute), at least 1; none or 0 leaves the partition's default;
- the working directory: ``--chdir`` (``attributes.system.cwd``, else the stage);
- the environment: ``--export-file`` on a file descriptor (NUL-separated ``NAME=value``,
  `export_file`) holds the job's whole environment (`export_environment`: the submitting
  one cleaned of Slurm's input variables and its token, then ``attributes.system.environment``),
  so commas, quotes, newlines and non-ASCII text reach the job as they are; ``sbatch``
  itself runs with the cleaned environment only: the document's variables configure the
  job, never ``sbatch`` (SBATCH_*, LD_PRELOAD);
- output: ``<stage>/slurm-<job id>.out`` and ``.err`` (``%`` in the stage doubled,
  since Slurm reads ``%`` in these names as a pattern);
- ``after:``: ``--dependency=afterok:<id>[:<id>...]`` with ``--kill-on-invalid-dep=yes``, so a
  job whose parent failed ends (cancelled) on any cluster instead of pending forever;
- passthrough settings: ``--partition``, ``--account``, ``--qos``, then the
  ``slurm.options`` list as given (last, so they can override the rest);
- a resumable run's submit key: ``--comment`` (`parse.find_in_squeue` finds it again).

Every value is one element of an argv list (never a shell string).

One description, two interfaces: a `JobRequest` lists what jobspec asks for as
sbatch options (`JobRequest.pairs`). `sbatch_argv` writes them on a command line;
`rest_mapping.rest_job` turns the very same pairs into the JSON job slurmrestd takes.
"""

from __future__ import annotations

import math
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from jobspec.document.problems import DocPath, Problem
from jobspec.document.resources import ResourceCounts

# Slurm stores a time limit as a 32-bit count of minutes; the top values mean
# INFINITE and NO_VAL, so this is the largest finite limit it can hold.
MAX_MINUTES = 0xFFFFFFFD


def time_limit(duration: float | None) -> str | None:
    """``--time`` for a duration in seconds: whole minutes, rounded up, at least 1.

    None for no duration (or 0): the partition's default limit then applies.
    Slurm also takes ``D-HH:MM:SS``, but its resolution is a minute either way.
    """
    if not duration:
        return None
    return str(max(1, math.ceil(duration / 60)))


def rounding_note(duration: float | None) -> str | None:
    """A warning when Slurm's whole minutes lengthen the time limit, or None."""
    limit = time_limit(duration)
    if limit is None or int(limit) * 60 == duration:
        return None
    return (
        f"warning: Slurm's time limits are whole minutes: duration {duration:g} s "
        f"becomes --time={limit} ({int(limit) * 60} s)"
    )


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

    The allocation is counted in slots: one Slurm task a slot, with the slot's cores
    (``--cpus-per-task``) and gpus (``--gpus-per-task``), so it holds every core and gpu
    of the graph however many tasks share a slot (``per_slot: 2``, ``total``). The
    step then starts the real task count in it, each task with its share of its
    slot's cores (``--overcommit`` when a slot holds more tasks than cores).
    """
    return step_pairs(counts) if step else allocation_pairs(counts)


def allocation_pairs(counts: ResourceCounts) -> list[Pair]:
    """What sbatch asks for: every slot's cores, gpus and memory, the nodes, the sockets."""
    pairs: list[Pair] = []
    per_node = counts.slots_per_node
    if counts.nodes:
        nodes = f"{counts.nodes}-{counts.nodes_max}" if counts.nodes_max else str(counts.nodes)
        pairs.append(("--nodes", nodes))
        if not counts.nodes_max:
            pairs.append(("--ntasks", str(counts.slots)))
        if per_node is not None:
            pairs.append(("--ntasks-per-node", str(per_node)))
    else:
        pairs.append(("--ntasks", str(counts.slots)))
    pairs.append(("--cpus-per-task", str(max(1, counts.cores_per_slot))))
    pairs += _allocation_gpus(counts)
    memory_on_node = counts.memory_on_node
    if counts.memory and memory_on_node is not None:
        pairs.append(("--mem", str(memory_on_node)))  # MiB a node: Slurm's M
    elif counts.memory_per_slot:
        per_cpu = -(-counts.memory_per_slot // max(1, counts.cores_per_slot))
        pairs.append(("--mem-per-cpu", str(per_cpu)))
    if counts.sockets_per_node:
        pairs.append(("--sockets-per-node", str(counts.sockets_per_node)))
    if counts.exclusive:
        pairs.append(("--exclusive", None))
    return pairs


def _allocation_gpus(counts: ResourceCounts) -> list[Pair]:
    """Every gpu of the graph. Per task (a slot's) when each task gets whole gpus of its own;
    else per node (or for the job, with no node in the graph), so that the tasks sharing
    them see them all: the step asks for none and is given the job's (srun reads
    SLURM_GPUS_PER_NODE; a --gpus-per-task in the job would make every task ask again)."""
    if not counts.gpus:
        return []
    if counts.even_gpus_per_task is not None:
        return [("--gpus-per-task", str(counts.gpus_per_slot))]  # one Slurm task a slot
    gpus_per_node = counts.gpus_per_node
    if gpus_per_node is not None:
        return [("--gpus-per-node", str(gpus_per_node))]
    return [("--gpus", str(counts.gpus))]


def step_pairs(counts: ResourceCounts) -> list[Pair]:
    """What srun asks for inside the allocation: the task count, each task's cores and gpus.

    With fewer tasks than nodes, the step runs the tasks on as many nodes as there are
    tasks. With a node range, the node count is known only once Slurm has chosen it,
    so the tasks are given per node (``per_slot``) or in all (``total``)."""
    nodes, tasks = counts.nodes, counts.tasks
    pairs: list[Pair] = []
    per_slot = counts.tasks_per_slot * counts.slots == tasks
    if nodes and counts.nodes_max:
        per_node = counts.slots_per_node
        if per_slot and per_node is not None:
            pairs.append(("--ntasks-per-node", str(per_node * counts.tasks_per_slot)))
        else:
            pairs.append(("--ntasks", str(tasks)))
    elif nodes:
        if tasks >= nodes:
            pairs += [("--nodes", str(nodes)), ("--ntasks", str(tasks))]
            if tasks % nodes == 0:
                pairs.append(("--ntasks-per-node", str(tasks // nodes)))
        else:
            pairs += [("--nodes", str(tasks)), ("--ntasks", str(tasks)), ("--ntasks-per-node", "1")]
    else:
        pairs.append(("--ntasks", str(tasks)))
    pairs.append(("--cpus-per-task", str(counts.cores_per_task)))
    if counts.tasks_per_slot > max(1, counts.cores_per_slot):
        pairs.append(("--overcommit", None))  # more tasks in a slot than it has cores
    gpus = counts.even_gpus_per_task
    if gpus:
        pairs.append(("--gpus-per-task", str(gpus)))
    return pairs


def resource_problems(counts: ResourceCounts, resources: Sequence[Mapping[str, Any]]) -> list[Problem]:
    """What of the graph Slurm cannot be asked for, each with its place and what it can take."""
    problems = []
    for place in counts.ranges:
        kind = _vertex_at(resources, place).get("type", "vertex")
        problems.append(
            Problem(
                f"Slurm takes a count range only for the nodes (--nodes=min-max), not for a {kind}: "
                "give it a fixed count (or run on Flux, which chooses within the range)",
                path=(*place, "count"),
            )
        )
    if counts.nodes_max:
        count = resources[0].get("count") or {}
        if (count.get("operator"), count.get("operand")) != ("+", 1):
            problems.append(
                Problem(
                    f"Slurm's --nodes=min-max takes any count in the range, not one that steps by "
                    f"{count.get('operator')}{count.get('operand')}: write operator '+' and operand 1, "
                    "or a fixed count",
                    path=("resources", 0, "count"),
                )
            )
    return problems


def _vertex_at(resources: Sequence[Mapping[str, Any]], place: DocPath) -> Mapping[str, Any]:
    node: Any = {"resources": resources}
    for part in place:
        node = node[part]
    return node if isinstance(node, Mapping) else {}


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
    ``sbatch`` command line (`sbatch_argv`) and the REST API's job (`rest_mapping.rest_job`) are made
    from, so the two interfaces cannot ask for different jobs.

    ``environment`` is what the job gets beside the submitting process's own
    environment (sbatch's ``--export=ALL``): the jobspec's variables, JOBSPEC_STAGE, ...
    ``options`` are the ``slurm.options`` passthrough, as the user wrote them.
    ``key`` (a resumable run's submit key) goes into the job's comment, where
    `parse.find_in_squeue` finds it again; a ``--comment`` in ``options`` replaces it.
    """

    counts: ResourceCounts
    job_name: str
    workdir: str
    stage: str
    duration: float | None = None
    after: tuple[str, ...] = ()  # the jobs this one waits for (afterok)
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    options: tuple[str, ...] = ()
    key: str | None = None
    environment: Mapping[str, str] = field(default_factory=dict)
    placement: tuple[Pair, ...] = ()  # --constraint, --nodelist, --exclude (`placement.placement`)

    def pairs(self) -> list[Pair]:
        """What jobspec itself asks for, as sbatch options in order (the passthrough ``options`` follow)."""
        pairs: list[Pair] = [
            ("--job-name", self.job_name),
            ("--chdir", self.workdir),
            ("--output", output_pattern(self.stage, "out")),
            ("--error", output_pattern(self.stage, "err")),
            ("--export", "ALL"),
            *layout_pairs(self.counts),
            *self.placement,
        ]
        limit = time_limit(self.duration)
        if limit is not None:
            pairs.append(("--time", limit))
        if self.after:
            pairs += [("--dependency", "afterok:" + ":".join(self.after)), ("--kill-on-invalid-dep", "yes")]
        for flag, value in (("--partition", self.partition), ("--account", self.account), ("--qos", self.qos)):
            if value:
                pairs.append((flag, value))
        if self.key is not None:
            pairs.append(("--comment", f"{KEY_MARK}{self.key}"))
        return pairs


def sbatch_argv(request: JobRequest, script: str | None = None, export_fd: int | str = "<fd>") -> list[str]:
    """The ``sbatch`` command line; ``script`` is the batch script's path (None: it is read from stdin),
    ``export_fd`` the descriptor that carries the job's environment (`export_file`).

    The passthrough options come last, as given, so they override the rest.
    """
    args = render(request.pairs())
    args.insert(args.index("--export=ALL") + 1, f"--export-file={export_fd}")  # the job's environment
    argv = ["sbatch", "--parsable", *args, *request.options]
    if script is not None:
        argv.append(script)
    return argv


# Slurm's input variables that stay: where its configuration is.
KEPT_SLURM_VARIABLES = frozenset({"SLURM_CONF"})


def submitter_environment(base: Mapping[str, str]) -> dict[str, str]:
    """The submitting environment without Slurm's input variables (SBATCH_*, SLURM_*: they
    would configure sbatch, and SLURM_JWT, the user's token, would reach the job and make
    srun there use it). Both the ``sbatch`` process and a REST job start from it, so both
    interfaces give the same job; SLURM_CONF stays."""
    return {
        name: value
        for name, value in base.items()
        if name in KEPT_SLURM_VARIABLES or not name.startswith(("SBATCH_", "SLURM_"))
    }


def sbatch_env(base: Mapping[str, str]) -> dict[str, str]:
    """The environment of the ``sbatch`` process: the submitter's, cleaned (`submitter_environment`).

    The jobspec's variables are not in it: they would configure sbatch (SBATCH_*, LD_PRELOAD).
    """
    return submitter_environment(base)


def export_environment(
    request: JobRequest,
    base: Mapping[str, str],
    job_name: str | None = None,
    submitter: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The job's whole environment, for ``--export-file``: with one, sbatch sends that file's
    variables and drops the environment it built (SLURM_JOB_NAME, SLURM_RLIMIT_*). So: the
    submitter's (cleaned), the jobspec's, SLURM_JOB_NAME (``job_name``: the name the job
    ends up with) and ``submitter`` (the SLURM_RLIMIT_* sbatch would add), as sbatch
    --export=ALL and the REST API give."""
    return {
        **submitter_environment(base),
        **request.environment,
        "SLURM_JOB_NAME": job_name or request.job_name,
        **(submitter or {}),
    }


def export_file(environment: Mapping[str, str]) -> bytes:
    """An environment as ``--export-file`` reads it: ``NAME=value``, each ended by a NUL.

    (Names with ``=`` and NULs anywhere are refused when the document is read or planned.)
    """
    return b"".join(f"{name}={value}\0".encode("utf-8", "surrogateescape") for name, value in environment.items())


def job_name_in(args: Sequence[str]) -> str | None:
    """The last ``--job-name``/``-J`` among sbatch arguments (#SBATCH lines, slurm.options), or None."""
    name = None
    for i, word in enumerate(args):
        if word.startswith("--job-name="):
            name = word.partition("=")[2]
        elif word in ("--job-name", "-J"):
            name = args[i + 1] if i + 1 < len(args) else name
        elif word.startswith("-J"):
            name = word[2:]
    return name


# sbatch's options that take a value (man sbatch, 22.05): the word after one of them,
# written without ``=``, is its value. Options with an optional value take it only after ``=``.
_VALUE_OPTIONS_TEXT = """
account acctg-freq array batch bb bbf begin chdir cluster-constraint clusters comment constraint
container core-spec cores-per-socket cpu-freq cpus-per-gpu cpus-per-task deadline delay-boot
dependency distribution error exclude export export-file extra-node-info gid gpu-bind gpu-freq gpus
gpus-per-node gpus-per-socket gpus-per-task gres gres-flags hint input job-name kill-on-invalid-dep
licenses mail-type mail-user mcs-label mem mem-bind mem-per-cpu mem-per-gpu mincpus network nodefile
nodelist nodes ntasks ntasks-per-core ntasks-per-gpu ntasks-per-node ntasks-per-socket open-mode
output partition power prefer priority profile qos reservation signal sockets-per-node switches
thread-spec threads-per-core time time-min tmp uid wait-all-nodes wckey wrap
"""
VALUE_OPTIONS = frozenset(_VALUE_OPTIONS_TEXT.split())
SHORT_VALUE_OPTIONS = frozenset("AabBCcDdeFGiJLMmNnopqStwx")


def options_problem(options: Sequence[str]) -> str | None:
    """Why a ``slurm.options`` list would not read as sbatch options, or None.

    A word that is neither an option nor the value of the option before it would be
    taken by sbatch as the script, in place of the task's.
    """
    if options and not options[0].startswith("-"):
        return f"slurm.options must start with an option (--name=value), not {options[0]!r}"
    value_next = False
    for word in options:
        if value_next:
            value_next = False
            continue
        if word == "--" or not word.startswith("-") or word == "-":
            return (
                f"slurm.options: {word!r} is not an option nor the value of the option before it: sbatch would "
                "run it in place of the task's script (write each option as --name=value)"
            )
        if word.startswith("--"):
            value_next = "=" not in word and word[2:] in VALUE_OPTIONS
        else:
            value_next = len(word) == 2 and word[1] in SHORT_VALUE_OPTIONS
    return None
