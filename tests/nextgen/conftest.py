"""The real systems the next-generation proof runs on: the Slurm test cluster (started by
scripts/slurm-cluster, as tests/slurm does) and a Flux test instance where flux is installed."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def slurm_cluster_env() -> dict[str, str]:
    """The variables the cluster's clients need (SLURM_CONF, the REST address)."""
    if os.geteuid() != 0:
        pytest.fail("the Slurm test cluster needs root (scripts/slurm-cluster installs packages and starts daemons)")
    done = subprocess.run(
        [str(ROOT / "scripts" / "slurm-cluster"), "start"],
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    if done.returncode != 0:
        pytest.fail(f"scripts/slurm-cluster start failed (exit {done.returncode}):\n{done.stderr}")
    env = {}
    for line in done.stdout.splitlines():
        words = shlex.split(line)
        if len(words) == 2 and words[0] == "export" and "=" in words[1]:
            key, _, value = words[1].partition("=")
            env[key] = value
    return env


@pytest.fixture
def slurm(slurm_cluster_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key, value in slurm_cluster_env.items():
        monkeypatch.setenv(key, value)
    for key in ("SLURM_JOB_ID", "SLURM_JOBID", "SLURM_JWT", "JOBSPEC_SLURM_INTERFACE"):
        monkeypatch.delenv(key, raising=False)
    return slurm_cluster_env


@pytest.fixture(scope="session")
def flux_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A two-broker Flux test instance for the session; its URI."""
    flux = shutil.which("flux")
    if flux is None:
        pytest.skip("no flux command on PATH (flux-core is built outside the repository)")
    folder = tmp_path_factory.mktemp("flux-instance")
    uri_file = folder / "uri"
    report = 'echo "$FLUX_URI" > "$1.tmp" && mv "$1.tmp" "$1" && exec sleep 86400'
    with open(folder / "flux-start.log", "wb") as log:
        proc = subprocess.Popen(
            [flux, "start", "--test-size=2", "/bin/sh", "-c", report, "sh", str(uri_file)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    deadline = time.monotonic() + 120
    while not uri_file.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"flux start did not come up: {(folder / 'flux-start.log').read_text()[-2000:]}")
        time.sleep(0.1)
    try:
        yield uri_file.read_text().strip()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # the instance this fixture started, and only it
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
