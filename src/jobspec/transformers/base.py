"""The transformer base class: a name, a description, its own step table, its settings,
and the job life cycle (status, wait, cancel) of the system it drives.

The seed's plugin API holds: ``MyTransformer.register_step(StepClass)`` and
``MyTransformer.register_step(EmptyStep, name="stage")``; each class has its own table.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from jobspec.engine.settings import CORE_SETTINGS, Setting

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.document.problems import Problem
    from jobspec.engine.plan import PlannedStep
    from jobspec.engine.result import RunResult
    from jobspec.engine.run import Reporter
    from jobspec.steps.base import StepBase

FINAL_STATES = ("completed", "failed", "cancelled")


@dataclass
class JobStatus:
    """A job's state as its system reports it."""

    job_id: str
    state: str  # pending, running, completed, failed, cancelled
    exit_code: int | None = None
    transformer: str = ""
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        return self.state in FINAL_STATES

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class JobLookupError(Exception):
    """No job with that id is known (exit code 2 on the command line)."""


class TransformerUnavailable(Exception):
    """The chosen system cannot be reached from here; nothing was started (exit code 1)."""


class Transformer:
    """Maps the steps of a jobspec onto one system. Subclass, name it, register steps."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    steps: ClassVar[dict[str, type[StepBase]]] = {}
    settings: ClassVar[Mapping[str, Setting]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Each class its own table (the seed shared one dict among all transformers);
        # a subclass starts from a copy of its parent's.
        cls.steps = dict(cls.steps)

    def __init__(self, **options: Any) -> None:
        self.options = options

    @classmethod
    def register_step(cls, step: type[StepBase], name: str | None = None) -> type[StepBase]:
        """Add ``step`` to this transformer's table, under ``name`` or the step's own name."""
        cls.steps[name or step.name] = step
        return step

    @classmethod
    def setting_table(cls) -> Mapping[str, Setting]:
        return {**CORE_SETTINGS, **cls.settings}

    @classmethod
    def available(cls) -> tuple[bool, str]:
        """Whether this transformer can run jobs here, and why (or why not). Cheap."""
        return True, "always"

    def ensure_ready(self) -> None:
        """Before a real run's first step: raise TransformerUnavailable, saying why and
        what to do, if this system cannot be used from here. Checked once per instance."""
        if getattr(self, "_ready", False):
            return
        ok, why = self.available()
        if not ok:
            raise TransformerUnavailable(f"transformer {self.name} cannot run here: {why}")
        self._ready = True

    @classmethod
    def owns_job_id(cls, job_id: str) -> bool:
        """Whether ``job_id`` looks like one of this system's job ids."""
        return False

    def check_plan(self, jobspec: Jobspec, steps: list[PlannedStep]) -> list[Problem]:
        """Transformer-wide plan-time rules (resource limits, say). Changes nothing."""
        return []

    def run(
        self,
        source: Jobspec | str | os.PathLike[str] | dict[str, Any],
        *,
        dry_run: bool = False,
        reporter: Reporter | None = None,
    ) -> RunResult:
        """Plan and run a jobspec with this transformer (the seed's ``run(filename)``)."""
        from jobspec.engine.run import run

        return run(source, self, dry_run=dry_run, reporter=reporter)

    def find_job(self, key: str) -> str | None:
        """The id of the job submitted with ``key`` (see StepContext.submit_key), if the
        system has it. Transformers that record keys with their jobs implement this."""
        return None

    def run_many(
        self,
        sources: Iterable[Jobspec | str | os.PathLike[str] | dict[str, Any]],
        *,
        workers: int = 8,
        reporter: Reporter | None = None,
    ) -> list[RunResult]:
        """Run many jobspecs from one process, ``workers`` at a time, and return their
        results in order. Schedulers that batch submissions (Flux) answer many requests
        in flight faster than one after another. Bad input gives a result whose error
        names the problems, instead of raising."""
        from concurrent.futures import ThreadPoolExecutor

        from jobspec.document.problems import JobspecError
        from jobspec.engine.result import RunResult
        from jobspec.engine.run import Reporter, run

        def one(source: Jobspec | str | os.PathLike[str] | dict[str, Any]) -> RunResult:
            quiet = reporter or Reporter(stream=_Discard(), output=_Discard(), color=False)
            try:
                return run(source, self, reporter=quiet)
            except JobspecError as e:
                return RunResult(self.name, str(source), error=str(e))

        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix=f"jobspec-{self.name}") as pool:
            return list(pool.map(one, sources))

    # The job life cycle, by job id, from any process.
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
