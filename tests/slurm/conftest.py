"""The real Slurm test cluster, started once per session by scripts/slurm-cluster.

`slurm_cluster` starts it (idempotent: about 3 s the first time, a moment when it
runs already) and returns the environment its clients need (SLURM_CONF);
`slurm` puts that environment into one test, and only that test, so the rest of
the suite never sees a cluster it did not ask for. `interface` runs a test twice:
through sbatch, and through the REST API (slurmrestd).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER_SCRIPT = ROOT / "scripts" / "slurm-cluster"


@pytest.fixture(scope="session")
def slurm_cluster() -> dict[str, str]:
    """Start the cluster (or find it running); the variables its `start` exports."""
    if os.geteuid() != 0:
        pytest.fail("the Slurm test cluster needs root (scripts/slurm-cluster installs packages and starts daemons)")
    try:
        done = subprocess.run(
            [str(CLUSTER_SCRIPT), "start"],
            capture_output=True,
            text=True,
            timeout=600,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"scripts/slurm-cluster start took more than {e.timeout:g} s")
    if done.returncode != 0:
        pytest.fail(f"scripts/slurm-cluster start failed (exit {done.returncode}):\n{done.stderr}")
    env: dict[str, str] = {}
    for line in done.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            env[key] = value
    if "SLURM_CONF" not in env:
        pytest.fail(f"scripts/slurm-cluster start exported no SLURM_CONF:\n{done.stdout}\n{done.stderr}")
    return env


@pytest.fixture
def slurm(slurm_cluster: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """This test talks to the cluster: its variables in os.environ (restored afterwards)."""
    for key, value in slurm_cluster.items():
        monkeypatch.setenv(key, value)
    for key in ("SLURM_JOB_ID", "SLURM_JOBID", "SLURM_JWT", "JOBSPEC_SLURM_INTERFACE"):
        monkeypatch.delenv(key, raising=False)
    return slurm_cluster


@pytest.fixture(scope="session")
def slurm_token(slurm_cluster: dict[str, str]) -> str:
    """A token for the REST API, for tests that hand it over as SLURM_JWT (not through an auth step)."""
    done = subprocess.run(
        ["scontrol", "token", "lifespan=7200"],
        capture_output=True,
        text=True,
        env={**os.environ, **slurm_cluster},
        stdin=subprocess.DEVNULL,
        timeout=30,
    )
    token = done.stdout.strip().partition("SLURM_JWT=")[2]
    if done.returncode != 0 or not token:
        pytest.fail(f"scontrol token gave no token (exit {done.returncode}): {done.stderr}")
    return token


@pytest.fixture(params=["cli", "rest"])
def interface(
    request: pytest.FixtureRequest, slurm: dict[str, str], slurm_token: str, monkeypatch: pytest.MonkeyPatch
) -> str:
    """Run the test through sbatch, then again through the REST API (chosen by
    JOBSPEC_SLURM_INTERFACE, with the token in SLURM_JWT), so both give the same result."""
    if request.param == "rest":
        if "JOBSPEC_SLURMRESTD_URL" not in slurm:
            pytest.fail("scripts/slurm-cluster start exported no JOBSPEC_SLURMRESTD_URL")
        monkeypatch.setenv("JOBSPEC_SLURM_INTERFACE", "rest")
        monkeypatch.setenv("SLURM_JWT", slurm_token)
    return str(request.param)
