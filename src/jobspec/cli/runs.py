"""What `jobspec run` says around the steps: the jobs an interrupted run leaves running,
and SIGTERM treated as Ctrl-C (a service manager's stop, a `kill`)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator, Mapping
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from jobspec.engine.result import RunResult


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt, as Ctrl-C does."""

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def report_interrupted(running: Mapping[str, str]) -> None:
    """Name the jobs that keep running and how to see or cancel them."""
    if not running:
        print("jobspec: interrupted; no job was left running", file=sys.stderr)
        return
    ids = " ".join(running)
    plural = "s keep" if len(running) != 1 else " keeps"
    print(
        f"jobspec: interrupted; {len(running)} job{plural} running: {ids}\n"
        f"  see them:    jobspec status {ids}\n"
        f"  follow:      jobspec wait {ids}\n"
        f"  cancel them: jobspec cancel {ids}",
        file=sys.stderr,
    )


def report_where(result: RunResult, say: Callable[[str], None]) -> None:
    """Where a run's files went: the staging directory and each job's output files."""
    from jobspec.engine.live import output_files_text

    if result.stage:
        say(f"jobspec: staging directory {result.stage}")
    for step in result.steps:
        files = output_files_text(step.details.get("stdout"), step.details.get("stderr"))
        if step.job_id and files:
            say(f"jobspec: job {step.job_id}: {files}")
