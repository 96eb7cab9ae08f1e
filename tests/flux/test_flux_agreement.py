"""Status, wait and cancel give the same answer through flux-core's Python bindings and
through the ``flux`` command, for a job in every state: pending (held), running,
completed, failed, cancelled, and an id Flux does not know. On a real instance
(tests/flux_install.py); the jobs are made with ``flux submit`` by hand, so neither
client under test decides what they are."""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

import pytest
from flux_install import NOT_FOUND

from jobspec.plugin import JobLookupError, JobStatus
from jobspec.transformers.flux import jobids
from jobspec.transformers.flux.transformer import FluxTransformer

FLUX = shutil.which("flux")
pytestmark = [pytest.mark.flux, pytest.mark.slow, pytest.mark.skipif(FLUX is None, reason=NOT_FOUND)]

PATHS = ("bindings", "command")
UNKNOWN = "ƒ9999"  # a well-formed id no instance of these tests has made


def flux(*argv: str) -> str:
    assert FLUX is not None
    return subprocess.run([FLUX, *argv], capture_output=True, text=True, check=True).stdout.strip()


def job_in(state: str) -> str:
    """A new job, by hand, in ``state`` (already reached)."""
    if state == "unknown":
        return UNKNOWN
    if state == "pending":
        return jobids.normalise(flux("submit", "--urgency=hold", "true"))
    if state == "running":
        job = jobids.normalise(flux("submit", "sleep", "300"))
        flux("job", "wait-event", "--timeout=60", job, "start")
        return job
    command = {"completed": ["true"], "failed": ["sh", "-c", "exit 3"], "cancelled": ["sleep", "300"]}[state]
    job = jobids.normalise(flux("submit", *command))
    if state == "cancelled":
        flux("job", "wait-event", "--timeout=60", job, "start")
        flux("cancel", "--message=by hand", job)
    flux("job", "wait-event", "--timeout=60", job, "clean")
    return job


def seen(status: JobStatus) -> dict[str, Any]:
    """What a user is shown of a status: all but the id, and the times as which are known."""
    shown = {k: v for k, v in status.to_dict().items() if k not in ("job_id", "details")}
    shown["details"] = {k: (v if not k.startswith("t_") else "a time") for k, v in status.details.items()}
    return shown


def answer(call: Any) -> Any:
    try:
        return seen(call())
    except JobLookupError as e:
        return ("JobLookupError", str(e))


STATES = ("pending", "running", "completed", "failed", "cancelled", "unknown")


@pytest.mark.parametrize("state", STATES)
def test_status_and_wait_agree(state: str, instance: dict[str, Any]) -> None:
    job = job_in(state)
    status = {p: answer(lambda p=p: FluxTransformer(interface=p).status(job)) for p in PATHS}
    wait = {p: answer(lambda p=p: FluxTransformer(interface=p).wait(job, timeout=0.5)) for p in PATHS}
    assert status["bindings"] == status["command"]
    assert wait["bindings"] == wait["command"]
    expected = {"pending": "pending", "running": "running", "completed": "completed", "failed": "failed"}
    if state == "unknown":
        assert status["bindings"][0] == "JobLookupError" and "no Flux job ƒ9999" in status["bindings"][1]
    else:
        assert status["bindings"]["state"] == expected.get(state, "cancelled")
        assert wait["bindings"] == status["bindings"]
    if state == "failed":
        assert status["bindings"]["exit_code"] == 3
    if state == "cancelled":
        assert status["bindings"]["reason"] == "cancel: by hand"
    if state in ("pending", "running"):
        flux("cancel", job)


@pytest.mark.parametrize("state", STATES)
def test_cancel_agrees(state: str, instance: dict[str, Any]) -> None:
    """Twin jobs in the same state, one cancelled through each path."""
    twins = {p: job_in(state) for p in PATHS}
    cancelled = {p: answer(lambda p=p: FluxTransformer(interface=p).cancel(twins[p])) for p in PATHS}
    assert cancelled["bindings"] == cancelled["command"]
    outcome = cancelled["bindings"]
    if state == "unknown":
        assert outcome[0] == "JobLookupError"
    elif state in ("pending", "running"):
        assert (outcome["state"], outcome["reason"]) == ("cancelled", "cancel: cancelled with jobspec cancel")
    else:  # already done: cancel changes nothing, and says how it ended
        assert outcome == seen(FluxTransformer(interface="command").status(twins["bindings"]))
        assert outcome["state"] == state
