"""Shared fixtures: a private job store per test, the shared/ folder, the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("JOBSPEC_SHARED_DIR", ROOT.parent / "shared"))
EXAMPLES = ROOT / "examples"


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
    if not (SHARED / "seed" / "examples").is_dir():
        pytest.fail(f"the shared folder is missing: expected {SHARED} (set JOBSPEC_SHARED_DIR)")
    return SHARED


def seed_examples() -> list[Path]:
    return sorted((SHARED / "seed" / "examples").glob("*.yaml"))


def project_examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml"))


def jobspec_cli(
    *args: str,
    input: str | None = None,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 60,
) -> subprocess.CompletedProcess[str]:
    """Run the real `jobspec` command (as a user would) and capture what it prints."""
    return subprocess.run(
        [sys.executable, "-m", "jobspec.cli.main", *args],
        input=input,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=timeout,
    )


HELLO = """\
version: 1
resources:
- type: node
  count: 2
  with:
  - type: slot
    label: default
    count: 1
    with:
    - type: core
      count: 2
task:
  command: ["/bin/bash", "job.sh"]
  slot: default
  count:
    per_slot: 1
  transform:
  - step: write
    filename: job.sh
    executable: true
  - step: submit
    filename: job.sh
    wait: true
  scripts:
  - name: job.sh
    content: |
      #!/bin/bash
      echo "task $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"
"""


def make_jobspec(tmp_path: Path, text: str = HELLO, name: str = "job.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def one_core_jobspec(transform: list[str], script: str, count: str = "{total: 1}") -> str:
    """A one-slot, one-core jobspec with these transform steps (flow-style lines) and one
    script, a.sh: the small unit of work the receiver and throughput tests pass around."""
    steps = "".join(f"  - {step}\n" for step in transform)
    return (
        "version: 1\nresources:\n- type: slot\n  label: default\n  count: 1\n  with:\n  - type: core\n"
        f"    count: 1\ntask:\n  slot: default\n  count: {count}\n  transform:\n{steps}"
        f"  scripts:\n  - name: a.sh\n    content: {json.dumps(script)}\n"
    )
