"""Fixtures of the Slurm tests (the cluster itself, `slurm_cluster` and `slurm`, is in
tests/conftest.py: the next-generation tests use it too). `interface` runs a test twice:
through sbatch, and through the REST API (slurmrestd)."""

from __future__ import annotations

import os
import subprocess

import pytest


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
