"""The step API: a step class has a ``name``, the ``fields`` it takes, optional
plan-time checks (`check`), a dry-run description (`describe`) and `run`.

Transformers register step classes by name; the same class may serve several
transformers, and a transformer skips a step by registering `EmptyStep` under
its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.document.problems import DocPath, Problem
    from jobspec.plugin.context import StepContext
    from jobspec.plugin.transformer import Transformer


@dataclass(frozen=True)
class Field:
    """One field a step takes."""

    kind: type | tuple[type, ...]
    required: bool = False
    help: str = ""
    script: bool = False  # the value names one of task.scripts
    in_stage: bool = False  # the value is a path inside the staging directory


@dataclass
class StepOutput:
    """What a step produced: a short summary for the step line, a job id, details.

    A job step of a pipelined run (see `RunState.pipelined`) may return before the
    scheduler has answered: ``later`` then gives the real output, waiting for the answer.
    The engine calls it before anything else of the run happens, on the same thread."""

    summary: str = ""
    job_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    later: Callable[[], StepOutput] | None = field(default=None, repr=False, compare=False)


# Fields every step may carry: its name (for `after:`) and the step kind itself.
COMMON_FIELDS: Mapping[str, Field] = {
    "step": Field(str, required=True),
    "name": Field(str, help="a name later steps can refer to with after:"),
}


class StepBase:
    """Base of every step. Subclasses set ``name`` and ``fields`` and implement `run`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    fields: ClassVar[Mapping[str, Field]] = {}
    # A step that takes fields no table can list (a plugin's auth, say) sets this.
    open_fields: ClassVar[bool] = False

    def __init__(self, jobspec: Jobspec, options: Mapping[str, Any], index: int = 0) -> None:
        self.jobspec = jobspec
        self.options = dict(options)
        self.index = index

    def __repr__(self) -> str:
        return f"<step {self.options.get('step', self.name)} #{self.index}>"

    @property
    def path(self) -> DocPath:
        """Where this step is in the document, for messages."""
        return (*self.jobspec.task_path, "transform", self.index)

    @property
    def label(self) -> str:
        """The step's kind as written (a registered alias keeps its own name)."""
        return str(self.options.get("step", self.name))

    @property
    def scripts(self) -> dict[str, dict[str, Any]]:
        return self.jobspec.scripts

    def get(self, key: str, default: Any = None) -> Any:
        return self.options.get(key, default)

    def check(self, settings: Mapping[str, Any], earlier: Sequence[StepBase] = ()) -> Iterator[Problem]:
        """Plan-time rules beyond the field table, given the settings in force and the
        steps before this one. Runs before anything runs."""
        return iter(())

    def describe(self, ctx: StepContext) -> str:
        """What `run` would do, for --dry-run. Must change nothing."""
        return f"would run step {self.label}"

    def artifact(self, ctx: StepContext) -> str | None:
        """What a dry run hands on, if anything: the file, manifest or command line the step
        would write or run, exactly (``describe`` says it in words). Printed on stdout, apart
        from the commentary, so ``jobspec run --dry-run F | kubectl apply -f -`` works."""
        return None

    def choose(self, transformer: Transformer, settings: Mapping[str, Any]) -> list[Problem]:
        """At plan time, with the transformer known: settle what depends on it (a job's
        resources among alternatives); the problems if it cannot be settled."""
        return []

    def notes(self, ctx: StepContext) -> list[str]:
        """Lines shown under the step's own (what a job asks for, say). Must change nothing."""
        return []

    def run(self, ctx: StepContext) -> StepOutput | str | None:
        raise NotImplementedError(f"step {self.label} has no run() for this transformer")


class EmptyStep(StepBase):
    """A step a transformer accepts and skips (register it under the name to skip)."""

    name = "empty"
    description = "accepted and skipped by this transformer"
    open_fields = True

    def describe(self, ctx: StepContext) -> str:
        return "nothing to do here (skipped by this transformer)"

    def run(self, ctx: StepContext) -> StepOutput:
        return StepOutput("skipped")


@dataclass
class PlannedStep:
    """A checked step, with the settings in force when it runs (what `check_plan` sees)."""

    index: int
    step: StepBase
    settings: Mapping[str, Any]
