"""What a batch script asks for, whatever scheduler it was written for, and its resource graph.

Each directive reader fills one `Request` (the values, where each was written, and the
report lines); `layout` then decides the job's shape (nodes, tasks, cores and GPUs per
task) and refuses a contradiction; `graph` writes that shape as the jobspec's resource
graph (memory included), so that `jobspec.count_resources` gives back exactly the same request.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from jobspec.document.problems import JobspecError, Problem
from jobspec.importing.lines import Word

MAPPED, KEPT, DROPPED, WARNING = "mapped", "kept for slurm only", "dropped", "warning"


@dataclass(frozen=True)
class Item:
    """One line of the report: what happened to one directive."""

    kind: str  # MAPPED, KEPT, DROPPED or WARNING
    what: str  # the directive as written (``--mem=4G``)
    detail: str  # where it went, or why not
    where: str  # file:line:column, or <command line>: argument N

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.what}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class Memory:
    """A memory request as written: ``per`` node, cpu, or the whole ``job`` (PBS ``mem``), in
    MiB; ``option`` is the sbatch option it stays as where the graph cannot place it."""

    per: str
    mib: int
    option: str
    shown: str
    word: Word


def memory_mib(number: int, unit: str) -> int:
    """A size in MiB, rounded up; ``unit`` is one of "", K, M, G, T (binary, as Slurm and PBS read
    them) or B (bytes)."""
    factor = {"B": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}[unit.upper()]
    return -(-number * factor // 1024**2)


@dataclass
class Request:
    """The request of one script (the directives, then the command line's options over them)."""

    source: str
    scheduler: str = "none"  # slurm, pbs, flux, or none (a script without directives)
    nodes: int | None = None
    ntasks: int | None = None
    per_node: int | None = None  # tasks per node
    cpus_per_task: int | None = None
    gpus: int | None = None  # for the whole job
    gpus_per_node: int | None = None
    gpus_per_task: int | None = None
    duration: float | None = None
    exclusive: bool = False
    name: str | None = None
    cwd: str | None = None
    environment: dict[str, str] = field(default_factory=dict)
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    slurm_options: list[str] = field(default_factory=list)
    array: str | None = None  # a job array's indexes, as the batch step's array field takes them
    memory: Memory | None = None  # the last memory request (--mem, --mem-per-cpu, PBS mem/pmem)
    constraints: dict[str, Any] | None = None  # which nodes qualify (RFC 31), as the graph's attributes
    hosts: tuple[list[str], str, str, Word] | None = None  # --nodelist: hosts, the option, as written, where
    excluded: list[str] = field(default_factory=list)  # --exclude's hosts
    items: list[Item] = field(default_factory=list)
    places: dict[str, Word] = field(default_factory=dict)  # where each field above was last set
    gpu_spelling: list[str] = field(default_factory=list)  # the GPU options as written (kept if they cannot map)

    def set(self, name: str, value: Any, word: Word) -> None:
        setattr(self, name, value)
        self.places[name] = word

    def set_array(self, what: str, spec: str, word: Word) -> None:
        """A job array (``0-9%2`` as sbatch and qsub write it): one job per index everywhere."""
        from jobspec.plugin.arrays import array_indexes

        spec, _, limit = spec.partition("%")
        try:
            count = len(array_indexes(spec))
        except ValueError as e:
            raise self.error(str(e), word) from None
        self.set("array", spec, word)
        self.note(MAPPED, what, f"a job array of {count} (array: {spec}; JOBSPEC_ARRAY_INDEX in each)", word)
        if limit:
            self.note(DROPPED, f"%{limit}", "a limit on elements running at once: all may run together", word)

    def note(self, kind: str, what: str, detail: str, word: Word) -> None:
        self.items.append(Item(kind, what, detail, word.place(self.source)))

    def error(self, message: str, word: Word | None) -> JobspecError:
        """Bad input at ``word``: the directive's file, line and column (or its argument)."""
        if word is None:
            return JobspecError(Problem(message, source=self.source))
        if word.line is None:
            return JobspecError(Problem(f"argument {word.column} ({word.text!r}): {message}", source="<command line>"))
        return JobspecError(Problem(message, source=self.source, line=word.line, column=word.column))


@dataclass(frozen=True)
class Layout:
    """The job's shape, decided: what the resource graph says."""

    nodes: int | None
    tasks: int
    cpus_per_task: int
    gpus_per_task: int
    exclusive: bool
    memory_per_node: int = 0  # MiB, the node's (a memory vertex beside the slot)
    memory_per_slot: int = 0  # MiB, each task's (a memory vertex in the slot)
    gpus_per_node: int = 0  # GPUs a node that its tasks share (a gpu vertex beside the slot)


def layout(req: Request) -> Layout:
    """The shape the request asks for, as the scheduler would read it; JobspecError if it
    contradicts itself. GPUs that do not divide evenly among the tasks are kept for Slurm only."""
    nodes, ntasks, per_node = req.nodes, req.ntasks, req.per_node
    where = req.places.get
    if per_node is not None and nodes is None:
        # Slurm: at least enough nodes for the tasks at that many per node (one without --ntasks)
        nodes = math.ceil(ntasks / per_node) if ntasks else 1
    if nodes is not None and ntasks is not None:
        if ntasks < nodes:
            raise req.error(
                f"{ntasks} task{'s' if ntasks != 1 else ''} cannot fill {nodes} nodes (the scheduler would change "
                f"the node count): ask for at most {ntasks} node{'s' if ntasks != 1 else ''}, or at least {nodes} "
                "tasks",
                where("ntasks") or where("nodes"),
            )
        if per_node is not None and ntasks > nodes * per_node:
            raise req.error(
                f"{ntasks} tasks do not fit on {nodes} nodes at {per_node} per node: ask for at most "
                f"{nodes * per_node} tasks, or {math.ceil(ntasks / per_node)} nodes",
                where("ntasks") or where("per_node"),
            )
    if ntasks is None:
        ntasks = (nodes or 1) * (per_node or 1)
    cpus = req.cpus_per_task or 1
    shared = _shared_gpus(req, nodes, ntasks)
    gpus_per_task = 0 if shared else _gpus_per_task(req, nodes, ntasks)
    per_node, per_slot = _memory(req, nodes, cpus)
    return Layout(nodes, ntasks, cpus, gpus_per_task, req.exclusive, per_node, per_slot, shared)


def _shared_gpus(req: Request, nodes: int | None, tasks: int) -> int:
    """GPUs a node that its tasks share (a gpu vertex beside the slot), where the script asks
    for GPUs per node (or in total, evenly over its nodes) that do not divide among the tasks."""
    if nodes is None or req.gpus_per_task is not None or (req.gpus is None and req.gpus_per_node is None):
        return 0
    per_node = req.gpus_per_node
    if req.gpus is not None:
        if req.gpus % nodes or (per_node is not None and per_node != req.gpus // nodes):
            return 0
        per_node = req.gpus // nodes
    assert per_node is not None
    if per_node == 0 or (tasks % nodes == 0 and per_node % (tasks // nodes) == 0):
        return 0  # each task its own whole GPUs: the slot holds them
    word = req.places.get("gpus_per_node") or req.places.get("gpus")
    if word is not None:
        req.note(MAPPED, " ".join(req.gpu_spelling), f"{per_node} GPUs a node, shared by its tasks", word)
    return per_node


def _memory(req: Request, nodes: int | None, cpus: int) -> tuple[int, int]:
    """Where the memory request goes in the graph: (MiB a node, MiB a slot). Memory per node
    needs a node count; where the graph cannot place it, it stays an sbatch option."""
    memory = req.memory
    if memory is None:
        return 0, 0
    if memory.per == "cpu":
        req.note(MAPPED, memory.shown, f"memory: {memory.mib * cpus} MiB a task ({memory.mib} MiB a core)", memory.word)
        return 0, memory.mib * cpus
    if nodes is not None and (memory.per == "node" or nodes == 1):
        req.note(MAPPED, memory.shown, f"memory: {memory.mib} MiB a node", memory.word)
        return memory.mib, 0
    if memory.per == "job":
        req.note(DROPPED, memory.shown, "the job's memory over several nodes has no per-node equivalent", memory.word)
        return 0, 0
    req.slurm_options.append(memory.option)
    req.note(
        KEPT,
        memory.shown,
        f"{memory.option} (memory a node, but the script names no node count for the graph to put it on)",
        memory.word,
    )
    return 0, 0


def _gpus_per_task(req: Request, nodes: int | None, tasks: int) -> int:
    """GPUs per task when every form given says the same and they divide evenly; else 0
    (and the GPU options are kept as written, for Slurm only)."""
    if req.gpus_per_task is not None and req.gpus is None and req.gpus_per_node is None:
        return req.gpus_per_task
    if req.gpus_per_task is None and (req.gpus is not None or req.gpus_per_node is not None):
        total = req.gpus if req.gpus is not None else None
        if req.gpus_per_node is not None:
            per_node_total = req.gpus_per_node * (nodes or 1)
            if total is not None and total != per_node_total:
                total = -1
            else:
                total = per_node_total
        if total is not None and total >= 0:
            per_node = tasks // nodes if nodes and tasks % nodes == 0 else None
            even = req.gpus_per_node is None or (per_node is not None and req.gpus_per_node % per_node == 0)
            if total == 0 or (even and total % tasks == 0):
                return total // tasks
    if not req.gpu_spelling:
        return 0
    word = req.places.get("gpus_per_task") or req.places.get("gpus_per_node") or req.places.get("gpus")
    req.slurm_options.extend(req.gpu_spelling)
    if word is not None:
        req.note(
            KEPT,
            " ".join(req.gpu_spelling),
            f"the GPUs do not divide evenly among the {tasks} tasks, so the resource graph (GPUs per task) "
            "cannot say them; other backends get no GPUs",
            word,
        )
    return 0


SLOT = "task"


def graph(shape: Layout) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The resource graph and the task count for ``shape``: a ``node`` vertex when nodes are
    given, a ``slot`` per task (per node: as many as the busiest node holds) with its cores and GPUs."""
    under: list[dict[str, Any]] = [{"type": "core", "count": shape.cpus_per_task}]
    if shape.gpus_per_task:
        under.append({"type": "gpu", "count": shape.gpus_per_task})
    if shape.memory_per_slot:
        under.append(memory_vertex(shape.memory_per_slot))
    if shape.nodes is None:
        slot: dict[str, Any] = {"type": "slot", "label": SLOT, "count": shape.tasks, "with": under}
        if shape.exclusive:
            slot["exclusive"] = True
        return [slot], {"per_slot": 1}
    per_node = math.ceil(shape.tasks / shape.nodes)
    slot = {"type": "slot", "label": SLOT, "count": per_node, "with": under}
    memory = [memory_vertex(shape.memory_per_node)] if shape.memory_per_node else []
    gpus = [{"type": "gpu", "count": shape.gpus_per_node}] if shape.gpus_per_node else []
    node: dict[str, Any] = {"type": "node", "count": shape.nodes, "with": [*memory, *gpus, slot]}
    if shape.exclusive:
        node["exclusive"] = True
    count = {"per_slot": 1} if per_node * shape.nodes == shape.tasks else {"total": shape.tasks}
    return [node], count


def memory_vertex(mib: int) -> dict[str, Any]:
    """A memory vertex of ``mib`` MiB in the largest unit that says it exactly (1000G stays 1000 GB,
    not a count of 1024000 MB, past the largest count a graph takes)."""
    for unit, size in (("TB", 1024**2), ("GB", 1024), ("MB", 1)):
        if mib % size == 0:
            return {"type": "memory", "count": mib // size, "unit": unit}
    raise AssertionError("unreachable: every size is a whole number of MB")


def constraints(req: Request, shape: Layout) -> dict[str, Any] | None:
    """Which nodes qualify: the features, and the host lists. A --nodelist is a host list
    only where it names exactly the job's nodes (Slurm gives the job every node it lists);
    else it stays an sbatch option."""
    out = dict(req.constraints or {})
    if req.hosts is not None:
        hosts, option, shown, word = req.hosts
        if shape.nodes == len(hosts):
            out["hostlist"] = hosts
            req.note(MAPPED, shown, "attributes.system.constraints (these hosts)", word)
        else:
            req.slurm_options.append(option)
            nodes = f"{shape.nodes} nodes" if shape.nodes is not None else "no node count"
            req.note(KEPT, shown, f"{option} (it names {len(hosts)} hosts, the job {nodes})", word)
    if req.excluded:
        out["not"] = [{"hostlist": req.excluded}]
    return out or None
