"""Finding a cut-short run's job by its submit key, and settling: the logic, over a stand-in
client (tests/receiver/test_receiver_flux.py runs both against a real instance)."""

from __future__ import annotations

from typing import Any

import pytest

from jobspec.transformers.flux.client import FluxError
from jobspec.transformers.flux.resume import SETTLE_PROBE, SubmitKeys, settle


class Instance:
    """Jobs by id with their jobspecs; counts what is asked of it."""

    def __init__(self) -> None:
        self.jobs: dict[str, dict[str, Any]] = {}
        self.read: list[str] = []
        self.backlogs = [0]
        self.held: list[dict[str, Any]] = []
        self.listed: list[str] = []
        self.cancelled: list[str] = []

    def add(self, job_id: str, key: str | None) -> None:
        self.jobs[job_id] = {"attributes": {"user": {"jobspec": {"submit_key": key}} if key else {}}}

    def job_ids(self) -> list[str]:
        return list(self.jobs)

    def jobspecs(self, job_ids: list[str]) -> dict[str, dict[str, Any]]:
        self.read += job_ids
        return {job_id: self.jobs[job_id] for job_id in job_ids if job_id in self.jobs}

    def ingest_stats(self) -> dict[str, Any]:
        backlog = self.backlogs.pop(0) if len(self.backlogs) > 1 else self.backlogs[0]
        return {"pipeline": {"validator": {"backlog": backlog}, "frobnicator": None}}

    def submit_held(self, jobspec: dict[str, Any]) -> str:
        self.held.append(jobspec)
        return "ƒprobe"

    def wait_listed(self, job_id: str) -> None:
        self.listed.append(job_id)

    def cancel(self, job_id: str) -> None:
        self.cancelled.append(job_id)


def test_each_job_is_read_once_and_purged_ones_are_forgotten() -> None:
    flux, keys = Instance(), SubmitKeys()
    flux.add("ƒ1", "run-a.1")
    flux.add("ƒ2", None)
    assert keys.find(flux, "run-a.1") == "ƒ1"  # type: ignore[arg-type]
    assert keys.find(flux, "run-a.1") == "ƒ1" and flux.read == ["ƒ1", "ƒ2"]  # known: Flux not asked
    flux.add("ƒ3", "run-b.2")
    assert keys.find(flux, "run-b.2") == "ƒ3" and flux.read == ["ƒ1", "ƒ2", "ƒ3"]  # only the new job read
    assert keys.find(flux, "run-c.1") is None
    del flux.jobs["ƒ1"]  # purged
    assert keys.find(flux, "run-c.1") is None
    assert keys.find(flux, "run-a.1") is None  # forgotten with its job


def test_settle_waits_for_the_validator_then_lists_a_held_probe_and_cancels_it() -> None:
    flux = Instance()
    flux.backlogs = [3, 1, 0]
    settle(flux)  # type: ignore[arg-type]
    assert flux.backlogs == [0]  # asked until nothing was left to check
    assert flux.held == [SETTLE_PROBE] and flux.listed == ["ƒprobe"] and flux.cancelled == ["ƒprobe"]


def test_settle_gives_up_on_a_validator_that_never_empties() -> None:
    flux = Instance()
    flux.backlogs = [5]
    with pytest.raises(FluxError, match="still had submissions to check"):
        settle(flux, timeout=0.1)  # type: ignore[arg-type]
    assert flux.held == []  # no probe: nothing to cancel
