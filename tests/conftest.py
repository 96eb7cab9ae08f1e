"""Fixtures for every test: a private job store, no cluster unless asked for, the shared/ folder.

Helpers that tests import live in `support` (this folder), not here."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from flux_install import NOT_FOUND, activate, find
from support import HAVE_SHARED, NO_SHARED, SHARED, require_shared


def pytest_configure(config: pytest.Config) -> None:
    """CI has the reference data: there, its absence is an error, never a quiet skip."""
    if os.environ.get("CI") and not HAVE_SHARED:
        raise pytest.UsageError(f"CI (CI={os.environ['CI']}) runs every test, but it {NO_SHARED}")
    _session_temp(config)


def _session_temp(config: pytest.Config) -> None:
    """A run without ``stage:`` keeps its temporary stage (its job may still read its
    script there), and the suite makes thousands: they go into one folder of the
    session's, its own processes' and those it starts (TMPDIR), removed at the end.
    pytest's own folders (tmp_path) stay where they were, kept as pytest keeps them."""
    os.environ.setdefault("PYTEST_DEBUG_TEMPROOT", tempfile.gettempdir())
    folder = tempfile.mkdtemp(prefix="pytest-jobspec-temp-")
    os.chmod(folder, 0o1777)  # as /tmp is: the Kubernetes emulator's pods run as nobody
    os.environ["TMPDIR"] = tempfile.tempdir = folder
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Without the reference data, a test given one of its files as a parameter skips."""
    if HAVE_SHARED:
        return
    skip = pytest.mark.skip(reason=NO_SHARED)
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if any(isinstance(v, Path) and v.is_relative_to(SHARED) for v in params.values()):
            item.add_marker(skip)


# flux-core, where this machine has it: its command and its Python bindings within reach
# of every test and of the commands tests start (tests/flux_install.py says where it looks)
FLUX_INSTALL = find()
if FLUX_INSTALL is not None:
    activate(FLUX_INSTALL)


def pytest_report_header() -> str:
    return f"flux: {FLUX_INSTALL.describe()}" if FLUX_INSTALL else f"flux: {NOT_FOUND}"


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own local job store, so jobs never leak between tests."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("JOBSPEC_STATE_DIR", str(path))
    monkeypatch.delenv("JOBSPEC_TRANSFORMER", raising=False)
    # CI exports SLURM_CONF for the Slurm tests: elsewhere, the automatic choice must be local
    monkeypatch.delenv("SLURM_CONF", raising=False)
    monkeypatch.delenv("FLUX_URI", raising=False)
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    """The reference data folder; a test asking for it skips where it is absent."""
    require_shared()
    return SHARED


# ---------------------------------------------------------------- the real Slurm test cluster

CLUSTER_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "slurm-cluster"


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
