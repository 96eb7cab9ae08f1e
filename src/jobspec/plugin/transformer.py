"""The transformer base class: a name, a description, its own step table, its settings,
its options, how well it fits this machine, and the job life cycle (status, wait,
cancel) of the system it drives.

The step table is the original plugin API: ``MyTransformer.register_step(StepClass)``
and ``MyTransformer.register_step(EmptyStep, name="stage")``; each class has its own.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from jobspec.plugin.errors import TransformerUnavailable
from jobspec.plugin.settings import CORE_SETTINGS, Setting

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.document.problems import Problem
    from jobspec.document.resources import ResourceCounts
    from jobspec.engine.result import RunResult
    from jobspec.engine.run import Reporter
    from jobspec.plugin.status import JobStatus
    from jobspec.plugin.steps import PlannedStep, StepBase


@dataclass(frozen=True)
class TransformerOptions:
    """A transformer's options, given when it is made (``SlurmTransformer(interface="rest")``).

    A transformer with options subclasses this with typed fields and names it in
    ``options_type``; an unknown option is a TypeError naming the known ones.
    """


class Transformer:
    """Maps the steps of a jobspec onto one system. Subclass, name it, register steps."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    steps: ClassVar[dict[str, type[StepBase]]] = {}
    settings: ClassVar[Mapping[str, Setting]] = {}
    options_type: ClassVar[type[TransformerOptions]] = TransformerOptions
    native_format: ClassVar[str | None] = None  # its own jobspec format, if it has one (see native_problems)
    # Jobspecs a run_many or receiver worker keeps under way at once: more than one where the
    # scheduler answers submissions in batches and its job steps send a job before the answer
    # (JobStep.start_submit), so that a worker sends the next job instead of waiting.
    in_flight: ClassVar[int] = 1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Each class its own table, starting from a copy of its parent's.
        cls.steps = dict(cls.steps)

    def __init__(self, **options: Any) -> None:
        known = getattr(self.options_type, "__dataclass_fields__", {})
        unknown = sorted(set(options) - set(known))
        if unknown:
            takes = ", ".join(sorted(known)) or "none"
            raise TypeError(f"transformer {self.name} takes no option {', '.join(unknown)} (it takes: {takes})")
        self.options = self.options_type(**options)
        self._ready = False

    @classmethod
    def register_step(cls, step: type[StepBase], name: str | None = None) -> type[StepBase]:
        """Add ``step`` to this transformer's table, under ``name`` or the step's own name."""
        cls.steps[name or step.name] = step
        return step

    @classmethod
    def setting_table(cls) -> Mapping[str, Setting]:
        return {**CORE_SETTINGS, **cls.settings}

    # ---------------------------------------------------------------- where it runs

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this transformer can run jobs here, and why (or why not). Cheap."""
        return True, "always"

    @classmethod
    def affinity(cls) -> int:
        """How strongly this transformer asks to be chosen when the user names none:
        the available transformer with the highest affinity above 0 is used. 0 (the
        default): only when named. Built in: flux 30 inside an instance, slurm 20 where
        a controller answers, local 1."""
        return 0

    def ensure_ready(self) -> None:
        """Before a real run's first step: raise TransformerUnavailable, saying why and
        what to do, if this system cannot be used from here. Checked once per instance."""
        if self._ready:
            return
        ok, why = self.available()
        if not ok:
            raise TransformerUnavailable(f"transformer {self.name} cannot run here: {why}")
        self._ready = True

    def cannot_give(self, counts: ResourceCounts) -> str | None:
        """Why this system cannot give one job ``counts`` (so that of alternatives a|b the
        first it can give is taken); None when it can, or cannot tell before submitting."""
        return None

    def requirements_note(self, requires: list[dict[str, Any]]) -> str:
        """What this system does with a job's ``requires`` entries (node features, labels):
        a transformer that maps them says how; by default they are not acted on."""
        return f"not acted on by {self.name} (it has no way to match them here)"

    def launcher(self) -> list[str] | None:
        """The command a batch script starts its tasks with, given to it as JOBSPEC_LAUNCH
        (srun on Slurm, flux run on Flux): it takes -n, -N, -c and --gpus-per-task, the
        options srun and flux run share. None where batch scripts have no launcher."""
        return None

    @classmethod
    def owns_job_id(cls, job_id: str) -> bool:
        """Whether ``job_id`` looks like one of this system's job ids (`jobspec status ID`
        asks every transformer)."""
        return False

    # ---------------------------------------------------------------- planning

    def ignored(self, jobspec: Jobspec) -> list[str]:
        """Fields of ``jobspec`` this transformer leaves unread (`jobspec.document.coverage.unread`):
        the run warns of them before its first step. What it cannot express at all is
        refused in `check_plan` instead."""
        return []

    def check_plan(self, jobspec: Jobspec, steps: list[PlannedStep]) -> list[Problem]:
        """Transformer-wide plan-time rules (resource limits, say). Changes nothing."""
        return []

    def native_problems(self, jobspec: Jobspec) -> list[Problem]:
        """A plain document checked by the rules of this system's own jobspec format
        (`jobspec validate --native`), for transformers that name a ``native_format``."""
        raise NotImplementedError(f"transformer {self.name} has no jobspec format of its own")

    # ---------------------------------------------------------------- running

    def run(
        self,
        source: Jobspec | str | os.PathLike[str] | dict[str, Any],
        *,
        dry_run: bool = False,
        reporter: Reporter | None = None,
        quiet: bool = False,
    ) -> RunResult:
        """Plan and run a jobspec with this transformer: the original Python use,
        ``get_transformer_registry().get_plugin("flux")().run("jobspec.yaml")``.
        ``quiet``: print nothing (without a ``reporter``); the result says it all.
        (It calls up into the engine, lazily: the one place the contract does.)"""
        from jobspec.engine.run import Reporter, run

        if quiet and reporter is None:
            reporter = Reporter(stream=_Discard(), output=_Discard(), color=False)
        return run(source, self, dry_run=dry_run, reporter=reporter)

    def run_many(
        self,
        sources: Iterable[Jobspec | str | os.PathLike[str] | dict[str, Any]],
        *,
        workers: int = 8,
        reporter: Reporter | None = None,
    ) -> list[RunResult]:
        """Run many jobspecs from one process, ``workers`` threads each keeping up to
        ``in_flight`` of them under way, and return their results in order. Bad input gives
        a result whose error names the problems, instead of raising."""
        from jobspec.engine.pipeline import run_many
        from jobspec.engine.run import Reporter

        def reporter_for() -> Reporter:
            return reporter or Reporter(stream=_Discard(), output=_Discard(), color=False)

        return run_many(self, sources, workers, reporter_for)

    # ---------------------------------------------------------------- the job life cycle, by id, from any process

    def find_job(self, key: str) -> str | None:
        """The id of the job submitted with ``key`` (see StepContext.submit_key), if the
        system has it. Transformers that record keys with their jobs implement this."""
        return None

    def settle_submissions(self) -> None:
        """Return once every job submitted before the call, by any process, can be found
        by `find_job` (or was refused). A receiver calls it before resuming the runs of one
        that died: a submission still on its way then must not be made a second time.
        Nothing to do (the default) where submitting is answered whole, job and id at once."""

    def status(self, job_id: str) -> JobStatus:
        raise NotImplementedError(f"{self.name} cannot look up jobs")

    def wait(self, job_id: str, timeout: float | None = None) -> JobStatus:
        raise NotImplementedError(f"{self.name} cannot wait for jobs")

    def cancel(self, job_id: str) -> JobStatus:
        raise NotImplementedError(f"{self.name} cannot cancel jobs")


class _Discard(io.StringIO):
    """A text sink that keeps nothing (run_many's default reporter)."""

    def write(self, text: str) -> int:
        return len(text)
