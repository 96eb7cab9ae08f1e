"""The test suite itself without ../shared: skips with one reason on a fresh clone, refuses under CI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support import ROOT


def pytest_run(tmp_path: Path, *args: str, ci: bool) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["JOBSPEC_SHARED_DIR"] = str(tmp_path / "no-shared")
    if ci:
        env["CI"] = "true"
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.slow
def test_without_the_reference_data_its_tests_skip_with_one_reason(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, "-rs", "tests/test_validate.py", "tests/test_cli.py", ci=False)
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = [line for line in done.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(skipped) >= 4  # the original examples (run and validated), the RFC examples, the schema check
    assert all(f"needs the reference data in {tmp_path / 'no-shared'} (absent" in line for line in skipped)
    assert " passed" in done.stdout


def test_under_ci_its_absence_is_an_error(tmp_path: Path) -> None:
    done = pytest_run(tmp_path, "--co", "tests/test_layers.py", ci=True)
    assert done.returncode != 0
    assert "CI (CI=true) runs every test, but it needs the reference data" in done.stderr
