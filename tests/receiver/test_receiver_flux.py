"""The receiver's kill -9 test on a real Flux (where flux-core is installed: tests/flux_install.py).

Receivers (``jobspec receive -t flux``) are SIGKILLed at random moments until the spool is
empty. Every eighth jobspec's first job is held in job-ingest for a while (slow_validator.py),
so kills leave submissions on their way that the next receiver must not make again. Then
Flux itself is the judge: its own list of jobs and the submit key each one carries
(``attributes.user.jobspec.submit_key``): every jobspec done exactly once, every submit step
one Flux job, no key twice. The instance's queue is stopped, so the jobs
stay pending: what is tested is submission, and the jobs do not compete for this
machine's cores."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from flux_install import NOT_FOUND, bindings_problem, start_instance
from support import one_core_jobspec

from jobspec.receiver.spool import Spool

FLUX = shutil.which("flux")
pytestmark = [pytest.mark.flux, pytest.mark.slow, pytest.mark.skipif(FLUX is None, reason=NOT_FOUND)]

JOBSPECS = 240
SLOW_EVERY = 8


@pytest.fixture(scope="module")
def flux_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert FLUX is not None
    problem = bindings_problem()
    if problem:
        pytest.fail(problem)  # Flux is here: its bindings must be too
    slow = str(Path(__file__).with_name("slow_validator.py"))  # holds marked jobs in job-ingest
    instance = start_instance(FLUX, tmp_path_factory.mktemp("flux-receiver"), validator_plugins=["jobspec", slow])
    env = {**os.environ, "FLUX_URI": instance.uri}
    try:
        subprocess.run([FLUX, "queue", "stop", "--quiet"], env=env, check=True)
        yield instance.uri
    finally:
        subprocess.run([FLUX, "cancel", "--all", "--quiet"], env=env, check=False)
        instance.stop()


def flux_jobs_by_key(uri: str) -> dict[str, list[int]]:
    """Every job in the instance, by the submit key it carries (Flux's own record); the held
    probes of the receivers' settling (see Client.settle) under "settle" (never run)."""
    import flux

    handle = flux.Flux(uri)
    ids = handle.rpc("job-list.list", {"max_entries": 0, "attrs": [], "states": 0, "results": 0}).get()["jobs"]
    by_key: dict[str, list[int]] = {}
    futures = [
        (job["id"], handle.rpc("job-info.lookup", {"id": job["id"], "keys": ["jobspec"], "flags": 0})) for job in ids
    ]
    for job_id, future in futures:
        spec = future.get()["jobspec"]
        spec = json.loads(spec) if isinstance(spec, str) else spec
        mark = ((spec.get("attributes") or {}).get("user") or {}).get("jobspec", {})
        key = "settle" if mark.get("settle") else mark.get("submit_key")
        by_key.setdefault(str(key), []).append(job_id)
    return by_key


def receive(spool: Path, uri: str, once: bool = True) -> subprocess.Popen[bytes]:
    command = ["receive", "--spool", str(spool), "-t", "flux", *(["--once"] if once else []), "--workers", "2"]
    return subprocess.Popen(
        [sys.executable, "-m", "jobspec.cli.main", *command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "FLUX_URI": uri},
    )


def test_kill_9_at_random_moments_on_flux(flux_uri: str, tmp_path: Path) -> None:
    steps: list[dict[str, Any]] = [
        {"step": "write", "filename": "a.sh"},
        {"step": "submit", "filename": "a.sh"},
        {"step": "submit", "filename": "a.sh"},
    ]
    spool = Spool(tmp_path / "spool")
    for i in range(JOBSPECS):
        data = yaml.safe_load(one_core_jobspec(steps, "true"))
        if i % SLOW_EVERY == 0:  # its jobs take a while in job-ingest (slow_validator.py)
            data["attributes"] = {"user": {"slow": True}}
        spool.enqueue_text(yaml.safe_dump(data), f"j{i:03}.yaml")
    rng = random.Random(20261129)
    kills = 0
    deadline = time.monotonic() + 600
    while (spool.waiting() or list(spool.dir("active").glob("*.yaml"))) and time.monotonic() < deadline:
        receiver = receive(spool.root, flux_uri)
        try:
            receiver.wait(timeout=rng.uniform(0.3, 2.0))
        except subprocess.TimeoutExpired:
            receiver.send_signal(signal.SIGKILL)
            receiver.wait()
            kills += 1
    assert kills >= 5, "the receivers were not interrupted often enough to test anything"
    filed: dict[str, list[str]] = {}
    for state in ("incoming", "active", "done", "failed"):
        for path in spool.dir(state).glob("*.yaml"):
            filed.setdefault(path.stem, []).append(state)
    assert len(filed) == JOBSPECS and all(states == ["done"] for states in filed.values()), filed
    by_key = flux_jobs_by_key(flux_uri)
    assert by_key.get("settle"), "no receiver settled Flux's submissions before resuming a dead one's jobspecs"
    mine = {key: ids for key, ids in by_key.items() if key.rsplit(".", 1)[0] in filed}  # this spool's
    expected = {f"{name}.{index}" for name in filed for index in (1, 2)}
    assert set(mine) == expected  # every submit step reached Flux ...
    assert {len(ids) for ids in mine.values()} == {1}  # ... exactly once
    recorded = set()
    for result in spool.dir("done").glob("*.result.json"):
        recorded.update(json.loads(result.read_text())["job_ids"])
    assert len(recorded) == 2 * JOBSPECS  # and the results name those jobs


def test_sigterm_lets_the_jobspecs_under_way_finish_on_flux(flux_uri: str, tmp_path: Path) -> None:
    """Stopped with SIGTERM while each worker has many jobspecs under way (Flux's in_flight):
    those are finished and filed, the rest wait in incoming/, and a later receiver does them;
    every jobspec done once, one Flux job each."""
    spool = Spool(tmp_path / "spool")
    count = 1000
    for i in range(count):
        spool.enqueue_text(
            one_core_jobspec([{"step": "write", "filename": "a.sh"}, {"step": "submit", "filename": "a.sh"}], "true"),
            f"t{i:04}.yaml",
        )
    receiver = receive(spool.root, flux_uri, once=False)
    deadline = time.monotonic() + 120
    while len(list(spool.dir("done").glob("*.yaml"))) < 50 and time.monotonic() < deadline:
        time.sleep(0.02)
    receiver.send_signal(signal.SIGTERM)
    assert receiver.wait(timeout=60) == 0
    assert not list(spool.dir("active").iterdir())  # nothing left half-done
    left = len(spool.waiting())
    assert 0 < left < count  # it stopped part of the way
    assert receive(spool.root, flux_uri).wait(timeout=300) == 0
    filed = {path.stem for path in spool.dir("done").glob("*.yaml")}
    assert len(filed) == count and not spool.waiting()
    by_key = flux_jobs_by_key(flux_uri)
    mine = {key: ids for key, ids in by_key.items() if key.rsplit(".", 1)[0] in filed}
    assert set(mine) == {f"{name}.1" for name in filed} and {len(ids) for ids in mine.values()} == {1}


@pytest.mark.parametrize("interface", ["bindings", "command"])
def test_settle_returns_once_a_submission_on_its_way_is_listed(
    flux_uri: str, interface: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job held in job-ingest (its validator takes a while) is listed when `settle`
    returns, through either client: what a receiver resuming a dead one's runs relies on."""
    import flux.job

    import flux
    from jobspec.transformers.flux import jobids
    from jobspec.transformers.flux.bindings_client import BindingsClient
    from jobspec.transformers.flux.command_client import CommandClient
    from jobspec.transformers.flux.resume import SETTLE_PROBE, settle

    monkeypatch.setenv("FLUX_URI", flux_uri)
    spec = json.loads(json.dumps(SETTLE_PROBE))  # a copy, made a job the slow validator holds:
    spec["attributes"]["user"] = {"slow": True, "jobspec": {"submit_key": f"settle-{interface}.1"}}
    on_its_way = flux.job.submit_async(flux.Flux(flux_uri), json.dumps(spec))
    client = BindingsClient(FLUX) if interface == "bindings" else CommandClient(FLUX)
    before = set(client.job_ids())
    settle(client)
    listed = set(client.job_ids()) - before
    assert jobids.encode(on_its_way.get_id()) in listed
    probes = [job for job in listed if client.jobspecs([job])[job]["attributes"]["user"]["jobspec"].get("settle")]
    assert len(probes) == 1  # held, then cancelled: it never ran
    assert client.wait(probes[0], timeout=30).state == "cancelled"
