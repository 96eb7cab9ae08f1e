"""The receiver's kill -9 test on a real Flux (where flux-core is installed: tests/flux_install.py).

Receivers (``jobspec receive -t flux``) are SIGKILLed at random moments until the spool is
empty; then Flux itself is the judge: its own list of jobs and the submit key each one
carries (``attributes.user.jobspec.submit_key``): every jobspec done exactly once, every
submit step one Flux job, no key twice. The instance's queue is stopped, so the jobs
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
from flux_install import NOT_FOUND, bindings_problem, start_instance
from support import one_core_jobspec

from jobspec.receiver.spool import Spool

FLUX = shutil.which("flux")
pytestmark = [pytest.mark.flux, pytest.mark.slow, pytest.mark.skipif(FLUX is None, reason=NOT_FOUND)]

JOBSPECS = 120


@pytest.fixture(scope="module")
def flux_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    assert FLUX is not None
    problem = bindings_problem()
    if problem:
        pytest.fail(problem)  # Flux is here: its bindings must be too
    instance = start_instance(FLUX, tmp_path_factory.mktemp("flux-receiver"))
    env = {**os.environ, "FLUX_URI": instance.uri}
    try:
        subprocess.run([FLUX, "queue", "stop", "--quiet"], env=env, check=True)
        yield instance.uri
    finally:
        subprocess.run([FLUX, "cancel", "--all", "--quiet"], env=env, check=False)
        instance.stop()


def flux_jobs_by_key(uri: str) -> dict[str, list[int]]:
    """Every job in the instance, by the submit key it carries (Flux's own record)."""
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
        key = ((spec.get("attributes") or {}).get("user") or {}).get("jobspec", {}).get("submit_key")
        by_key.setdefault(str(key), []).append(job_id)
    return by_key


def receive(spool: Path, uri: str) -> subprocess.Popen[bytes]:
    command = ["receive", "--spool", str(spool), "-t", "flux", "--once", "--workers", "2"]
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
        spool.enqueue_text(one_core_jobspec(steps, "true"), f"j{i:03}.yaml")
    rng = random.Random(20261129)
    kills = 0
    deadline = time.monotonic() + 600
    while (spool.waiting() or list(spool.dir("active").glob("*.yaml"))) and time.monotonic() < deadline:
        receiver = receive(spool.root, flux_uri)
        try:
            receiver.wait(timeout=rng.uniform(0.2, 1.5))
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
    expected = {f"{name}.{index}" for name in filed for index in (1, 2)}
    assert set(by_key) == expected  # every submit step reached Flux, and nothing else did ...
    assert {len(ids) for ids in by_key.values()} == {1}  # ... exactly once
    recorded = set()
    for result in spool.dir("done").glob("*.result.json"):
        recorded.update(json.loads(result.read_text())["job_ids"])
    assert len(recorded) == 2 * JOBSPECS  # and the results name those jobs
