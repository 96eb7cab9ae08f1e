"""What the user sees of jobs while a run goes on, and what the index of jobs keeps.

`StatusLine`: on a terminal, one line (state, elapsed time, the scheduler's reason)
rewritten in place while a step waits; elsewhere (a pipe, a log file), one line per
change of state, so logs stay readable. `RunEvents` is the engine's listener to the
job steps (`jobspec.plugin.progress.JobEvents`): it shows each job the moment it is
submitted with its output files, keeps the live line, remembers which jobs are still
running (for an interrupted run to name them) and writes the index of jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, TextIO

from jobspec.plugin.progress import JobEvents

if TYPE_CHECKING:
    from jobspec.engine.index import JobIndex
    from jobspec.plugin.status import JobStatus


def elapsed_text(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def output_files_text(out: str | None, err: str | None) -> str:
    """The words "output A, errors B" (or "" where the backend names no files)."""
    if not out:
        return ""
    return f"output {out}" + (f", errors {err}" if err and err != out else "")


def status_text(status: JobStatus) -> str:
    return f"job {status.job_id}: {status.state}" + (f" ({status.reason})" if status.reason else "")


class StatusLine:
    """One job's state while a step waits on it."""

    def __init__(self, stream: TextIO, live: bool | None = None) -> None:
        self.stream = stream
        self.live = stream.isatty() if live is None else live
        self.shown = False  # a live line is on the screen
        self.last: tuple[str, str, str | None] | None = None  # what was last printed off a terminal

    def show(self, status: JobStatus, elapsed: float) -> None:
        if self.live:
            self.stream.write(f"\r\033[K   {status_text(status)}, waiting {elapsed_text(elapsed)}")
            self.stream.flush()
            self.shown = True
            return
        now = (status.job_id, status.state, status.reason)
        if now != self.last:
            self.last = now
            print(f"   {status_text(status)}", file=self.stream, flush=True)

    def clear(self) -> None:
        """Before anything else is printed: the live line makes way."""
        if self.shown:
            self.stream.write("\r\033[K")
            self.stream.flush()
            self.shown = False


class RunEvents(JobEvents):
    def __init__(
        self,
        note: Callable[[str], None],
        line: StatusLine | None,
        index: JobIndex | None,
        source: str | None,
        stage: Callable[[], str | None] = lambda: None,
    ) -> None:
        self.note = note
        self.line = line
        self.index = index
        self.source = source
        self.stage = stage  # the run's staging directory, once there is one
        self.running: dict[str, str] = {}  # job id -> transformer: submitted, not seen to end

    def submitted(self, job_id: str, transformer: str, step: str, details: Mapping[str, Any], waits: bool) -> None:
        """Shown at once when the step waits (its own line comes only when the job ends)."""
        self.running[job_id] = transformer
        out, err = details.get("stdout"), details.get("stderr")
        if waits:
            files = output_files_text(out, err)
            self.note(f"   job {job_id} submitted" + (f"; {files}" if files else ""))
        self._index(lambda ix: ix.add(job_id, transformer, step, self.source, self.stage(), out, err))

    def waiting(self, status: JobStatus, elapsed: float) -> None:
        if self.line is not None:
            self.line.show(status, elapsed)

    def ended(self, status: JobStatus) -> None:
        if self.line is not None:
            self.line.clear()
        transformer = self.running.pop(status.job_id, status.transformer)
        self._index(lambda ix: ix.set_state(status.job_id, transformer, status.state, status.exit_code))

    def _index(self, write: Callable[[JobIndex], None]) -> None:
        """The index is a convenience: a run never fails for it, and says so once."""
        if self.index is None:
            return
        import sqlite3

        try:
            write(self.index)
        except (sqlite3.Error, OSError) as e:
            self.note(f"jobspec: warning: the job index ({self.index.path}) cannot be written: {e}")
            self.index = None
