"""The receiver on the real Slurm cluster: receivers killed with SIGKILL at random
moments lose no jobspec and submit no step twice (Slurm's own job list is the judge)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import one_core_jobspec

from jobspec.receiver.spool import Spool

TWO_SUBMITS = one_core_jobspec(
    [
        {"step": "write", "filename": "a.sh"},
        {"step": "submit", "filename": "a.sh"},
        {"step": "submit", "filename": "a.sh"},
    ],
    "#!/bin/sh\ntrue\n",
)


def slurm_keys(prefixes: set[str]) -> dict[str, int]:
    """Submit keys in Slurm's job comments (jobspec-submit-key=<key>) -> how many jobs carry each."""
    done = subprocess.run(
        ["squeue", "--noheader", "--states=all", "--format=%k"], capture_output=True, text=True, check=True
    )
    counts: dict[str, int] = {}
    for comment in done.stdout.split():
        key = comment.partition("jobspec-submit-key=")[2]
        if key and key.rsplit(".", 1)[0] in prefixes:
            counts[key] = counts.get(key, 0) + 1
    return counts


@pytest.mark.slurm
@pytest.mark.slow
def test_kill_9_at_random_moments_on_slurm(tmp_path: Path, slurm: dict[str, str]) -> None:
    spool = Spool(tmp_path / "spool")
    for i in range(200):
        spool.enqueue_text(TWO_SUBMITS, f"s{i:03}.yaml")
    ids = {Path(name).stem for name in spool.waiting()}
    rng = random.Random(3)
    kills = 0
    deadline = time.monotonic() + 400
    while (spool.waiting() or list(spool.dir("active").glob("*.yaml"))) and time.monotonic() < deadline:
        receiver = subprocess.Popen(
            [sys.executable, "-m", "jobspec.cli.main", "receive", "--spool", str(spool.root), "-t", "slurm", "--once"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            receiver.wait(timeout=rng.uniform(0.1, 2.0))
        except subprocess.TimeoutExpired:
            receiver.send_signal(signal.SIGKILL)
            receiver.wait()
            kills += 1
    assert kills >= 5, "the receivers were not interrupted often enough to test anything"
    filed = {p.stem: state for state in ("done", "failed") for p in spool.dir(state).glob("*.yaml")}
    assert set(filed) == ids and set(filed.values()) == {"done"}
    assert not spool.waiting() and not list(spool.dir("active").glob("*.yaml"))
    keys = slurm_keys(ids)
    assert set(keys) == {f"{i}.{step}" for i in ids for step in (1, 2)}  # every submit step ran ...
    assert set(keys.values()) == {1}  # ... exactly once, by Slurm's own list
