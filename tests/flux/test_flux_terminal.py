"""What a user sees while a Flux job step waits (``wait: true``), on a real Flux: off a
terminal one line per change of the job's state, at a terminal one line rewritten in place
(state, Flux's reason, time waited), through both paths (the bindings and the command)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from flux_install import NOT_FOUND
from support import Session

FLUX = shutil.which("flux")
pytestmark = [pytest.mark.flux, pytest.mark.slow, pytest.mark.skipif(FLUX is None, reason=NOT_FOUND)]


def held_behind_a_gate(tmp_path: Path, interface: str) -> Path:
    """Two jobs: the first runs until the test creates ``tmp_path/go``; the second, waited
    for, depends on the first (afterok), so Flux holds it with a reason."""
    gate = tmp_path / "go"
    doc: dict[str, Any] = {
        "version": 1,
        "resources": [{"type": "slot", "label": "s", "count": 1, "with": [{"type": "core", "count": 1}]}],
        "task": {
            "slot": "s",
            "count": {"per_slot": 1},
            "transform": [
                {"step": "set", "key": "flux.interface", "value": interface},
                {"step": "write", "filename": "hold.sh", "executable": True},
                {"step": "submit", "filename": "hold.sh", "name": "first"},
                {"step": "submit", "filename": "hold.sh", "after": "first", "wait": True},
            ],
            "scripts": [{"name": "hold.sh", "content": f"#!/bin/sh\nwhile [ ! -e {gate} ]; do sleep 0.1; done\n"}],
        },
    }
    path = tmp_path / "held.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(params=["bindings", "command"])
def interface(request: pytest.FixtureRequest, instance: dict[str, Any]) -> str:
    if request.param == "bindings" and instance["bindings_problem"]:
        pytest.fail(instance["bindings_problem"])  # Flux is here: its bindings must be too
    return str(request.param)


def test_off_a_terminal_one_line_per_change_of_state(tmp_path: Path, interface: str) -> None:
    run = Session(["run", "-t", "flux", str(held_behind_a_gate(tmp_path, interface))], tty=False)
    second = run.read_until(r"job (ƒ\S+) submitted; output \S+/flux-\d+\.out")[1]
    pending = f"   job {second}: pending (waiting for after-success=ƒ"
    run.read_until(rf"   job {second}: pending \(waiting for after-success=ƒ\S+\)\n", timeout=60)
    # two more turns of waiting: the state has not changed, so nothing more is printed
    time.sleep(2.5)
    (tmp_path / "go").touch()
    code, err = run.finish(timeout=120)
    assert code == 0, err
    assert run.seen.count(pending) == 1, run.seen
    assert "\r" not in run.seen and "waiting 1 s" not in run.seen
    assert f"=> step submit {second} OK" in run.seen


def test_at_a_terminal_one_live_line_with_the_time_waited(tmp_path: Path, interface: str) -> None:
    run = Session(["run", "-t", "flux", str(held_behind_a_gate(tmp_path, interface))], tty=True)
    second = run.read_until(r"job (ƒ\S+) submitted; output \S+/flux-\d+\.out")[1]
    line = rf"\r\x1b\[K   job {second}: pending \(waiting for after-success=ƒ\S+\), waiting"
    # the time waited grows turn by turn; a loaded machine may skip a second (a turn of the
    # command path is a flux process and a one-second wait)
    turns = run.read_until(rf"{line} (\d+) s[\s\S]*?{line} (\d+) s", timeout=90)
    assert 1 <= int(turns[1]) < int(turns[2]), run.seen
    (tmp_path / "go").touch()
    code, err = run.finish(timeout=120)
    assert code == 0, err
    after = run.seen.split(f"=> step submit {second}")[1]
    assert "waiting" not in after  # the live line made way for the step's line


def test_the_command_path_starts_one_flux_process_a_turn(instance: dict[str, Any], fresh_clients: None) -> None:
    """While a job waits, each turn of the wait is one ``flux`` process that also gives the
    state and Flux's reason (not a second one to read the eventlog)."""
    import subprocess

    from jobspec.transformers.flux.command_client import CommandClient

    assert FLUX is not None
    first = subprocess.run([FLUX, "submit", "sleep", "60"], capture_output=True, text=True, check=True).stdout.strip()
    second = subprocess.run(
        [FLUX, "submit", f"--dependency=afterok:{first}", "true"], capture_output=True, text=True, check=True
    ).stdout.strip()
    client = CommandClient(FLUX)
    calls: list[list[str]] = []
    run_flux = client.run_flux
    client.run_flux = lambda argv, **kw: calls.append(list(argv)) or run_flux(argv, **kw)  # type: ignore[method-assign]
    try:
        status = client.wait(second, 0.5)
    finally:
        subprocess.run([FLUX, "cancel", first, second], capture_output=True)
    assert (status.state, status.reason) == ("pending", f"waiting for after-success={first}")
    assert len(calls) == 1, calls
