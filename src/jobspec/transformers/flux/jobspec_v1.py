"""The Flux jobspec (RFC 25, version 1) of a submit or batch step. Pure: no Flux needed.

One `FluxJob` holds everything Flux is told about a job; the jobspec JSON
(`to_jobspec`) and the ``flux submit`` / ``flux batch`` command lines of the same
job (`command_lines`) are both made from it, so they cannot drift apart.

How our jobspec becomes a Flux jobspec:

- resources: the graph as the user wrote it (node > slot > core/gpu, or slot >
  core/gpu), copied. V1 cannot carry an ``id`` on a vertex, per-task attributes,
  or more than one core and one gpu vertex in a slot: `v1_problems` refuses those
  at plan time rather than dropping them. ``exclusive`` stays where the user put
  it (Flux's own ``flux submit -N -x`` writes it on the node).
- tasks: one task, in the user's slot. ``count.total`` is kept; ``count.per_slot: 1``
  is kept; ``per_slot: k > 1`` becomes ``total: k x slots``, the same number of
  tasks on the same slots, since V1 (and RFC 25's schema) allows only
  ``per_slot: 1`` and Flux spreads a total over the slots evenly. A batch job's task
  is the nested broker, one per slot as ``flux batch`` writes it (the shell's
  ``per-resource`` option then starts one broker per node).
- command: the step's script run by its ``#!`` line (or task.command), wrapped in a
  one-line ``/bin/sh`` that exports JOBSPEC_TASK_RANK, JOBSPEC_TASK_COUNT and
  JOBSPEC_JOB_ID from FLUX_TASK_RANK, FLUX_JOB_SIZE and FLUX_JOB_ID, as the local
  and Slurm transformers give them. Flux's shell renders ``{{...}}`` in command
  arguments and has no escape: when an argument holds ``{{`` every argument is
  encoded and the wrapper decodes them first (`templates`), so they reach the
  task as written. A batch job runs ``flux broker {{tmpdir}}/script`` with the
  script in RFC 37 ``files``, as ``flux batch`` does (that template on purpose).
- attributes.system: ``duration`` (0, unlimited, when unset: V1 requires the key),
  ``cwd`` (the jobspec's, else the staging directory), ``environment`` (the
  submitting process's, as ``flux submit`` passes it, then the jobspec's, then
  JOBSPEC_STAGE), ``job.name``, output files in the staging directory
  (``flux-{{id.dec}}.out`` / ``.err``: the job id in decimal) unless the step watches the job (then the output
  stays in the KVS and is streamed), ``dependencies`` (RFC 26 ``afterok``) for
  ``after:``. Other ``attributes.system`` keys the user wrote (``queue``, ``bank``,
  ``constraints``, ``shell.options``...) and ``attributes.user`` pass through; a
  resumable run's submit key goes in ``attributes.user.jobspec.submit_key``.
- constraints (RFC 31): a mapping of several operators means all of them (see
  `jobspec.document.constraints`), but flux-core 0.88's scheduler (sched-simple) reads
  one operator a mapping and ignores the others (measured: ``{ranks: [1-3], not:
  [{ranks: [2]}]}`` ran on rank 2). So each such mapping becomes an ``and`` of
  one-operator mappings (`one_operator_each`): the same constraint, which Flux honours.
"""

from __future__ import annotations

import posixpath
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from jobspec.document.problems import DocPath, Problem
from jobspec.plugin import BatchStep, JobStep, SubmitStep
from jobspec.transformers.flux.templates import DECODE_ARGS, literal_args

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.document.resources import ResourceCounts
    from jobspec.transformers.flux import directives

# Per task: the rank and count every transformer gives, then the task's own command.
TASK_SHELL = (
    'export JOBSPEC_TASK_RANK="$FLUX_TASK_RANK" JOBSPEC_TASK_COUNT="$FLUX_JOB_SIZE" '
    'JOBSPEC_JOB_ID="$FLUX_JOB_ID"; exec "$@"'
)
TASK_WRAPPER = ("/bin/sh", "-c", TASK_SHELL, "jobspec-task")
# The same, for arguments encoded by `templates.protect`: decoded before anything else.
LITERAL_TASK_SHELL = DECODE_ARGS + TASK_SHELL
LITERAL_TASK_WRAPPER = ("/bin/sh", "-c", LITERAL_TASK_SHELL, "jobspec-task")

# What `flux batch` writes (flux-core JobspecV1.from_nest_command / from_batch_command).
BATCH_COMMAND = ("flux", "broker", "{{tmpdir}}/script")
BATCH_SHELL_OPTIONS: Mapping[str, Any] = {
    "per-resource": {"type": "node"},  # one broker per node, whatever the slot count
    "mpi": "none",
    "exit-timeout": "none",
    "pmi": "simple",
}
SCRIPT_MODE = stat.S_IFREG | 0o700  # 33216, as flux batch records the script
# Flux's mustache tag for the job id in decimal: the F58 form's first character is
# "ƒ" or "f" depending on the job shell's locale, the decimal form is the same everywhere.
OUTPUT_NAME = "flux-{{id.dec}}"
USER_KEY = "jobspec"  # attributes.user.jobspec.submit_key: how a resumed run finds its job

# attributes.system keys this module writes itself; the user's others pass through
_OWN_SYSTEM_KEYS = ("duration", "cwd", "environment")


@dataclass
class FluxJob:
    """Everything Flux is told about one job, decided once."""

    kind: str  # "submit" or "batch"
    command: list[str]  # what each task runs, as submitted (batch: the nested broker)
    resources: list[dict[str, Any]]
    slot: str
    count: dict[str, int]
    counts: ResourceCounts
    duration: float
    cwd: str
    environment: dict[str, str]  # set on top of the submitting process's environment
    name: str
    stdout: str | None = None  # a file (may hold {{id}}); None: the KVS, streamed by watch
    stderr: str | None = None
    after: tuple[str, ...] = ()  # the job ids this one waits for (afterok each)
    script: str | None = None  # batch: the script text (starts with #!)
    wrapped: bool = False  # batch: the script had no #! line, so /bin/sh was put first
    script_path: str | None = None  # batch: the script's file in the staging directory
    system: dict[str, Any] = field(default_factory=dict)  # the user's other attributes.system keys
    user: dict[str, Any] | None = None  # attributes.user
    key: str | None = None  # a resumable run's submit key, kept in attributes.user.jobspec
    rlimit_rules: list[str] = field(default_factory=list)  # --rlimit rules (a batch script's directives)
    env_rules: list[str] = field(default_factory=list)  # --env rules, applied to the submitter's environment


def task_count(jobspec: Jobspec) -> dict[str, int]:
    """The V1 task count: ``total`` as written, ``per_slot: 1``, or ``per_slot: k`` as ``total``."""
    count = jobspec.task.get("count") or {"per_slot": 1}
    if "total" in count:
        return {"total": int(count["total"])}
    if int(count.get("per_slot", 1)) == 1:
        return {"per_slot": 1}
    return {"total": jobspec.counts.tasks}


def job_name(jobspec: Jobspec, filename: str | None) -> str:
    """The user's ``attributes.system.job.name``, else the script's file name (as
    ``flux submit job.sh`` and ``flux batch job.sh`` name a job), else the jobspec's name."""
    job = jobspec.system.get("job")
    if isinstance(job, dict) and job.get("name"):
        return str(job["name"])
    if filename:
        return posixpath.basename(filename)
    return jobspec.name


def output_files(stage: str, watch: bool) -> tuple[str | None, str | None]:
    """Where the job's output goes: files in the staging directory, or (watch) the KVS."""
    if watch:
        return None, None
    return posixpath.join(stage, f"{OUTPUT_NAME}.out"), posixpath.join(stage, f"{OUTPUT_NAME}.err")


def batch_script(content: str) -> str:
    """The script as flux batch takes it: with a ``#!`` line (``/bin/sh`` when it has
    none, as jobspec runs such scripts everywhere and ``flux batch --wrap`` does)."""
    return content if content.startswith("#!") else f"#!/bin/sh\n{content}"


def submit_job(
    jobspec: Jobspec,
    command: list[str],
    *,
    stage: str,
    filename: str | None = None,
    watch: bool = False,
    after: tuple[str, ...] = (),
    key: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> FluxJob:
    """The Flux job of a submit step: ``command`` (the script or task.command) as the task.

    ``environment`` is the step's (`JobStep.environment`); without a run to ask
    (tests, benchmarks) it is made the same way from ``stage``."""
    stdout, stderr = output_files(stage, watch)
    return FluxJob(
        kind="submit",
        command=task_command(command),
        resources=plain_copy(jobspec.resources),
        slot=str(jobspec.task["slot"]),
        count=task_count(jobspec),
        counts=jobspec.counts,
        duration=float(jobspec.duration or 0),
        cwd=jobspec.cwd or stage,
        environment=dict(environment if environment is not None else job_environment(jobspec, stage, SubmitStep)),
        name=job_name(jobspec, filename),
        stdout=stdout,
        stderr=stderr,
        after=after,
        system=_passthrough(jobspec),
        user=_user(jobspec),
        key=key,
    )


def batch_job(
    jobspec: Jobspec,
    script: str,
    *,
    stage: str,
    filename: str,
    watch: bool = False,
    after: tuple[str, ...] = (),
    key: str | None = None,
    environment: Mapping[str, str] | None = None,
) -> FluxJob:
    """The Flux job of a batch step: the script as the initial program of a nested
    instance that holds the whole allocation (``environment`` as for `submit_job`),
    with the script's ``# flux:`` directives applied (`directives`; DirectiveError for
    one that disagrees with the document or that jobspec cannot carry)."""
    counts = jobspec.counts
    stdout, stderr = output_files(stage, watch)
    job = FluxJob(
        kind="batch",
        command=list(BATCH_COMMAND),
        resources=plain_copy(jobspec.resources),
        slot=str(jobspec.task["slot"]),
        count={"per_slot": 1},
        counts=counts,
        duration=float(jobspec.duration or 0),
        cwd=jobspec.cwd or stage,
        environment=dict(environment if environment is not None else job_environment(jobspec, stage, BatchStep)),
        name=job_name(jobspec, filename),
        stdout=stdout,
        stderr=stderr,
        after=after,
        script=batch_script(script),
        wrapped=not script.startswith("#!"),
        script_path=posixpath.join(stage, filename),
        system=_passthrough(jobspec),
        user=_user(jobspec),
        key=key,
    )
    # only a batch script has directives to read: a submit does not import their parser (~1.5 ms)
    from jobspec.transformers.flux import directives

    _apply_directives(job, directives.apply(script), jobspec, watch)
    return job


def _apply_directives(job: FluxJob, applied: directives.Applied, jobspec: Jobspec, watch: bool) -> None:
    """What the directives set where the document is silent; a disagreement is refused."""
    from jobspec.transformers.flux import directives

    def agree(what: str, theirs: Any, ours: Any, line: int) -> None:
        if theirs != ours:
            raise directives.DirectiveError(
                f"{what} {theirs!r} disagrees with the document's {ours!r} (the document decides: change one)", line
            )

    counts = jobspec.counts
    document_says = {
        "nodes": counts.nodes,
        "nslots": counts.slots,
        "cores-per-slot": counts.cores_per_slot,
        "gpus-per-slot": counts.gpus // counts.slots if counts.slots else 0,
        "exclusive": counts.exclusive,
    }
    for option, (value, line) in applied.resources.items():
        agree(f"--{option}", value, document_says[option], line)
    where = applied.lines
    named = isinstance(jobspec.system.get("job"), dict) and jobspec.system["job"].get("name")
    if applied.name is not None:
        if named:
            agree("--job-name", applied.name, job.name, where["job-name"])
        job.name = applied.name
    if applied.duration is not None:
        if jobspec.duration:
            agree("--time-limit", applied.duration, float(jobspec.duration), where["time-limit"])
        job.duration = applied.duration
    if applied.cwd is not None:
        if jobspec.cwd:
            agree("--cwd", applied.cwd, jobspec.cwd, where["cwd"])
        job.cwd = applied.cwd
    for option, path in (("output", applied.stdout), ("error", applied.stderr)):
        if path is None:
            continue
        if watch:
            raise directives.DirectiveError(
                f"--{option}={path}: the step watches the job, whose output Flux then streams (remove one)",
                where[option],
            )
        setattr(job, "stdout" if option == "output" else "stderr", path)
    for key, value in applied.system.items():
        if key in job.system:
            agree(f"attributes.system.{key}", value, job.system[key], where.get(key, 0))
        job.system[key] = plain_copy(value)
    if applied.user:
        job.user = {**(job.user or {}), **plain_copy(applied.user)}
    own = _tree(job.system, "shell", "options")
    for key, value in applied.shell_options.items():
        if key in own:
            agree(f"shell option {key}", value, own[key], where.get(f"-o {key}", 0))
        own[key] = value
    if applied.label_io:
        _tree(own, "output", "stdout")["label"] = True
    if not own:
        del job.system["shell"]["options"]
        if not job.system["shell"]:
            del job.system["shell"]
    if applied.dependencies:
        job.system["dependencies"] = [*(job.system.get("dependencies") or []), *applied.dependencies]
    job.env_rules = list(applied.env_rules)
    job.rlimit_rules = list(applied.rlimit_rules)


def task_command(command: list[str]) -> list[str]:
    """What each task runs: ``command`` behind the wrapper, encoded if Flux's shell would
    otherwise render a ``{{...}}`` in it."""
    args, protected = literal_args(command)
    return [*(LITERAL_TASK_WRAPPER if protected else TASK_WRAPPER), *args]


def job_environment(jobspec: Jobspec, stage: str, kind: type[JobStep]) -> dict[str, str]:
    """What `JobStep.environment` gives a ``kind`` step staged in ``stage``, for callers
    without a run: the jobspec's environment, JOBSPEC_STAGE, the allocation's shape."""
    allocation = kind(jobspec, {"step": kind.name}).allocation_env()
    return {**jobspec.environment, "JOBSPEC_STAGE": stage, **allocation}


def _passthrough(jobspec: Jobspec) -> dict[str, Any]:
    system = {k: plain_copy(v) for k, v in jobspec.system.items() if k not in _OWN_SYSTEM_KEYS}
    if "constraints" in system:
        system["constraints"] = one_operator_each(system["constraints"])
    return system


def _user(jobspec: Jobspec) -> dict[str, Any] | None:
    user = (jobspec.data.get("attributes") or {}).get("user")
    return plain_copy(user) if isinstance(user, dict) else None


def to_jobspec(
    job: FluxJob, base_environment: Mapping[str, str] | None = None, rlimits: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """The Flux jobspec (version 1) of ``job``, as submitted.

    ``base_environment`` is the submitting process's environment (``flux submit``
    passes it whole); the job's own variables are set on top of it. ``rlimits`` are
    the resource limits it hands on (`limits.propagated`); the document's own
    ``shell.options.rlimit`` entries win.
    """
    system: dict[str, Any] = plain_copy(job.system)
    system["duration"] = job.duration
    system["cwd"] = job.cwd
    base = base_environment
    if job.env_rules:  # a batch script's --env rules (see batch_job)
        from jobspec.transformers.flux import directives

        base = directives.environment(job.env_rules, base_environment or {})
    system["environment"] = {**(base or {}), **job.environment}
    job_attrs = system.get("job")
    system["job"] = {**(job_attrs if isinstance(job_attrs, dict) else {}), "name": job.name}
    options = _tree(system, "shell", "options")
    if rlimits:
        own = options.get("rlimit")
        options["rlimit"] = {**rlimits, **(own if isinstance(own, dict) else {})}
    if job.stdout is not None:  # (label, from a directive, kept)
        _tree(options, "output", "stdout").update({"type": "file", "path": job.stdout})
    if job.stderr is not None:
        _tree(options, "output", "stderr").update({"type": "file", "path": job.stderr})
    if job.kind == "batch":
        for key, value in BATCH_SHELL_OPTIONS.items():
            options.setdefault(key, plain_copy(value))
        files = _tree(system, "files")
        files["script"] = {"mode": SCRIPT_MODE, "data": job.script or "", "encoding": "utf-8"}
    if not options:
        del system["shell"]["options"]
        if not system["shell"]:
            del system["shell"]
    if job.after:
        dependencies = list(system.get("dependencies") or [])
        dependencies += [dependency(job_id) for job_id in job.after]
        system["dependencies"] = dependencies
    attributes: dict[str, Any] = {"system": system}
    if job.user is not None or job.key is not None:
        user = plain_copy(job.user) if job.user is not None else {}
        if job.key is not None:
            _tree(user, USER_KEY)["submit_key"] = job.key
        attributes["user"] = user
    return {
        "resources": plain_copy(job.resources),
        "tasks": [{"command": list(job.command), "slot": job.slot, "count": dict(job.count)}],
        "attributes": attributes,
        "version": 1,
    }


def plain_copy(value: Any) -> Any:
    """A copy of JSON-shaped data (dicts and lists, copied at every depth; anything else is
    kept as it is): what copy.deepcopy gives for a loaded document, at a fifth of its cost."""
    if isinstance(value, dict):
        return {key: plain_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain_copy(item) for item in value]
    return value


def one_operator_each(constraint: Any) -> Any:
    """An RFC 31 constraint with one operator in each mapping: ``{a: x, b: y}`` becomes
    ``{and: [{a: x}, {b: y}]}`` (what the mapping means), at every depth."""
    if not isinstance(constraint, dict):
        return constraint
    parts = []
    for key, value in constraint.items():
        nested = key in ("and", "or", "not") and isinstance(value, list)
        parts.append({key: [one_operator_each(c) for c in value] if nested else value})
    return parts[0] if len(parts) == 1 else {"and": parts}


def dependency(job_id: str) -> dict[str, str]:
    """An RFC 26 ``afterok`` dependency: only ``scheme`` and ``value``, as the RFC text
    requires for the ``after*`` schemes and as ``flux submit --dependency`` writes it."""
    return {"scheme": "afterok", "value": job_id}


def _tree(parent: dict[str, Any], *keys: str) -> dict[str, Any]:
    node = parent
    for key in keys:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    return node


def v1_problems(jobspec: Jobspec, *, fluxion: bool = False, submits: bool = False) -> list[Problem]:
    """What in this jobspec a Flux version 1 jobspec cannot carry (checked at plan time,
    so nothing is dropped silently). The core already holds the graph to V1's shapes.

    Measured on flux-core 0.88: its ingest validator takes a ``memory`` or ``socket``
    vertex, and its own scheduler (sched-simple) then ignores it (the job gets a core,
    no memory); a count range is refused ("resource count must be an integer"). So
    memory and sockets are refused unless ``flux.fluxion`` says the instance's scheduler
    honours them, and ranges always (flux-core alone validates version 1). A ``submit``
    (``submits``) of fewer tasks than nodes is refused too: flux-core's shell fails on a
    node with no task (``flux submit`` itself refuses "node count must not be greater
    than task count")."""
    problems = list(_vertex_problems(jobspec.resources, ("resources",), fluxion))
    counts = jobspec.counts
    if submits and counts.nodes and counts.tasks < counts.nodes:
        problems.append(
            Problem(
                f"flux-core's job shell runs at least one task on each node of a job: {counts.tasks} task(s) on "
                f'{counts.nodes} nodes fails to start ("error creating taskmap"); ask for at least '
                f"{counts.nodes} tasks, or {counts.tasks} node(s)",
                path=(*jobspec.task_path, "count", "total"),
            )
        )
    task_attributes = jobspec.task.get("attributes")
    if task_attributes:
        problems.append(
            Problem(
                "Flux jobspec version 1 has no per-task attributes (RFC 25): "
                "put the environment in attributes.system.environment",
                path=(*jobspec.task_path, "attributes"),
            )
        )
    return problems


def _vertex_problems(vertices: list[Any], path: DocPath, fluxion: bool) -> Iterator[Problem]:
    for i, vertex in enumerate(vertices):
        if not isinstance(vertex, dict):
            continue
        vpath = (*path, i)
        if isinstance(vertex.get("count"), dict):
            yield Problem(
                "flux-core validates jobspec version 1, whose counts are whole numbers (RFC 25): it refuses a "
                "count range; give a count",
                path=(*vpath, "count"),
            )
        if vertex.get("type") in ("memory", "socket") and not fluxion:
            yield Problem(
                f"flux-core's own scheduler (sched-simple) takes a {vertex['type']} vertex and ignores it: "
                "remove it, or set flux.fluxion: true if the instance schedules with flux-sched (Fluxion)",
                path=(*vpath, "type"),
            )
        if "id" in vertex:
            yield Problem(
                "Flux jobspec version 1 takes no id on a resource vertex (RFC 25): remove it", path=(*vpath, "id")
            )
        children = vertex.get("with") or []
        if vertex.get("type") == "slot":
            kinds = [c.get("type") for c in children if isinstance(c, dict) and c.get("type") in ("core", "gpu")]
            if len(kinds) > 2 or len(set(kinds)) != len(kinds):
                yield Problem(
                    "in Flux jobspec version 1 a slot holds one core vertex and at most one gpu vertex (RFC 25)",
                    path=(*vpath, "with"),
                )
        yield from _vertex_problems(children, (*vpath, "with"), fluxion)
