"""qsub's options (``#PBS`` lines, Torque and PBS Pro, and the command line) into a `Request`.

The resource list (``-l``) is read as PBS means it, which is also how Slurm's own ``#PBS``
translation (src/sbatch/xlate.c) reads it where that is right:

- ``nodes=N:ppn=P[:gpus=G][:feature]`` (Torque): N nodes, P tasks on each (one core each);
- ``select=N:ncpus=C:mpiprocs=M[:ngpus=G][:mem=X]`` (PBS Pro): N chunks (one per node here),
  M tasks each (1 when not given) with C/M cores each;
- ``procs=P``: P tasks anywhere; ``ncpus=C``: one task of C cores;
- ``walltime``: seconds or ``[[[DD:]HH:]MM:]SS``; ``mem`` (the job's: Slurm's per-node
  ``--mem`` only on one node), ``pmem`` (per task: ``--mem-per-cpu`` with one core per task);
- ``place=...:excl``: exclusive nodes.

``-N`` is the name, ``-q`` the partition, ``-A`` the account, ``-o``/``-e`` the output,
``-d``/``-w`` the working directory, ``-v`` the environment, ``-m``/``-M`` mail, ``-W depend=``
the dependency; the rest is reported.
"""

from __future__ import annotations

import re

from jobspec.importing.lines import Word
from jobspec.importing.options import read, table
from jobspec.importing.request import DROPPED, KEPT, MAPPED, WARNING, Memory, Request, memory_mib
from jobspec.importing.times import PBS_FORMS, pbs_seconds

SPECS = table(
    """
    start_time:r:a account:r:A checkpoint:r:c working_dir:r:C dir:r:d error:r:e hold:n:h interactive:n:I
    join:r:j job_array:r:J keep:r:k resource_list:r:l mail_options:r:m mail_user_list:r:M job_name:r:N
    out:r:o priority:r:p destination:r:q rerunable:r:r script_path:r:S array:r:t running_user:r:u
    variable_list:r:v all_env:n:V attributes:r:W wdir:r:w no_std:n:z project:r:P
    """
)


def apply_pbs(req: Request, words: list[Word]) -> None:
    for found in read(words, SPECS, "qsub", long_prefix="--"):
        value = found.value or ""
        letter = found.spec.short if found.spec else ""
        shown = f"{found.written} {value}".strip()
        note = req.note
        if found.spec is None:
            note(WARNING, shown, "not a qsub option: ignored", found.word)
        elif letter == "l":
            for item in _split_resources(value):
                _resource(req, found.word, item)
        elif letter == "N":
            req.set("name", value, found.word)
            note(MAPPED, shown, "attributes.system.job.name", found.word)
        elif letter in ("d", "w"):
            req.set("cwd", value, found.word)
            note(MAPPED, shown, "attributes.system.cwd", found.word)
        elif letter == "q":
            req.set("partition", value, found.word)
            note(KEPT, shown, "setting slurm.partition (the queue)", found.word)
        elif letter == "A":
            req.set("account", value, found.word)
            note(KEPT, shown, "setting slurm.account", found.word)
        elif letter in ("o", "e"):
            option = f"--{'output' if letter == 'o' else 'error'}={value.rpartition(':')[2] if ':' in value else value}"
            req.slurm_options.append(option)
            note(KEPT, shown, option, found.word)
        elif letter == "v":
            for item in value.split(","):
                name, eq, val = item.partition("=")
                if eq:
                    req.environment[name.strip()] = val
                note(MAPPED, f"-v {item}", "environment" if eq else "from the submitting environment", found.word)
        elif letter == "V":
            note(MAPPED, shown, "the job gets the submitting environment (jobspec's default)", found.word)
        elif letter == "m":
            types = [t for c, t in (("b", "BEGIN"), ("e", "END"), ("a", "FAIL")) if c in value.lower()]
            option = "--mail-type=" + (",".join(types) if types and "n" not in value.lower() else "NONE")
            req.slurm_options.append(option)
            note(KEPT, shown, option, found.word)
        elif letter == "M":
            req.slurm_options.append(f"--mail-user={value}")
            note(KEPT, shown, f"--mail-user={value}", found.word)
        elif letter == "W" and value.lower().startswith("depend="):
            req.slurm_options.append(f"--dependency={value[7:]}")
            note(KEPT, shown, f"--dependency={value[7:]}", found.word)
        elif letter == "j":
            note(MAPPED, shown, "output and error together: Slurm's default without --error", found.word)
        elif letter in ("J", "t"):
            req.set_array(shown, value, found.word)
        elif letter == "S":
            note(DROPPED, shown, "the shell: the script's #! line says it", found.word)
        else:
            note(DROPPED, shown, "no portable meaning, and no Slurm option means the same", found.word)


def _split_resources(value: str) -> list[str]:
    """``-l`` items, split at commas (a ``select`` chunk's own parts are joined by ``:`` and ``+``)."""
    return [item.strip() for item in value.split(",") if item.strip()]


def _resource(req: Request, word: Word, item: str) -> None:
    key, eq, value = item.partition("=")
    key = key.strip().lower()
    shown = f"-l {item}"
    if not eq:
        req.note(WARNING, shown, "not a resource (name=value): ignored", word)
        return
    if key == "nodes":
        _torque_nodes(req, word, value, shown)
    elif key == "select":
        _select(req, word, value, shown)
    elif key == "walltime":
        try:
            seconds = pbs_seconds(value)
        except ValueError:
            raise req.error(f"walltime takes {PBS_FORMS}, not {value!r}", word) from None
        req.set("duration", seconds, word)
        req.note(MAPPED, shown, f"duration {seconds} s", word)
    elif key in ("procs",):
        req.set("ntasks", _count(req, word, key, value), word)
        req.note(MAPPED, shown, "tasks", word)
    elif key == "ncpus":
        req.set("cpus_per_task", _count(req, word, key, value), word)
        req.note(MAPPED, shown, "cores per task (one task)", word)
    elif key in ("ngpus", "gpus") and value.strip() == "0":
        req.note(MAPPED, shown, "no GPUs", word)
    elif key in ("ngpus", "gpus"):
        req.set("gpus_per_node", _count(req, word, key, value), word)
        req.gpu_spelling.append(f"--gpus-per-node={value}")
        req.note(MAPPED, shown, "GPUs per node", word)
    elif key == "mem":
        _memory(req, word, value, shown, per_job=True)
    elif key == "pmem":
        _memory(req, word, value, shown, per_job=False)
    elif key == "place":
        if "excl" in value.split(":") or "exclhost" in value.split(":"):
            req.set("exclusive", True, word)
            req.note(MAPPED, shown, "exclusive nodes", word)
        else:
            req.note(DROPPED, shown, "task placement has no portable meaning", word)
    else:
        req.note(DROPPED, shown, f"the resource {key!r} has no portable meaning", word)


def _count(req: Request, word: Word, key: str, value: str) -> int:
    if not re.fullmatch(r"\d+", value.strip()) or int(value) < 1:
        raise req.error(f"{key} takes a whole number of at least 1, not {value!r}", word)
    return int(value)


def _torque_nodes(req: Request, word: Word, value: str, shown: str) -> None:
    if "+" in value:
        raise req.error(
            f"nodes={value} asks for nodes of different shapes, which one resource graph cannot say: "
            "write one shape (nodes=N:ppn=P)",
            word,
        )
    parts = value.split(":")
    if not re.fullmatch(r"\d+", parts[0]):
        if re.fullmatch(r"[A-Za-z][\w.-]*", parts[0]):
            raise req.error(f"nodes={value} names a host; ask for a count of nodes (nodes=1:ppn=4)", word)
        raise req.error(f"nodes takes a count and properties (nodes=2:ppn=4), not {value!r}", word)
    nodes = _count(req, word, "nodes", parts[0])
    req.set("nodes", nodes, word)
    per_node = 1
    for part in parts[1:]:
        name, eq, val = part.partition("=")
        if name in ("ppn", "gpus") and eq:
            number = _count(req, word, name, val)
            if name == "ppn":
                per_node = number
            else:
                req.set("gpus_per_node", number, word)
                req.gpu_spelling.append(f"--gpus-per-node={number}")
        elif not eq and re.fullmatch(r"[\w.-]+", name):
            properties = [*(req.constraints or {}).get("properties", []), name]
            req.set("constraints", {"properties": properties}, word)
            req.note(MAPPED, f"{shown} ({name})", "attributes.system.constraints (a node property)", word)
        else:
            req.note(DROPPED, f"{shown} ({part})", "no portable meaning", word)
    req.set("per_node", per_node, word)
    req.set("ntasks", nodes * per_node, word)
    req.note(MAPPED, shown, f"{nodes} node(s), {per_node} task(s) on each", word)


def _select(req: Request, word: Word, value: str, shown: str) -> None:
    if "+" in value:
        raise req.error(
            f"select={value} asks for chunks of different shapes, which one resource graph cannot say", word
        )
    parts = value.split(":")
    if re.fullmatch(r"\d+", parts[0]):
        chunks = _count(req, word, "select", parts.pop(0))
    elif all(re.fullmatch(r"\w+=[^=]*", p) for p in parts):
        chunks = 1  # select=ncpus=8 is one chunk, as PBS Pro reads it
    else:
        raise req.error(f"select takes [a chunk count and] resources (select=2:ncpus=8), not {value!r}", word)
    fields = dict(p.partition("=")[::2] for p in parts)
    ncpus = _count(req, word, "ncpus", fields["ncpus"]) if "ncpus" in fields else None
    mpiprocs = _count(req, word, "mpiprocs", fields["mpiprocs"]) if "mpiprocs" in fields else 1
    cpus = ncpus or mpiprocs
    if cpus % mpiprocs:
        raise req.error(
            f"select: ncpus={cpus} does not divide among mpiprocs={mpiprocs} tasks: make ncpus a multiple of mpiprocs",
            word,
        )
    req.set("nodes", chunks, word)
    req.set("per_node", mpiprocs, word)
    req.set("ntasks", chunks * mpiprocs, word)
    req.set("cpus_per_task", cpus // mpiprocs, word)
    req.note(MAPPED, shown, f"{chunks} node(s), {mpiprocs} task(s) of {cpus // mpiprocs} core(s) on each", word)
    for name, val in fields.items():
        if name in ("ncpus", "mpiprocs"):
            continue
        if name == "ngpus" and val.strip() == "0":
            req.note(MAPPED, f"{shown} (ngpus=0)", "no GPUs", word)
        elif name == "ngpus":
            req.set("gpus_per_node", _count(req, word, name, val), word)
            req.gpu_spelling.append(f"--gpus-per-node={val}")
        elif name == "mem":
            _memory(req, word, val, f"{shown} (mem={val})", per_job=False, per_node=True)
        elif name == "ompthreads":
            req.note(DROPPED, f"{shown} ({name}={val})", "OMP_NUM_THREADS is the script's to set", word)
        else:
            req.note(DROPPED, f"{shown} ({name}={val})", "no portable meaning", word)


def _memory(req: Request, word: Word, value: str, shown: str, *, per_job: bool, per_node: bool = False) -> None:
    """mem (the job's: a node's when the job has one node), pmem (a process's: a core's
    when a task has one core), select's mem (a chunk's: a node's); into the graph at layout."""
    match = re.fullmatch(r"(\d+)([kmgt]?)(b|w)?", value.strip().lower())
    if not match:
        raise req.error(f"memory takes a size such as 4gb or 500mb, not {value!r}", word)
    mib = memory_mib(int(match.group(1)), match.group(2) or "B")
    if not per_node and not per_job and (req.cpus_per_task or 1) != 1:
        req.note(DROPPED, shown, "memory per process with several cores per task", word)
        return
    per = "node" if per_node else "job" if per_job else "cpu"
    option = f"--mem-per-cpu={mib}M" if per == "cpu" else f"--mem={mib}M"
    req.memory = Memory(per, mib, option, shown, word)
