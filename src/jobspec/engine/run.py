"""Execute a plan: steps in order, one line each, stop at the first failure."""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from jobspec.engine.result import RunResult, StepRecord
from jobspec.steps.base import StepOutput
from jobspec.steps.errors import StepError
from jobspec.steps.paths import outside_reason, resolve_in_stage

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.engine.plan import Plan
    from jobspec.transformers.base import Transformer

NEW_STAGE = "<new temporary directory>"


class Reporter:
    """Prints the seed's step lines (``=> step submit ƒ2ab OK``); colour only on a terminal."""

    def __init__(self, stream: TextIO | None = None, output: TextIO | None = None, color: bool | None = None) -> None:
        self.stream = stream or sys.stdout
        self.output = output or sys.stdout  # where watched jobs' output goes
        if color is None:
            color = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.color = color

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def note(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def step_ok(self, label: str, summary: str) -> None:
        head = self._paint(f"=> step {label}", "36")
        middle = f" {summary}" if summary else ""
        print(f"{head}{middle} {self._paint('OK', '32')}", file=self.stream, flush=True)

    def step_failed(self, label: str, error: str) -> None:
        head = self._paint(f"=> step {label}", "36")
        print(f"{head} {self._paint('FAILED', '31')}: {error}", file=self.stream, flush=True)

    def step_planned(self, label: str, text: str) -> None:
        head = self._paint(f"=> step {label}", "36")
        print(f"{head}: {text}", file=self.stream, flush=True)


class QuietReporter(Reporter):
    def __init__(self) -> None:
        super().__init__(stream=open(os.devnull, "w"), output=sys.stdout, color=False)  # noqa: SIM115


@dataclass
class RunState:
    """What the steps of one run share: the temporary stage, outputs of named steps."""

    dry_run: bool = False
    temp_stage: Path | None = None
    outputs: dict[str, StepOutput] = field(default_factory=dict)
    secrets: dict[str, Any] = field(default_factory=dict)  # e.g. tokens from auth; never reported


@dataclass
class StepContext:
    """What a running step sees: the jobspec, its transformer, the settings in force."""

    jobspec: Jobspec
    transformer: Transformer
    settings: Mapping[str, Any]
    state: RunState
    reporter: Reporter

    @property
    def dry_run(self) -> bool:
        return self.state.dry_run

    @property
    def stage(self) -> Path:
        """The staging directory, made on first use (the `stage` setting, or a new temp dir)."""
        configured = self.settings.get("stage")
        if configured is not None:
            path = Path(configured).expanduser().absolute()
            if not self.dry_run:
                path.mkdir(parents=True, exist_ok=True)
            return path
        if self.state.temp_stage is None:
            if self.dry_run:
                return Path(NEW_STAGE)
            self.state.temp_stage = Path(tempfile.mkdtemp(prefix="jobspec-"))
        return self.state.temp_stage

    def stage_path(self, relative: str) -> Path:
        """``relative`` inside the staging directory; StepError if it would lead out."""
        stage = self.stage
        if self.dry_run and not stage.is_dir():  # nothing on disk to follow yet
            reason = outside_reason(relative)
            if reason:
                raise StepError(reason)
            return stage / relative
        try:
            return resolve_in_stage(stage, relative)
        except ValueError as e:
            raise StepError(str(e)) from None

    def describe_path(self, relative: str) -> str:
        return str(self.stage / relative) if relative != "." else str(self.stage)

    def job_id(self, step_name: str) -> str:
        """The job id an earlier named step produced (for ``after:``)."""
        output = self.state.outputs.get(step_name)
        if output is None or output.job_id is None:
            raise StepError(f"step '{step_name}' produced no job id to wait for")
        return output.job_id

    @property
    def output(self) -> TextIO:
        return self.reporter.output


def execute(plan: Plan, reporter: Reporter | None = None, dry_run: bool = False) -> RunResult:
    """Run (or, with ``dry_run``, describe) each planned step in order."""
    reporter = reporter or Reporter()
    state = RunState(dry_run=dry_run)
    result = RunResult(plan.transformer.name, plan.jobspec.source, dry_run=dry_run)
    result.steps = [StepRecord(p.index, p.step.label, p.step.get("name")) for p in plan.steps]
    for planned, record in zip(plan.steps, result.steps, strict=True):
        ctx = StepContext(plan.jobspec, plan.transformer, planned.settings, state, reporter)
        step = planned.step
        if dry_run:
            record.status = "planned"
            record.summary = step.describe(ctx)
            reporter.step_planned(step.label, record.summary)
            continue
        started = time.perf_counter()
        output: StepOutput | str | None = None
        try:
            output = step.run(ctx)
        except StepError as e:
            record.error = str(e)
            output = e.output
        except OSError as e:
            record.error = f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}"
        except NotImplementedError as e:
            record.error = str(e) or f"step {step.label} is not implemented by {plan.transformer.name}"
        record.seconds = round(time.perf_counter() - started, 6)
        if not isinstance(output, StepOutput):
            output = StepOutput(str(output) if output is not None else "")
        record.summary = output.summary
        record.job_id = output.job_id
        record.details = output.details
        if record.error is not None:
            record.status = "failed"
            result.error = f"step {record.index + 1} ({step.label}) failed: {record.error}"
            reporter.step_failed(step.label, record.error)
            break
        record.status = "ok"
        if step.get("name"):
            state.outputs[step.get("name")] = output
        reporter.step_ok(step.label, output.summary)
    stage = state.temp_stage or (plan.steps[-1].settings.get("stage") if plan.steps else None)
    result.stage = str(stage) if stage is not None else None
    return result


def run(
    source: Jobspec | str | os.PathLike[str] | dict[str, Any],
    transformer: Transformer | str | None = None,
    *,
    dry_run: bool = False,
    reporter: Reporter | None = None,
) -> RunResult:
    """Load, validate, plan and run a jobspec. Bad input raises `JobspecError`;
    a failing step is reported in the result (``result.ok`` is False)."""
    from jobspec.engine.plan import plan as make_plan

    return execute(make_plan(source, transformer), reporter=reporter, dry_run=dry_run)
