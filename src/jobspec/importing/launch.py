"""Launch lines made portable: ``srun``/``mpirun``/``mpiexec`` to ``$JOBSPEC_LAUNCH``.

Every transformer gives batch scripts ``JOBSPEC_LAUNCH`` (srun on Slurm, flux run on
Flux, a small launcher on local), and all of them take ``-n`` (tasks), ``-N`` (nodes),
``-c`` (cores per task) and ``--gpus-per-task``. A launch line whose options all have one
of those meanings is rewritten to them; one with any other option is kept as written
and reported. The command and whatever follows it (arguments, redirections, ``&``) stay
exactly as written. Without a task count, srun and mpirun start the allocation's tasks;
``flux run`` would start one, so the job's own count is written out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

LAUNCHERS = {"srun", "mpirun", "mpiexec", "mpiexec.hydra", "orterun"}

# option -> (portable spelling, takes a value); per launcher family
SRUN = {
    "-n": "-n",
    "--ntasks": "-n",
    "-N": "-N",
    "--nodes": "-N",
    "-c": "-c",
    "--cpus-per-task": "-c",
    "--gpus-per-task": "--gpus-per-task",
}
MPI = {"-n": "-n", "-np": "-n", "--np": "-n", "-c": "-n", "--n": "-n"}
# placement that the launcher does anyway inside the allocation: dropped, with a note
MPI_HOSTFILES = {"-machinefile", "--machinefile", "-hostfile", "--hostfile", "-f"}
ALLOCATION_FILES = re.compile(r"^\$\{?(PBS_NODEFILE|SLURM_JOB_NODELIST|FLUX_\w+)\}?$")

WORD = re.compile(r"""(?:[^\s'"\\]|\\.|'[^']*'|"(?:[^"\\]|\\.)*")+""")


@dataclass(frozen=True)
class Rewrite:
    line: int  # 1-based, in the body
    before: str
    after: str | None  # None: kept as written
    why: str


@dataclass(frozen=True)
class JobShape:
    nodes: int | None
    tasks: int
    cpus_per_task: int
    gpus_per_task: int


def rewrite_body(body: str, shape: JobShape, first_line: int = 1) -> tuple[str, list[Rewrite]]:
    """``body`` with its recognised launch lines rewritten; what was done to each launch line."""
    out, notes = [], []
    for number, line in enumerate(body.split("\n"), start=first_line):
        new, note = rewrite_line(line, shape, number)
        out.append(new)
        if note is not None:
            notes.append(note)
    return "\n".join(out), notes


def rewrite_line(line: str, shape: JobShape, number: int) -> tuple[str, Rewrite | None]:
    words = [(m.group(), m.start(), m.end()) for m in WORD.finditer(line)]
    if not words or words[0][0].startswith("#"):
        return line, None
    first = words[0][0]
    if first.rsplit("/", 1)[-1] not in LAUNCHERS:
        return line, None
    table = SRUN if first.rsplit("/", 1)[-1] == "srun" else MPI
    options: dict[str, str] = {}
    i = 1
    while i < len(words):
        word = words[i][0]
        if not word.startswith("-") or word == "-":
            break
        name, eq, value = word.partition("=")
        if name in MPI_HOSTFILES and table is MPI:
            value = value if eq else (words[i + 1][0] if i + 1 < len(words) else "")
            if not ALLOCATION_FILES.match(value):
                return line, Rewrite(number, line, None, f"{name} {value}: a host file of its own")
            i += 1 if eq else 2
            continue
        spelled = table.get(name) or (_short_attached(word, table) if not eq else None)
        if spelled is None:
            return line, Rewrite(number, line, None, f"{word} has no portable spelling")
        if isinstance(spelled, tuple):
            spelled, value = spelled
        elif not eq:
            if i + 1 >= len(words):
                return line, Rewrite(number, line, None, f"{word} has no value")
            value = words[i + 1][0]
            i += 1
        options[spelled] = value
        i += 1
    if i >= len(words):
        return line, Rewrite(number, line, None, "no command to launch")
    if "-n" not in options and "-N" not in options:
        options = {**_allocation(shape), **options}
    portable = []
    for name in ("-N", "-n", "-c"):
        if name in options:
            portable += [name, options[name]]
    if "--gpus-per-task" in options:
        portable.append(f"--gpus-per-task={options['--gpus-per-task']}")
    start = words[0][1]
    rest = line[words[i][1] :]
    after = line[:start] + " ".join(["$JOBSPEC_LAUNCH", *portable, rest])
    return after, Rewrite(number, line, after, "rewritten to the portable launcher")


def _short_attached(word: str, table: dict[str, str]) -> tuple[str, str] | None:
    """``-n4`` -> ("-n", "4")."""
    if len(word) > 2 and not word.startswith("--") and word[:2] in table:
        return table[word[:2]], word[2:]
    return None


def _allocation(shape: JobShape) -> dict[str, str]:
    """The launch of the whole allocation, written out (srun and mpirun's default)."""
    options = {"-n": str(shape.tasks)}
    if shape.nodes is not None:
        options["-N"] = str(shape.nodes)
    if shape.cpus_per_task > 1:
        options["-c"] = str(shape.cpus_per_task)
    if shape.gpus_per_task:
        options["--gpus-per-task"] = str(shape.gpus_per_task)
    return options
