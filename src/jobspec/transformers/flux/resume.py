"""Resuming a dead receiver's runs on Flux without submitting any job twice.

A resumed run looks its cut-short job step up by the submit key the job carries
(``attributes.user.jobspec.submit_key``). Two things make that exact here:

- `settle`: Flux answers a submission only once job-ingest has checked it (its
  validator) and committed it in a batch with others, so a receiver killed meanwhile
  leaves submissions on their way that nobody can see yet. `settle` returns once every
  job submitted before it was called is listed, or was refused.
- `SubmitKeys`: which job carries which key, read once per job (its jobspec) and kept,
  so that looking up many resumed runs asks Flux only about jobs it has not seen.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from jobspec.transformers.flux.client import FluxError
from jobspec.transformers.flux.jobspec_v1 import USER_KEY

if TYPE_CHECKING:
    from jobspec.transformers.flux.client import Client

# The held job `settle` submits, and cancels: one core, `true`, never run.
SETTLE_PROBE: dict[str, Any] = {
    "version": 1,
    "resources": [{"type": "slot", "count": 1, "label": "task", "with": [{"type": "core", "count": 1}]}],
    "tasks": [{"command": ["true"], "slot": "task", "count": {"per_slot": 1}}],
    "attributes": {
        "system": {"duration": 0, "job": {"name": "jobspec-settle"}},
        "user": {USER_KEY: {"settle": True}},
    },
}


def settle(client: Client, timeout: float = 60.0) -> None:
    """Wait until job-ingest's validator has nothing left to check (every job sent before
    is then in a batch), then submit a held probe job, which can only be in the same
    batch or a later one, and wait until job-list lists it: batches are committed and
    listed in order, so every earlier job is listed too. The probe is cancelled."""
    deadline = time.monotonic() + timeout
    while _backlog(client.ingest_stats()):
        if time.monotonic() > deadline:
            raise FluxError(f"Flux's job-ingest still had submissions to check after {timeout:g} s")
        time.sleep(0.02)
    probe = client.submit_held(SETTLE_PROBE)
    try:
        client.wait_listed(probe)
    finally:
        client.cancel(probe)


def _backlog(stats: Any) -> int:
    pipeline = stats.get("pipeline") if isinstance(stats, dict) else None
    if not isinstance(pipeline, dict):
        return 0  # no validator nor frobnicator: a job goes straight into a batch
    return sum(int((pipeline.get(part) or {}).get("backlog", 0)) for part in ("validator", "frobnicator"))


def submit_key(jobspec: dict[str, Any]) -> str | None:
    user = (jobspec.get("attributes") or {}).get("user") or {}
    mark = user.get(USER_KEY) if isinstance(user, dict) else None
    key = mark.get("submit_key") if isinstance(mark, dict) else None
    return str(key) if key is not None else None


class SubmitKeys:
    """This user's Flux jobs by submit key, filled in as jobs are seen (a job's jobspec
    never changes). One per transformer; the receiver's workers share it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._jobs: dict[str, str] = {}

    def find(self, client: Client, key: str) -> str | None:
        """The job that carries ``key``, or None. Only jobs not seen before are read; jobs
        Flux no longer lists (purged) are forgotten."""
        with self._lock:
            if key not in self._jobs:
                listed = client.job_ids()
                new = [job_id for job_id in listed if job_id not in self._seen]
                for job_id, spec in client.jobspecs(new).items():
                    found = submit_key(spec)
                    if found is not None:
                        self._jobs[found] = job_id
                self._seen = set(listed)
                self._jobs = {k: job_id for k, job_id in self._jobs.items() if job_id in self._seen}
            return self._jobs.get(key)
