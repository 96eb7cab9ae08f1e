"""What a running step sees (`StepContext`) and what the steps of one run share (`RunState`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

from jobspec.plugin.errors import StepError
from jobspec.plugin.paths import (
    claim_stage,
    new_temp_stage,
    outside_reason,
    real_stage,
    resolve_in_stage,
    stage_refusal,
)
from jobspec.plugin.progress import JobEvents

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.plugin.steps import StepOutput
    from jobspec.plugin.transformer import Transformer

NEW_STAGE = "<new temporary directory>"
T = TypeVar("T")


@dataclass
class RunState:
    """What the steps of one run share.

    A backend keeps its own per-run state as a typed object: ``ctx.state.of(SlurmRun)``
    makes one on first use and returns the same one to every later step of the run.
    """

    dry_run: bool = False
    temp_stage: Path | None = None
    outputs: dict[str, StepOutput] = field(default_factory=dict)  # of named steps, for after:
    # A resumable run's (the receiver's): job steps record "<key_prefix>.<index>" with their job
    key_prefix: str | None = None
    # True while the next job step might have been submitted by an attempt cut short
    look_up_next_job: bool = False
    # Job steps may send their job and return before the scheduler answers (StepOutput.later):
    # run_many and the receiver keep several jobspecs under way a thread, instead of one a thread
    pipelined: bool = False
    claimed_stages: set[Path] = field(default_factory=set)  # checked and marked as jobspec's this run
    real_stages: dict[Path, str] = field(default_factory=dict)  # stage -> its real path, found once a run
    _parts: dict[type, Any] = field(default_factory=dict, repr=False)

    def of(self, kind: type[T], make: Callable[[], T] | None = None) -> T:
        """This run's object of type ``kind``, made (by ``make``, else ``kind()``) on first use."""
        part = self._parts.get(kind)
        if part is None:
            part = self._parts[kind] = make() if make is not None else kind()
        return part


def _print_note(text: str) -> None:
    print(text, flush=True)


@dataclass
class StepContext:
    """What a running step sees: the jobspec, its transformer, the settings in force,
    where watched output goes and how to tell the user something along the way."""

    jobspec: Jobspec
    transformer: Transformer
    settings: Mapping[str, Any]
    state: RunState
    output: TextIO  # where a watched job's output goes
    note: Callable[[str], None] = _print_note  # one line for the user, between step lines
    index: int = 0  # the step's place in the transform list
    array_index: int | None = None  # the element of a job array this context submits
    events: JobEvents = field(default_factory=JobEvents)  # told of each job as it is submitted and waited on

    @property
    def dry_run(self) -> bool:
        return self.state.dry_run

    @property
    def submit_key(self) -> str | None:
        """A key unique to (run, step) for the transformer to record with the job it
        submits, so a resumed run finds the job instead of submitting it again.
        None outside resumable runs (the receiver's)."""
        prefix = self.state.key_prefix
        if prefix is None:
            return None
        return f"{prefix}.{self.index}" + (f"[{self.array_index}]" if self.array_index is not None else "")

    @property
    def stage(self) -> Path:
        """The staging directory, made on first use (the `stage` setting, or a new temp dir).
        A named one must be new, empty, or made by jobspec before (see `stage_refusal`)."""
        configured = self.settings.get("stage")
        if configured is not None:
            path = Path(configured).expanduser().absolute()
            if not self.dry_run and path not in self.state.claimed_stages:
                refusal = stage_refusal(path)
                if refusal:
                    raise StepError(refusal)
                claim_stage(path)
                self.state.claimed_stages.add(path)
            return path
        if self.state.temp_stage is None:
            if self.dry_run:
                return Path(NEW_STAGE)
            self.state.temp_stage = new_temp_stage()  # no marker: `is_temp_stage` knows it
        return self.state.temp_stage

    def stage_path(self, relative: str) -> Path:
        """``relative`` inside the staging directory; StepError if it would lead out."""
        stage = self.stage
        if self.dry_run and not stage.is_dir():  # nothing on disk to follow yet
            reason = outside_reason(relative)
            if reason:
                raise StepError(reason)
            return stage / relative
        root = self.state.real_stages.get(stage)
        if root is None:
            root = self.state.real_stages[stage] = real_stage(stage)
        try:
            return resolve_in_stage(stage, relative, root)
        except ValueError as e:
            raise StepError(str(e)) from None

    def describe_path(self, relative: str) -> str:
        return str(self.stage / relative) if relative != "." else str(self.stage)

    def job_id(self, step_name: str) -> str:
        """The job id an earlier named step produced (its first element's, for an array)."""
        return self.job_ids(step_name)[0]

    def job_ids(self, step_name: str) -> list[str]:
        """Every job id an earlier named step produced (for ``after:``): one, or an array's."""
        output = self.state.outputs.get(step_name)
        if output is None or output.job_id is None:
            raise StepError(f"step '{step_name}' produced no job id to wait for")
        array = output.details.get("array")
        return [str(job_id) for job_id in array.values()] if isinstance(array, dict) else [output.job_id]
