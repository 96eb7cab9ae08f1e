"""The Slurm transformer: its step table, settings and options, where it runs, the plan's
Slurm rules, and the job life cycle by id (status, wait, cancel, a resumed run's job).

Status, wait and cancel use ``scontrol`` and ``scancel`` whichever interface
submitted the job: job ids are the same, ``jobspec status ID`` knows no jobspec
(so no interface), and the REST answers need translating (a raw wait status as
the exit code, unexpanded output names). The REST interface therefore still
needs Slurm's client commands here; it changes how jobs are submitted.

Nothing here runs at import, and what only staging, watching or the REST API
needs is imported when they run: `jobspec run` starts fast.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from jobspec.plugin import (
    CopyStep,
    JobStatus,
    Problem,
    SetStep,
    StepError,
    Transformer,
    UnsetStep,
    WriterStep,
)
from jobspec.transformers.slurm import client
from jobspec.transformers.slurm.options import (
    INTERFACES,
    SETTINGS,
    SlurmOptions,
    resolve_interface,
    resolve_rest_url,
    rest_url_problem,
    url_problem,
)
from jobspec.transformers.slurm.placement import placement
from jobspec.transformers.slurm.request import (
    duration_problem,
    options_problem,
    output_problem,
    resource_problems,
)
from jobspec.transformers.slurm.rest_mapping import rest_pairs_problem
from jobspec.transformers.slurm.state import Token
from jobspec.transformers.slurm.steps import SlurmAuth, SlurmBatch, SlurmStage, SlurmSubmit

if TYPE_CHECKING:
    from jobspec.document.resources import ResourceCounts
    from jobspec.plugin import Jobspec, PlannedStep

AFFINITY = 20  # chosen after Flux (30), before local (1), where a Slurm controller answers


def shortfall(counts: ResourceCounts, shapes: list[tuple[int, int]]) -> str | None:
    """Why nodes of these (cpus, gpus) shapes cannot hold a job of ``counts``, or None."""
    if not shapes:
        return "the cluster lists no nodes"
    if counts.nodes:
        per_node = -(-counts.slots // counts.nodes)
        cores, gpus = counts.cores_per_slot * per_node, counts.gpus_per_slot * per_node
        fit = sum(1 for c, g in shapes if c >= cores and g >= gpus)
        if fit < counts.nodes:
            return f"{counts.nodes} node(s) of {cores} cores and {gpus} GPUs each, and {fit} node(s) here have that"
        return None
    if not any(c >= counts.cores_per_slot and g >= counts.gpus_per_slot for c, g in shapes):
        return f"a slot of {counts.cores_per_slot} cores and {counts.gpus_per_slot} GPUs, larger than any node here"
    if counts.gpus > sum(g for _, g in shapes) or counts.cores > sum(c for c, _ in shapes):
        return f"{counts.cores} cores and {counts.gpus} GPUs in all, more than the cluster has"
    return None


class SlurmTransformer(Transformer):
    name = "slurm"
    description = "submits to a Slurm cluster with sbatch (the task started by srun); jobs outlive the command"
    settings = SETTINGS
    options_type = SlurmOptions
    options: SlurmOptions

    def __init__(self, **options: Any) -> None:
        """``options``: ``interface`` and ``rest_url`` (see `SlurmOptions` and the settings of the same names)."""
        super().__init__(**options)
        self.tokens: dict[int, Token] = {}  # REST API tokens by lifespan (see steps.token_for); never shown

    # ---------------------------------------------------------------- where it runs

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """sbatch on the PATH, a configuration, and a controller that answers ``scontrol ping``."""
        return client.ping()

    @classmethod
    def affinity(cls) -> int:
        """20 where Slurm looks installed and configured (sbatch on the PATH, a slurm.conf).

        Only the cheap checks: the registry asks `available` (which pings the
        controller, up to 2 s) of the candidates in order of affinity, so the ping
        is paid only when no transformer with a higher affinity is available.
        """
        if client.find_program("sbatch") is None or client.config_problem() is not None:
            return 0
        return AFFINITY

    def launcher(self) -> list[str]:
        """Inside a batch job's allocation, srun starts its tasks."""
        return ["srun"]

    @classmethod
    def owns_job_id(cls, job_id: str) -> bool:
        return bool(client.JOB_ID.fullmatch(job_id))

    def cannot_give(self, counts: ResourceCounts) -> str | None:
        """Whether the cluster's nodes (sinfo) can hold the job at all; None if it cannot tell."""
        shapes = self._node_shapes
        return None if shapes is None else shortfall(counts, shapes)

    @functools.cached_property
    def _node_shapes(self) -> list[tuple[int, int]] | None:
        """The nodes' (cpus, gpus), asked of sinfo once: a plan weighs every alternative of
        every job against them. None where sinfo does not answer."""
        try:
            return list(client.node_shapes().values())
        except client.SlurmError:
            return None

    # ---------------------------------------------------------------- planning

    def ignored(self, jobspec: Jobspec) -> list[str]:
        from jobspec.document.coverage import READ_SYSTEM_KEYS, unread

        return unread(jobspec, system_keys={*READ_SYSTEM_KEYS, "queue", "bank"}, vertex_fields=("id",))

    def check_plan(self, jobspec: Jobspec, steps: list[PlannedStep]) -> list[Problem]:
        problems = []
        why = duration_problem(jobspec.duration)
        if why:
            problems.append(Problem(why, path=("attributes", "system", "duration")))
        for name, value in jobspec.environment.items():
            if not name or "=" in name or "\0" in name or "\0" in value:
                problems.append(
                    Problem(
                        f"environment variable {name!r} cannot be passed to a job (a name needs no '=', no NUL)",
                        path=("attributes", "system", "environment", name),
                    )
                )
        if any(planned.step.name in ("submit", "batch") for planned in steps):
            problems += resource_problems(jobspec.counts, jobspec.resources)
            problems += placement(jobspec.system.get("constraints"), jobspec.counts)[1]
        seen: set[str] = set()
        for planned in steps:
            kind = planned.step.name
            if kind not in ("submit", "batch", "auth"):
                continue
            settings = planned.settings
            way = resolve_interface(settings, self.options)
            found: list[str | None] = []
            if way not in INTERFACES:
                found.append(f"slurm.interface is {way!r}: it takes {' or '.join(INTERFACES)}")
            if kind != "auth":
                stage = settings.get("stage")
                if stage is not None:
                    found.append(output_problem(str(stage)))
                options = settings.get("slurm.options") or ()
                found.append(options_problem(options))
                if way == "rest" and found[-1] is None:
                    found.append(url_problem(resolve_rest_url(settings, self.options)))
                    if found[-1] is None:  # the token goes only where the user's configuration says
                        found.append(rest_url_problem(settings, self.options))
                    script = planned.step.scripts.get(planned.step.get("filename")) if kind == "batch" else None
                    found.append(rest_pairs_problem(options, str((script or {}).get("content", ""))))
            for message in found:
                if message and message not in seen:
                    seen.add(message)
                    problems.append(Problem(message, path=planned.step.path))
        return problems

    # ---------------------------------------------------------------- the job life cycle

    def find_job(self, key: str) -> str | None:
        """The job a resumable run submitted with ``key`` (kept in the job's comment), if Slurm still has it."""
        try:  # the engine asks this while running a step: failures are the step's
            return client.find_by_key(key)
        except client.SlurmError as e:
            raise StepError(str(e)) from None

    def status(self, job_id: str) -> JobStatus:
        return client.job_status(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        return client.wait_for(job_id, timeout)

    def cancel(self, job_id: str) -> JobStatus:
        return client.cancel(job_id)


for _step in (WriterStep, CopyStep, SetStep, UnsetStep, SlurmSubmit, SlurmBatch, SlurmStage, SlurmAuth):
    SlurmTransformer.register_step(_step)
