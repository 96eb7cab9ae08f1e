"""What a run is told about its jobs as they happen: submitted, still waiting, ended.

A job step tells `JobEvents` (``ctx.events``) the moment it has a job id, and while
it waits, each state it sees; whoever runs the steps (the command's live line, the
index of jobs behind ``jobspec list``) listens. The default listens to nothing, so a
plugin's steps may tell it freely.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from jobspec.plugin.status import JobStatus

PROGRESS_EVERY = 1.0  # seconds: how often a waiting step reports the job's state


class JobEvents:
    """Hooks a run's listener overrides; each does nothing here."""

    def submitted(self, job_id: str, transformer: str, step: str, details: Mapping[str, Any], waits: bool) -> None:
        """A job exists: ``details`` may name its output files (``stdout``, ``stderr``);
        ``waits``: the step waits for it (or follows it) before it ends."""

    def waiting(self, status: JobStatus, elapsed: float) -> None:
        """A step waits on a job that has not ended; ``status.reason`` says why, where known."""

    def ended(self, status: JobStatus) -> None:
        """A job a step waited on (or followed) has ended."""


def wait_reporting(
    job_id: str,
    wait: Callable[[str, float | None], JobStatus],
    events: JobEvents,
    every: float = PROGRESS_EVERY,
) -> JobStatus:
    """Wait for a job with the backend's own ``wait(job_id, timeout)``, ``every`` seconds
    at a time, telling ``events`` the state between turns; its final status."""
    started = time.monotonic()
    while True:
        status = wait(job_id, every)
        if status.done:
            return status
        events.waiting(status, time.monotonic() - started)
