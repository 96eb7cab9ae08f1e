"""Execute a plan: steps in order, one line each, stop at the first failure."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from jobspec.engine.live import RunEvents, StatusLine
from jobspec.engine.result import RunResult, StepRecord
from jobspec.plugin.context import RunState, StepContext
from jobspec.plugin.errors import StepError
from jobspec.plugin.jobs import JOB_STEPS
from jobspec.plugin.paths import new_temp_stage
from jobspec.plugin.steps import StepBase, StepOutput

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.engine.journal import Journal
    from jobspec.engine.plan import Plan
    from jobspec.plugin.steps import PlannedStep
    from jobspec.plugin.transformer import Transformer


class Reporter:
    """Prints one line per step (``=> step submit ƒ2ab OK``); colour only on a terminal."""

    def __init__(
        self,
        stream: TextIO | None = None,
        output: TextIO | None = None,
        color: bool | None = None,
        artifacts: TextIO | None = None,
    ) -> None:
        self.stream = stream or sys.stdout
        self.output = output or sys.stdout  # where watched jobs' output goes
        self.artifacts = artifacts  # where a dry run's files, manifests and command lines go (None: nowhere)
        if color is None:
            color = self.stream.isatty() and "NO_COLOR" not in os.environ
        self.color = color
        self.line = StatusLine(self.stream)  # a waiting job's state (live on a terminal)
        self.events: RunEvents | None = None  # the last run's: which jobs it left running

    @property
    def running(self) -> dict[str, str]:
        """The jobs the run submitted and did not see end (job id -> transformer)."""
        return dict(self.events.running) if self.events is not None else {}

    def _paint(self, text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if self.color else text

    def note(self, text: str) -> None:
        self.line.clear()
        print(text, file=self.stream, flush=True)

    def step_ok(self, label: str, summary: str) -> None:
        self.line.clear()
        head = self._paint(f"=> step {label}", "36")
        middle = f" {summary}" if summary else ""
        print(f"{head}{middle} {self._paint('OK', '32')}", file=self.stream, flush=True)

    def step_failed(self, label: str, error: str) -> None:
        self.line.clear()
        head = self._paint(f"=> step {label}", "36")
        print(f"{head} {self._paint('FAILED', '31')}: {error}", file=self.stream, flush=True)

    def step_planned(self, label: str, text: str, artifact: str | None = None) -> None:
        """A dry run's step: what it would do in words, and what it would write or run as it
        is, on ``artifacts`` when the reporter has one (the command: stdout, words on stderr)."""
        head = self._paint(f"=> step {label}", "36")
        print(f"{head}: {text}", file=self.stream, flush=True)
        if artifact is not None and self.artifacts is not None:
            self.artifacts.write(artifact if artifact.endswith("\n") else artifact + "\n")
            self.artifacts.flush()


def execute(
    plan: Plan,
    reporter: Reporter | None = None,
    dry_run: bool = False,
    journal: Journal | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Run (or, with ``dry_run``, describe) each planned step in order.

    With a ``journal``, steps it records as done are not run again, and each step
    that completes is recorded; ``should_stop`` is asked before each step (a
    receiver shutting down lets the step under way finish, then stops).
    """
    return Execution(plan, reporter, dry_run, journal, should_stop).start().finish()


class Execution:
    """One run of a plan, in two halves: `start` runs the steps, `finish` waits for the
    scheduler's answer to a last job step that was left under way (a pipelined run:
    ``pipelined=True``, see `RunState.pipelined`) and gives the result. Between the two, the
    thread may start other runs; both halves run on the same thread."""

    def __init__(
        self,
        plan: Plan,
        reporter: Reporter | None = None,
        dry_run: bool = False,
        journal: Journal | None = None,
        should_stop: Callable[[], bool] | None = None,
        pipelined: bool = False,
    ) -> None:
        self.plan = plan
        self.reporter = reporter or Reporter()
        self.dry_run = dry_run
        self.journal = journal
        self.should_stop = should_stop
        self.state = RunState(
            dry_run=dry_run,
            key_prefix=journal.key_prefix if journal is not None else None,
            look_up_next_job=journal is not None and journal.resumed,
            pipelined=pipelined and not dry_run,
        )
        self.result = RunResult(plan.transformer.name, plan.jobspec.source, dry_run=dry_run)
        self._under_way: tuple[PlannedStep, StepRecord, StepOutput, float] | None = None
        self._settings: Mapping[str, Any] = {}

    def start(self) -> Execution:
        """Run the steps in order, up to the end or the first failure."""
        plan, reporter, journal, state, result = self.plan, self.reporter, self.journal, self.state, self.result
        if not self.dry_run:
            plan.transformer.ensure_ready()  # before anything is written
        if journal is not None and not self.dry_run:
            stage = journal.stage or journal.set_stage(str(new_temp_stage()))
            state.temp_stage = Path(stage)
        if plan.implicit:
            from jobspec.engine.plan import IMPLICIT_NOTE

            reporter.note(IMPLICIT_NOTE)
        ignored = plan.transformer.ignored(plan.jobspec)
        if ignored:
            reporter.note(f"jobspec: warning: {plan.transformer.name} ignores {', '.join(ignored)}")
        result.steps = [StepRecord(p.index, p.step.label, p.step.get("name")) for p in plan.steps]

        from jobspec.engine.index import JobIndex

        index = None if self.dry_run else JobIndex()
        self.events = RunEvents(reporter.note, reporter.line, index, plan.jobspec.source, self._current_stage)
        reporter.events = self.events
        if plan.jobspec.form == "nextgen":
            reporter.note(_nextgen_summary(plan))
        for planned, record in zip(plan.steps, result.steps, strict=True):
            if not self._settle():
                break
            if self.should_stop is not None and self.should_stop():
                result.interrupted = True
                break
            self._settings = planned.settings
            ctx = StepContext(
                plan.jobspec,
                plan.transformer,
                planned.settings,
                state,
                reporter.output,
                reporter.note,
                planned.index,
                events=self.events,
            )
            step = planned.step
            if self.dry_run:
                record.status = "planned"
                record.summary = step.describe(ctx)
                record.artifact = step.artifact(ctx)
                reporter.step_planned(step.label, record.summary, record.artifact)
                for line in step.notes(ctx):
                    reporter.note(f"     {line}")
                continue
            # Only job steps are taken from the journal: the others are cheap and idempotent
            # and are run again, so what they keep in memory (a token, an archive) is there.
            done = journal.completed.get(planned.index) if journal is not None and step.name in JOB_STEPS else None
            if done is not None:
                output = StepOutput(done.get("summary", ""), done.get("job_id"), done.get("details") or {})
                record.resumed = True
                self._close(planned, record, output, done=True)
                continue
            started = time.perf_counter()
            output = _run_step(step, ctx, record)
            if output.later is not None and record.error is None:
                self._under_way = (planned, record, output, started)
                continue
            if not self._close(planned, record, output):
                break
        return self

    def finish(self) -> RunResult:
        """The result, once the scheduler has answered a job step left under way."""
        self._settle()
        last_stage = self.state.temp_stage or (self.plan.steps[-1].settings.get("stage") if self.plan.steps else None)
        self.result.stage = str(last_stage) if last_stage is not None else None
        return self.result

    def _current_stage(self) -> str | None:
        where = self.state.temp_stage or self._settings.get("stage")
        return str(where) if where is not None else None

    def _settle(self) -> bool:
        """Take the answer of the step under way, if any; False when it failed."""
        if self._under_way is None:
            return True
        planned, record, output, started = self._under_way
        self._under_way = None
        assert output.later is not None
        output = _take(output.later, record, started, self.plan.transformer.name)
        return self._close(planned, record, output)

    def _close(self, planned: PlannedStep, record: StepRecord, output: StepOutput, done: bool = False) -> bool:
        """Record a step's outcome: in the result, the journal and the step line. False
        when it failed (the run stops there)."""
        step = planned.step
        record.summary = output.summary
        record.job_id = output.job_id
        record.details = output.details
        if record.error is not None:
            record.status = "failed"
            self.result.error = f"step {record.index + 1} ({step.label}) failed: {record.error}"
            self.reporter.step_failed(step.label, record.error)
            return False
        record.status = "ok"
        if step.get("name"):
            self.state.outputs[step.get("name")] = output
        if self.journal is not None and not done and step.name in JOB_STEPS:
            self.journal.record(
                planned.index,
                {"step": step.label, "summary": output.summary, "job_id": output.job_id, "details": output.details},
            )
        self.reporter.step_ok(step.label, output.summary + (" (done before)" if done else ""))
        return True


def _nextgen_summary(plan: Plan) -> str:
    """One line on what a next-generation document became: its jobs and groups."""
    from jobspec.plugin.arrays import array_indexes

    tasks = [p.step for p in plan.steps if p.step.name == "submit"]
    groups = [p.step for p in plan.steps if p.step.name == "batch"]
    jobs = sum(len(array_indexes(s.get("array"))) if s.get("array") else 1 for s in tasks)
    scripts = len(plan.jobspec.scripts)

    def many(n: int, word: str) -> str:
        return f"{n} {word}{'s' if n != 1 else ''}"

    return (
        f"jobspec: a next-generation jobspec: {many(jobs, 'job')} from {many(len(tasks), 'task')} and "
        f"{many(len(groups), 'group')} (batch jobs running {many(scripts, 'script')}), "
        f"in {many(len(plan.steps), 'step')}"
    )


def _run_step(step: StepBase, ctx: StepContext, record: StepRecord) -> StepOutput:
    """Run one step; a failure lands in ``record.error``. Returns what it produced."""
    # a job step looks up the job of a cut-short attempt itself
    return _take(lambda: step.run(ctx), record, time.perf_counter(), ctx.transformer.name)


def _take(
    produce: Callable[[], StepOutput | str | None], record: StepRecord, started: float, transformer: str
) -> StepOutput:
    """What ``produce`` gives (a step's run, or the answer to one left under way); a
    failure lands in ``record.error``, with the step's time."""
    output: StepOutput | str | None = None
    try:
        output = produce()
    except StepError as e:
        record.error = str(e)
        output = e.output
    except OSError as e:
        record.error = f"{e.strerror or e}{f': {e.filename}' if e.filename else ''}"
    except NotImplementedError as e:
        record.error = str(e) or f"step {record.step} is not implemented by {transformer}"
    record.seconds = round(time.perf_counter() - started, 6)
    if not isinstance(output, StepOutput):
        output = StepOutput(str(output) if output is not None else "")
    return output


def run(
    source: Jobspec | str | os.PathLike[str] | dict[str, Any],
    transformer: Transformer,
    *,
    dry_run: bool = False,
    reporter: Reporter | None = None,
) -> RunResult:
    """Load, validate, plan and run a jobspec with ``transformer``. Bad input raises
    `JobspecError`; a failing step is reported in the result (``result.ok`` is False)."""
    from jobspec.engine.plan import plan

    return execute(plan(source, transformer), reporter=reporter, dry_run=dry_run)
