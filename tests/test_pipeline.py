"""Pipelined runs (run_many, the receiver): a worker sends the next jobspec's job before the
scheduler has answered the last one, and every answer still lands on its own jobspec."""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Callable
from pathlib import Path

from support import HELLO, make_jobspec

from jobspec.engine.journal import Journal
from jobspec.engine.plan import plan
from jobspec.engine.run import Execution, Reporter
from jobspec.plugin import StepContext, StepError, StepOutput, SubmitStep, Transformer, WriterStep
from test_run import quiet

SUBMIT = HELLO.replace("    wait: true\n", "")  # a job step that does not wait: it may be left under way
assert SUBMIT != HELLO


class Scheduler:
    """Answers submissions later, as Flux's job-ingest does; refuses a job whose script says so."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.unanswered = 0
        self.most_unanswered = 0
        self.sent: list[str] = []

    def send(self, script: str) -> Callable[[], str]:
        with self.lock:
            self.unanswered += 1
            self.most_unanswered = max(self.most_unanswered, self.unanswered)
            job_id = f"batch-{next(self.ids)}"
            self.sent.append(job_id)

        def answer() -> str:
            with self.lock:
                self.unanswered -= 1
            if "refuse me" in script:
                raise StepError(f"the scheduler refused {job_id}")
            return job_id

        return answer


class BatchingSubmit(SubmitStep):
    def _script(self, ctx: StepContext) -> str:
        return str(self.scripts[self.options["filename"]]["content"])

    def submit(self, ctx: StepContext) -> StepOutput:
        job_id = self.start_submit(ctx)().job_id  # type: ignore[misc]
        return StepOutput(str(job_id), job_id=job_id)

    def start_submit(self, ctx: StepContext) -> Callable[[], StepOutput]:
        answer = BatchingTransformer.scheduler.send(self._script(ctx))

        def output() -> StepOutput:
            job_id = answer()
            return StepOutput(job_id, job_id=job_id)

        return output


class BatchingTransformer(Transformer):
    name = "batching"
    in_flight = 4
    scheduler = Scheduler()


BatchingTransformer.register_step(WriterStep)
BatchingTransformer.register_step(BatchingSubmit)


def test_run_many_keeps_several_jobspecs_under_way_a_worker(tmp_path: Path) -> None:
    BatchingTransformer.scheduler = scheduler = Scheduler()
    good = make_jobspec(tmp_path, SUBMIT, "good.yaml")
    refused = make_jobspec(tmp_path, SUBMIT.replace("echo", "echo refuse me;"), "refused.yaml")
    sources = [good] * 9 + [refused] + [good] * 10
    results = BatchingTransformer().run_many(sources, workers=2)
    assert 1 < scheduler.most_unanswered <= 2 * BatchingTransformer.in_flight
    assert [r.ok for r in results] == [True] * 9 + [False] + [True] * 10
    assert "step 2 (submit) failed: the scheduler refused" in (results[9].error or "")
    assert results[9].steps[1].status == "failed"
    ids = [r.job_ids[0] for r in results if r.ok]
    assert len(set(ids)) == 19 and set(ids) < set(scheduler.sent)  # each its own answer


def test_a_plain_run_waits_for_each_answer(tmp_path: Path) -> None:
    BatchingTransformer.scheduler = scheduler = Scheduler()
    result = Execution(plan(make_jobspec(tmp_path, SUBMIT), BatchingTransformer()), quiet()).start().finish()
    assert result.ok and scheduler.most_unanswered == 1 and result.job_ids == ["batch-1"]


def test_a_later_step_sees_the_answer_and_the_journal_records_it(tmp_path: Path) -> None:
    """Two submits: the engine takes the first one's answer before the second step runs
    (it may name it in after:), and journals each job as its answer comes."""
    BatchingTransformer.scheduler = scheduler = Scheduler()
    text = SUBMIT.replace(
        "  - step: submit\n    filename: job.sh\n",
        "  - step: submit\n    filename: job.sh\n    name: first\n  - step: submit\n    filename: job.sh\n",
    )
    assert text != SUBMIT
    journal = Journal(tmp_path / "j.jsonl", "run-1")
    lines = io.StringIO()
    out = Reporter(stream=lines, output=io.StringIO(), color=False)
    the_plan = plan(make_jobspec(tmp_path, text), BatchingTransformer())
    execution = Execution(the_plan, out, journal=journal, pipelined=True)
    execution.start()
    assert scheduler.unanswered == 1  # the last job step is left under way ...
    assert sorted(journal.completed) == [1]  # ... the first was answered and journaled
    result = execution.finish()
    assert result.ok and result.job_ids == ["batch-1", "batch-2"] and sorted(journal.completed) == [1, 2]
    assert lines.getvalue().count("=> step submit batch-") == 2
