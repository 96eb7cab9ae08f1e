"""What a user sees of Slurm jobs around a run: the scheduler's reason while a job waits,
a controller that is down reported at once, a time limit Slurm rounds up."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest
from slurm_support import graph, jobspec_doc, write_doc
from support import Session, jobspec_cli

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm")]


def dead_controller_conf(tmp_path: Path) -> Path:
    """The test cluster's slurm.conf with the controller's port moved to one nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    text = Path(os.environ["SLURM_CONF"]).read_text()
    text = re.sub(r"(?im)^SlurmctldPort=.*$", f"SlurmctldPort={port}", text)
    conf = tmp_path / "slurm.conf"
    conf.write_text(text)
    return conf


def test_status_with_the_controller_down_says_so(tmp_path: Path) -> None:
    """Not after scontrol's 18 s of retries: `scontrol ping` is asked once show job is slow."""
    done = jobspec_cli("status", "12345", env={"SLURM_CONF": str(dead_controller_conf(tmp_path))})
    assert done.returncode == 1
    assert "Slurm did not answer: the Slurm controller does not answer" in done.stderr
    assert "DOWN" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.slow
def test_a_waiting_job_shows_slurms_reason(tmp_path: Path) -> None:
    """Off a terminal, one line per change: the second job is pending on the first one."""
    gate = tmp_path / "go"
    hold = f"#!/bin/sh\nwhile [ ! -e {gate} ]; do sleep 0.1; done\n"
    transform = [
        {"step": "write", "filename": "hold.sh"},
        {"step": "submit", "filename": "hold.sh", "name": "first"},
        {"step": "submit", "filename": "hold.sh", "after": "first", "wait": True},
    ]
    path = write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"hold.sh": hold}))
    run = Session(["run", "-t", "slurm", str(path)], tty=False)
    second = run.read_until(r"job (\d+) submitted; output \S+slurm-\d+\.out")[1]
    run.read_until(rf"   job {second}: pending \(Dependency\)\n", timeout=60)
    gate.touch()
    code, err = run.finish(timeout=120)
    assert code == 0, err
    assert f"=> step submit {second} OK" in run.seen


def test_a_duration_slurm_rounds_up_is_said(tmp_path: Path) -> None:
    transform = [{"step": "write", "filename": "a.sh"}, {"step": "submit", "filename": "a.sh", "wait": True}]
    doc = jobspec_doc(graph(0, 1, 1), transform, {"a.sh": "#!/bin/sh\ntrue\n"}, system={"duration": 90})
    path = write_doc(tmp_path, doc)
    warning = "Slurm's time limits are whole minutes: duration 90 s becomes --time=2 (120 s)"
    dry = jobspec_cli("run", "-t", "slurm", "--dry-run", str(path))
    assert dry.returncode == 0 and warning in dry.stderr
    done = jobspec_cli("run", "-t", "slurm", str(path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count(warning) == 1
    exact = write_doc(tmp_path, {**doc, "attributes": {"system": {"duration": 120}}}, "exact.yaml")
    assert "whole minutes" not in jobspec_cli("run", "-t", "slurm", "--dry-run", str(exact)).stderr


def test_list_asks_slurm_and_says_when_it_cannot(tmp_path: Path) -> None:
    transform = [{"step": "write", "filename": "a.sh"}, {"step": "submit", "filename": "a.sh"}]
    path = write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"a.sh": "#!/bin/sh\necho from slurm\n"}))
    done = jobspec_cli("run", "-t", "slurm", "--json", str(path))
    assert done.returncode == 0, done.stderr
    job_id = json.loads(done.stdout)["job_ids"][0]
    assert jobspec_cli("wait", job_id).returncode == 0
    row = jobspec_cli("list").stdout.splitlines()[1].split()
    assert row[:3] == [job_id, "slurm", "completed"]  # asked of Slurm: the index said "submitted"
    assert jobspec_cli("logs", job_id).stdout == "from slurm\n"

    second = jobspec_cli("run", "-t", "slurm", "--json", str(path))
    other = json.loads(second.stdout)["job_ids"][0]
    listed = jobspec_cli("list", env={"SLURM_CONF": str(dead_controller_conf(tmp_path))})
    assert listed.returncode == 0
    assert listed.stdout.splitlines()[1].split()[:3] == [other, "slurm", "submitted?"]
    assert f"{other}: state as last known: Slurm did not answer" in listed.stderr
    assert jobspec_cli("wait", other).returncode == 0
