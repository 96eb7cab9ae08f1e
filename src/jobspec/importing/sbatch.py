"""sbatch's options (``#SBATCH`` lines and the command line) into a `Request`.

The table is sbatch's own (src/common/slurm_opt.c: every option sbatch takes, with
whether it takes a value and its short letter), plus a few older names scripts still use.
What has a portable meaning is mapped; anything else sbatch understands is kept, as
written, for Slurm only (``slurm.options``), so the imported job on Slurm is the same job.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from jobspec.importing.lines import Word
from jobspec.importing.options import Found, Spec, read, table
from jobspec.importing.request import DROPPED, KEPT, MAPPED, WARNING, Memory, Request, memory_mib
from jobspec.importing.times import SLURM_FORMS, slurm_seconds

SPECS = table(
    """
    account:r:A acctg-freq:r array:r:a batch:r bbf:r begin:r:b bb:r chdir:r:D cluster-constraint:r
    clusters:r:M cluster:r comment:r constraint:r:C container:r container-id:r contiguous:n core-spec:r:S
    cores-per-socket:r cpu-freq:r cpus-per-gpu:r cpus-per-task:r:c deadline:r delay-boot:r dependency:r:d
    distribution:r:m error:r:e exclude:r:x exclusive:o export:r export-file:r extra:r extra-node-info:r:B
    get-user-env:o gid:r gpu-bind:r tres-bind:r gpu-freq:r gpus:r:G gpus-per-node:r gpus-per-socket:r
    gpus-per-task:r tres-per-task:r gres:r gres-flags:r help:n:h hint:r hold:n:H ignore-pbs:n input:r:i
    job-name:r:J kill-on-invalid-dep:r licenses:r:L mail-type:r mail-user:r mcs-label:r mem:r mem-bind:r
    mem-per-cpu:r mem-per-gpu:r mincpus:r network:r nice:o no-kill:o:k no-requeue:n nodefile:r:F
    nodelist:r:w nodes:r:N ntasks:r:n ntasks-per-core:r ntasks-per-node:r ntasks-per-socket:r
    ntasks-per-gpu:r open-mode:r output:r:o overcommit:n:O oversubscribe:n:s parsable:n partition:r:p
    prefer:r priority:r profile:r propagate:o qos:r:q quiet:n:Q reboot:n requeue:o reservation:r
    resv-ports:o signal:r sockets-per-node:r spread-job:n switches:r tasks-per-node:r test-only:n
    thread-spec:r threads-per-core:r time:r:t time-min:r tmp:r uid:r use-min-nodes:n usage:n verbose:n:v
    version:n:V wait:n:W wait-all-nodes:r wckey:r wrap:r
    workdir:r share:n checkpoint:r checkpoint-dir:r jobid:r mem_bind:r
    """
)
OLD_NAMES = {"workdir": "chdir", "share": "oversubscribe", "tasks-per-node": "ntasks-per-node", "mem_bind": "mem-bind"}
ABOUT_SBATCH = {
    "parsable",
    "wait",
    "test-only",
    "help",
    "usage",
    "version",
    "verbose",
    "quiet",
    "ignore-pbs",
    "batch",
}
REMOVED = {"checkpoint", "checkpoint-dir", "jobid"}  # gone from sbatch (checkpoint in 20.11)

Apply = Callable[[Request, Found, str], None]


def positive(req: Request, found: Found, value: str) -> int:
    if not re.fullmatch(r"\d+", value) or int(value) < 1:
        raise req.error(f"{found.written} takes a whole number of at least 1, not {value!r}", found.word)
    return int(value)


def _nodes(req: Request, found: Found, value: str) -> None:
    match = re.fullmatch(r"(\d+)(?:-(\d*))?", value)
    if not match or int(match.group(1)) < 1:
        raise req.error(f"{found.written} takes a number of nodes (2), not {value!r}", found.word)
    low, high = int(match.group(1)), match.group(2)
    if high and int(high) != low:
        raise req.error(
            f"a node count range ({value}) has no portable meaning: write one count, such as {found.written}={low}",
            found.word,
        )
    req.set("nodes", low, found.word)
    req.note(MAPPED, _shown(found), f"{low} node{'s' if low != 1 else ''}", found.word)


def _int_field(field: str, label: str) -> Apply:
    def apply(req: Request, found: Found, value: str) -> None:
        req.set(field, positive(req, found, value), found.word)
        req.note(MAPPED, _shown(found), label, found.word)

    return apply


def _gpu_count(req: Request, found: Found, value: str) -> int:
    match = re.fullmatch(r"(?:([\w.-]+):)?(\d+)", value)
    if not match:
        raise req.error(
            f"{found.written} takes a GPU count, optionally with a type (2, or a100:2), not {value!r}", found.word
        )
    if match.group(1):
        req.note(
            DROPPED,
            _shown(found),
            f"the GPU type {match.group(1)!r} has no portable meaning (the count is kept)",
            found.word,
        )
    return int(match.group(2))


def _gpus(field: str) -> Apply:
    def apply(req: Request, found: Found, value: str) -> None:
        req.set(field, _gpu_count(req, found, value), found.word)
        req.gpu_spelling.append(_kept(found))
        req.note(MAPPED, _shown(found), field.replace("_", " "), found.word)

    return apply


def _gres(req: Request, found: Found, value: str) -> None:
    others = []
    for item in value.split(","):
        parts = item.split(":")
        if parts[0] != "gpu":
            others.append(item)
            continue
        count = parts[-1] if len(parts) > 1 and re.fullmatch(r"\d+", parts[-1]) else None
        if len(parts) > 2 or (len(parts) == 2 and count is None):
            kind = parts[1]
            req.note(
                DROPPED, _shown(found), f"the GPU type {kind!r} has no portable meaning (the count is kept)", found.word
            )
        if count is None and len(parts) > 2:
            raise req.error(f"--gres takes gpu[:type][:count], not {item!r}", found.word)
        req.set("gpus_per_node", int(count) if count else 1, found.word)
        req.gpu_spelling.append(f"--gres={item}")
        req.note(MAPPED, _shown(found), "GPUs per node", found.word)
    if others:
        req.slurm_options.append(f"--gres={','.join(others)}")
        req.note(KEPT, _shown(found), f"--gres={','.join(others)}", found.word)


def _time(req: Request, found: Found, value: str) -> None:
    try:
        seconds = slurm_seconds(value)
    except ValueError:
        raise req.error(f"{found.written} takes a time limit: {SLURM_FORMS}; not {value!r}", found.word) from None
    req.set("duration", seconds, found.word)
    req.note(MAPPED, _shown(found), f"duration {seconds} s" if seconds else "no time limit", found.word)


def _exclusive(req: Request, found: Found, value: str) -> None:
    if value in ("", "exclusive", "allocation"):
        req.set("exclusive", True, found.word)
        req.note(MAPPED, _shown(found), "exclusive nodes", found.word)
    elif value in ("user", "mcs", "topo", "oversubscribe"):
        _keep(req, found, value)
    else:
        raise req.error(f"--exclusive takes user, mcs, topo or no value, not {value!r}", found.word)


def _text(field: str, label: str) -> Apply:
    def apply(req: Request, found: Found, value: str) -> None:
        req.set(field, value, found.word)
        req.note(MAPPED, _shown(found), label, found.word)

    return apply


def _setting(field: str) -> Apply:
    def apply(req: Request, found: Found, value: str) -> None:
        req.set(field, value, found.word)
        req.note(KEPT, _shown(found), f"setting slurm.{field}", found.word)

    return apply


def _export(req: Request, found: Found, value: str) -> None:
    for item in value.split(","):
        name, eq, val = item.partition("=")
        if eq:
            req.environment[name] = val
            req.note(MAPPED, f"--export {item}", "environment", found.word)
        elif name.upper() == "ALL":
            req.note(
                MAPPED, f"--export {name}", "the job gets the submitting environment (jobspec's default)", found.word
            )
        elif name.upper() == "NIL" or name.upper() == "NONE":
            req.note(DROPPED, f"--export {name}", "jobspec passes the submitting environment to the job", found.word)
        elif name:
            req.note(MAPPED, f"--export {name}", "from the submitting environment, passed whole", found.word)


def _memory(req: Request, found: Found, value: str) -> None:
    """--mem (a node's), --mem-per-cpu into the graph; --mem-per-gpu and --mem=0 (all of a
    node's memory) stay sbatch options. The last one given wins, as in sbatch."""
    match = re.fullmatch(r"(\d+)([KkMmGgTt])?[Bb]?", value)
    if not match:
        raise req.error(
            f"{found.written} takes a size in megabytes, or with K, M, G or T (4G), not {value!r}", found.word
        )
    assert found.spec is not None
    per = {"mem": "node", "mem-per-cpu": "cpu"}.get(found.spec.name)
    if per is None or int(match.group(1)) == 0:
        req.memory = None
        _keep(req, found, value)
        return
    req.memory = Memory(
        per, memory_mib(int(match.group(1)), match.group(2) or "M"), _kept(found, value), _shown(found), found.word
    )


def _constraint(req: Request, found: Found, value: str) -> None:
    """--constraint with features joined by & and |, read left to right as Slurm reads them,
    into the graph's constraints (RFC 31); other forms ([..], *N, !) stay sbatch options."""
    constraints = slurm_constraint(value)
    if constraints is None:
        _keep(req, found, value)
        return
    req.constraints = constraints
    req.note(MAPPED, _shown(found), "attributes.system.constraints (node features)", found.word)


def _hosts(req: Request, found: Found, value: str) -> None:
    """--nodelist (hosts the job must have) and --exclude (hosts it must not): the graph's
    constraints, where `document` finds the host list names exactly the job's nodes."""
    from jobspec.document.constraints import expand_hostlist

    assert found.spec is not None
    if "/" in value or not value:  # a file of host names: sbatch reads it, we cannot
        _keep(req, found, value)
        return
    try:
        hosts = expand_hostlist(value)
    except ValueError as e:
        raise req.error(f"{found.written} takes a host list such as n[1-4],login1: {e}", found.word) from None
    if found.spec.name == "exclude":
        req.excluded = hosts
        req.note(MAPPED, _shown(found), "attributes.system.constraints (not these hosts)", found.word)
    else:
        req.hosts = (hosts, _kept(found, value), _shown(found), found.word)


def slurm_constraint(text: str) -> dict[str, Any] | None:
    """``a&b|c`` as RFC 31 (``((a and b) or c)``: Slurm has no precedence), or None."""
    parts = re.split(r"([&|])", text)
    names, operators = parts[::2], parts[1::2]
    if not all(re.fullmatch(r"[A-Za-z0-9_.:-]+", name) for name in names):
        return None
    expression: dict[str, Any] = {"properties": [names[0]]}
    for operator, name in zip(operators, names[1:], strict=True):
        if operator == "&" and list(expression) == ["properties"]:
            expression = {"properties": [*expression["properties"], name]}
        else:
            expression = {"and" if operator == "&" else "or": [expression, {"properties": [name]}]}
    return expression


def _time_min(req: Request, found: Found, value: str) -> None:
    try:
        slurm_seconds(value)
    except ValueError:
        raise req.error(f"{found.written} takes a time: {SLURM_FORMS}; not {value!r}", found.word) from None
    _keep(req, found, value)


def _keep(req: Request, found: Found, value: str | None) -> None:
    option = _kept(found, value)
    req.slurm_options.append(option)
    req.note(KEPT, _shown(found), option, found.word)


def _kept(found: Found, value: str | None = None) -> str:
    assert found.spec is not None
    value = found.value if value is None else value
    return f"--{found.spec.name}" + (f"={value}" if value is not None else "")


def _shown(found: Found) -> str:
    if found.value is None:
        return found.written
    return f"{found.written}{'=' if found.written.startswith('--') else ' '}{found.value}"


APPLY: dict[str, Apply] = {
    "nodes": _nodes,
    "ntasks": _int_field("ntasks", "tasks"),
    "ntasks-per-node": _int_field("per_node", "tasks per node"),
    "cpus-per-task": _int_field("cpus_per_task", "cores per task"),
    "gpus": _gpus("gpus"),
    "gpus-per-node": _gpus("gpus_per_node"),
    "gpus-per-task": _gpus("gpus_per_task"),
    "gres": _gres,
    "time": _time,
    "exclusive": _exclusive,
    "job-name": _text("name", "attributes.system.job.name"),
    "chdir": _text("cwd", "attributes.system.cwd"),
    "export": _export,
    "partition": _setting("partition"),
    "account": _setting("account"),
    "qos": _setting("qos"),
    "mem": _memory,
    "mem-per-cpu": _memory,
    "mem-per-gpu": _memory,
    "constraint": _constraint,
    "nodelist": _hosts,
    "exclude": _hosts,
    "time-min": _time_min,
}


def apply_sbatch(req: Request, words: list[Word]) -> None:
    """Every option among ``words`` into ``req``, in order (later ones override)."""
    for found in read(words, SPECS, "sbatch"):
        if found.spec is None:
            req.note(WARNING, _shown(found), "not an sbatch option: ignored", found.word)
            continue
        name = OLD_NAMES.get(found.spec.name, found.spec.name)
        if name != found.spec.name:
            found = Found(SPECS[name], found.written, found.value, found.word)
        value = found.value
        if name in APPLY:
            APPLY[name](req, found, value or "")
        elif name in ABOUT_SBATCH:
            req.note(DROPPED, _shown(found), "an option of the sbatch command, not of the job", found.word)
        elif name in REMOVED:
            req.note(DROPPED, _shown(found), "no longer an sbatch option (Slurm removed it)", found.word)
        elif name in ("export-file", "uid", "gid", "get-user-env"):
            req.note(DROPPED, _shown(found), "the job's environment and user are jobspec's to set", found.word)
        elif name == "array":
            req.set_array(_shown(found), value or "", found.word)
        elif name == "wrap":
            raise req.error("--wrap replaces the batch script: import the script instead", found.word)
        else:
            _keep(req, found, value)


def spec(name: str) -> Spec:
    return SPECS[name]
