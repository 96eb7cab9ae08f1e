"""The ``flux`` command lines the Flux transformer uses, or shows. Pure: argv lists only.

- `by_hand`: the ``flux submit`` / ``flux batch`` command of the same job, for the
  dry run and the benchmarks. `same_job` tells whether it is exactly the job
  jobspec submits: ``flux submit`` builds its graph from -N/-n/-c/-g, and cannot
  say every graph (per_slot above 1, fewer tasks than slots without a node level,
  an exclusive slot, units), nor run a batch script that has no ``#!`` line.
- `job_submit`: how the command client submits: ``flux job submit`` with the very
  jobspec JSON on standard input, so the bindings and the command give the same job.
- the life cycle: ``flux job attach``, ``flux job eventlog``, ``flux job wait-event``,
  ``flux cancel``, ``flux getattr``;
- staging: ``flux archive create``, ``flux exec ... flux archive extract``,
  ``flux archive remove`` (``flux filemap map/get/unmap`` where ``flux archive`` is
  not there). The stage's entries come after ``--``: flux-archive parses its options
  with glibc's getopt (liboptparse, POSIXLY_CORRECT), which stops at ``--``, so an
  entry named ``--name=x`` or ``-C..`` is a file, never an option.

Every option used is one that flux-submit(1), flux-batch(1), flux-job(1),
flux-archive(1), flux-filemap(1) or flux-exec(1) documents (tests check them).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from jobspec.transformers.flux.jobspec_v1 import USER_KEY, FluxJob
from jobspec.transformers.flux.templates import has_template

FLUX = "flux"

# On another rank: nothing to do where the staging directory is already there (the
# marker shows this rank shares our file system), else make it and extract into it.
STAGE_SHELL = 'if [ -e "$1/$2" ]; then exit 0; fi; mkdir -p "$1" && shift 2 && exec "$@"'


def fsd(seconds: float) -> str:
    """A duration in seconds in Flux Standard Duration (RFC 23), e.g. ``90s``, ``1.5s``."""
    if seconds == int(seconds):
        return f"{int(seconds)}s"
    return f"{seconds!r}s"


def env_option(name: str, value: str) -> str:
    """``--env=NAME=VALUE``, with ``$`` doubled: flux submit expands ``$VAR`` in values.

    A VALUE with ``{{`` is set with ``--setattr=system.environment.NAME=JSON`` instead:
    flux submit would hand it to the job shell to render (``env-expand``,
    flux/job/_utils.py get_filtered_environment); --setattr is applied after --env
    (Jobspec.apply_options) and its JSON value is taken as written."""
    if has_template(value):
        return f"--setattr=system.environment.{name}={json.dumps(value, ensure_ascii=False)}"
    return f"--env={name}={value.replace('$', '$$')}"


def submit_options(job: FluxJob) -> dict[str, int | bool | None]:
    """-N, -n, -c, -g and --exclusive of ``flux submit`` for ``job``'s resources."""
    counts = job.counts
    return {
        "nodes": counts.nodes,
        "ntasks": counts.tasks,
        "cores_per_task": counts.cores_per_task,
        "gpus_per_task": counts.gpus_per_task or None,
        "exclusive": counts.exclusive and counts.nodes is not None,
    }


def resources_of_submit(
    ntasks: int,
    cores_per_task: int = 1,
    gpus_per_task: int | None = None,
    nodes: int | None = None,
    exclusive: bool = False,
    label: str = "task",
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The resources and task count ``flux submit`` builds from -n/-c/-g/-N/-x
    (flux-core JobspecV1.from_command), with the slot labelled ``label``."""
    children: list[dict[str, Any]] = [{"type": "core", "count": cores_per_task}]
    if gpus_per_task:
        children.append({"type": "gpu", "count": gpus_per_task})
    if nodes is not None:
        count = {"per_slot": 1} if ntasks % nodes == 0 else {"total": ntasks}
        slot = {"type": "slot", "count": math.ceil(ntasks / nodes), "with": children, "label": label}
        node: dict[str, Any] = {"type": "node", "count": nodes, "with": [slot]}
        if exclusive:
            node = {"type": "node", "count": nodes, "exclusive": True, "with": [slot]}
        return [node], count
    return [{"type": "slot", "count": ntasks, "with": children, "label": label}], {"per_slot": 1}


def resources_of_batch(
    nslots: int,
    cores_per_slot: int = 1,
    gpus_per_slot: int | None = None,
    nodes: int | None = None,
    exclusive: bool = False,
    label: str = "task",
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The resources ``flux batch`` builds from -n/-c/-g/-N (from_batch_command:
    one broker per slot, over the nodes)."""
    return resources_of_submit(nslots, cores_per_slot, gpus_per_slot, nodes, exclusive, label)


def batch_options(job: FluxJob) -> dict[str, int | bool | None]:
    """-N, -n (slots), -c and -g (per slot) and --exclusive of ``flux batch``."""
    counts = job.counts
    return {
        "nodes": counts.nodes,
        "nslots": counts.slots,
        "cores_per_slot": counts.cores_per_slot,
        "gpus_per_slot": counts.gpus_per_slot or None,
        "exclusive": counts.exclusive and counts.nodes is not None,
    }


def _canonical(resources: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    """A graph with the slot relabelled and key order ignored, for comparison."""
    out = []
    for vertex in resources:
        v = {k: val for k, val in vertex.items() if k != "with"}
        if v.get("type") == "slot":
            v["label"] = label
        if v.get("exclusive") is False:
            del v["exclusive"]
        if vertex.get("with"):
            v["with"] = _canonical(vertex["with"], label)
        out.append(v)
    return out


def same_resources(job: FluxJob) -> bool:
    """Whether `by_hand` asks Flux for exactly ``job``'s resources and task count."""
    if job.kind == "batch":
        o = batch_options(job)
        built, count = resources_of_batch(
            int(o["nslots"] or 1),
            int(o["cores_per_slot"] or 1),
            int(o["gpus_per_slot"]) if o["gpus_per_slot"] else None,
            int(o["nodes"]) if o["nodes"] else None,
            bool(o["exclusive"]),
        )
    else:
        o = submit_options(job)
        built, count = resources_of_submit(
            int(o["ntasks"] or 1),
            int(o["cores_per_task"] or 1),
            int(o["gpus_per_task"]) if o["gpus_per_task"] else None,
            int(o["nodes"]) if o["nodes"] else None,
            bool(o["exclusive"]),
        )
    return _canonical(built, "task") == _canonical(job.resources, "task") and count == job.count


def same_job(job: FluxJob) -> bool:
    """Whether `by_hand` is the same job as the jobspec jobspec submits: the same
    resources and task count, a script flux batch takes as it is (one with a #!
    line), no dependencies of the user's own that a --dependency URI cannot say, and
    no templated environment value under a name --setattr cannot say."""
    if not same_resources(job) or job.wrapped:
        return False
    if any("." in k for k, v in job.environment.items() if has_template(v)):
        return False  # --setattr would read the dots in NAME as nesting
    return all(set(d) <= {"scheme", "value"} for d in job.system.get("dependencies") or [] if isinstance(d, dict))


def _common(job: FluxJob) -> list[str]:
    argv = [f"--job-name={job.name}"]
    if job.duration:
        argv.append(f"--time-limit={fsd(job.duration)}")
    argv.append(f"--cwd={job.cwd}")
    argv += [env_option(k, v) for k, v in job.environment.items()]
    if job.stdout is not None:
        argv.append(f"--output={job.stdout}")
    elif job.kind == "batch":
        argv.append("--output=kvs")  # flux batch writes flux-{{id}}.out unless told
    if job.stderr is not None:
        argv.append(f"--error={job.stderr}")
    argv += _dependencies(job)
    argv += [f"--setattr={key}={value}" for key, value in _setattrs(job.system)]
    if job.user:
        argv += [f"--setattr={key}={value}" for key, value in _leaves("user", job.user)]
    if job.key is not None:
        argv.append(f"--setattr=user.{USER_KEY}.submit_key={job.key}")
    return argv


def _leaves(prefix: str, value: Any) -> list[tuple[str, str]]:
    """``value`` as (dotted key, JSON) pairs, one a leaf, so that --setattr merges them
    with what the other options set, as the jobspec JSON does."""
    if isinstance(value, dict) and value:
        return [pair for k, v in value.items() for pair in _leaves(f"{prefix}.{k}", v)]
    return [(prefix, json.dumps(value, separators=(",", ":")))]


def _setattrs(system: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The user's passthrough attributes.system keys as --setattr KEY=JSON."""
    out: list[tuple[str, str]] = []
    for key, value in system.items():
        if key == "job" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "name"}
            if not value:
                continue
        if key == "dependencies":
            continue  # --dependency URIs, before ours (see _dependencies)
        out += _leaves(f"system.{key}", value)
    return out


def _dependencies(job: FluxJob) -> list[str]:
    uris = [
        f"--dependency={d['scheme']}:{d['value']}"
        for d in job.system.get("dependencies") or []
        if isinstance(d, dict) and "scheme" in d and "value" in d
    ]
    uris += [f"--dependency=afterok:{job_id}" for job_id in job.after]
    return uris


def submit_argv(job: FluxJob) -> list[str]:
    """``flux submit`` of the same job, typed by hand."""
    o = submit_options(job)
    argv = [FLUX, "submit"]
    if o["nodes"]:
        argv.append(f"--nodes={o['nodes']}")
    argv.append(f"--ntasks={o['ntasks']}")
    argv.append(f"--cores-per-task={o['cores_per_task']}")
    if o["gpus_per_task"]:
        argv.append(f"--gpus-per-task={o['gpus_per_task']}")
    if o["exclusive"]:
        argv.append("--exclusive")
    argv += _common(job)
    # the command starts with an absolute path, never '-': no '--' needed (or wanted:
    # flux submit keeps the rest of the line, a '--' included, as the command)
    return [*argv, *job.command]


def batch_argv(job: FluxJob) -> list[str]:
    """``flux batch`` of the same script, typed by hand."""
    o = batch_options(job)
    argv = [FLUX, "batch"]
    if o["nodes"]:
        argv.append(f"--nodes={o['nodes']}")
    argv.append(f"--nslots={o['nslots']}")
    argv.append(f"--cores-per-slot={o['cores_per_slot']}")
    if o["gpus_per_slot"]:
        argv.append(f"--gpus-per-slot={o['gpus_per_slot']}")
    if o["exclusive"]:
        argv.append("--exclusive")
    argv += _common(job)
    return [*argv, str(job.script_path)]


def by_hand(job: FluxJob) -> list[str]:
    return batch_argv(job) if job.kind == "batch" else submit_argv(job)


# ------------------------------------------------------------------ plumbing


def job_submit() -> list[str]:
    """Submit the jobspec JSON given on standard input; prints the job id (F58)."""
    return [FLUX, "job", "submit"]


def attach(job_id: str) -> list[str]:
    """Stream a job's output until it ends (works for any job, unlike ``flux job wait``)."""
    return [FLUX, "job", "attach", "--read-only", job_id]


def eventlog(job_id: str) -> list[str]:
    return [FLUX, "job", "eventlog", "--format=json", job_id]


def wait_event(
    job_id: str, event: str = "clean", timeout: float | None = None, output: tuple[str, ...] = ("--quiet",)
) -> list[str]:
    """Wait for ``event`` in the job's eventlog (at most ``timeout`` seconds)."""
    argv = [FLUX, "job", "wait-event", *output]
    if timeout is not None:
        argv.append(f"--timeout={fsd(max(timeout, 0.0))}")
    return [*argv, job_id, event]


def events_until(job_id: str, event: str = "clean", timeout: float | None = None) -> list[str]:
    """Wait for ``event``, printing every event of the eventlog up to it (JSON, one a line);
    on a timeout, the ones so far: the job's state and its wait in one process."""
    return wait_event(job_id, event, timeout, output=("--verbose", "--format=json"))


# the note of the cancel exception, through either client (status shows it as the reason)
CANCEL_MESSAGE = "cancelled with jobspec cancel"


def cancel(job_id: str) -> list[str]:
    return [FLUX, "cancel", f"--message={CANCEL_MESSAGE}", job_id]


def getattr_(name: str) -> list[str]:
    return [FLUX, "getattr", name]


def user_jobs() -> list[str]:
    """The ids (decimal) of all this user's jobs, in any state, newest first. All: ``flux
    jobs --count=N`` takes the first N in job-list's order, which puts pending jobs
    first, oldest first (a backlog would hide the newest), then sorts those."""
    return [FLUX, "jobs", "-a", "--no-header", "--count=0", "--sort=-t_submit", "--format={id.dec}"]


def ingest_stats() -> list[str]:
    """job-ingest's counters (JSON): its validator's backlog says what is still being checked."""
    return [FLUX, "module", "stats", "job-ingest"]


def job_submit_held() -> list[str]:
    """Submit the jobspec on standard input held (urgency 0: it never runs)."""
    return [FLUX, "job", "submit", "--urgency=0"]


def listed(job_id: str) -> list[str]:
    """Returns once job-list knows the job (it waits for one just submitted)."""
    return [FLUX, "job", "list-ids", job_id]


def job_info(job_id: str, key: str = "jobspec") -> list[str]:
    return [FLUX, "job", "info", job_id, key]


def archive_create(name: str, directory: str, paths: list[str]) -> list[str]:
    """Archive ``paths`` (relative to ``directory``): every one a file name, whatever it looks like."""
    return [FLUX, "archive", "create", f"--name={name}", f"--directory={directory}", "--", *paths]


def archive_extract_elsewhere(name: str, directory: str, marker: str, rank: int) -> list[str]:
    """On every other rank that does not already see ``directory``: extract the archive there."""
    extract = [FLUX, "archive", "extract", "--waitcreate", "--overwrite", f"--name={name}", f"--directory={directory}"]
    return [FLUX, "exec", "--rank=all", f"--exclude={rank}", "--noinput", *_stage_shell(directory, marker), *extract]


def archive_remove(name: str) -> list[str]:
    return [FLUX, "archive", "remove", f"--name={name}", "--force"]


def filemap_map(name: str, directory: str, paths: list[str]) -> list[str]:
    """`archive_create` under its older name (the same parser: `--` ends the options)."""
    return [FLUX, "filemap", "map", f"--tags={name}", f"--directory={directory}", "--", *paths]


def filemap_get_elsewhere(name: str, directory: str, marker: str, rank: int) -> list[str]:
    get = [FLUX, "filemap", "get", f"--tags={name}", f"--directory={directory}"]
    return [FLUX, "exec", "--rank=all", f"--exclude={rank}", "--noinput", *_stage_shell(directory, marker), *get]


def filemap_unmap(name: str) -> list[str]:
    return [FLUX, "filemap", "unmap", f"--tags={name}"]


def _stage_shell(directory: str, marker: str) -> list[str]:
    return ["/bin/sh", "-c", STAGE_SHELL, "jobspec-stage", directory, marker]
