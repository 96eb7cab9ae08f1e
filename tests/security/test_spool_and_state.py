"""Issue 15, items 2, 7 and 9: the receiver's spool and the local job store.

Every spooled entry ends in done/ or failed/ with a reason, whatever it is; only
regular files are read; the receiver stops on SIGTERM; private things are private;
cancel signals only the job's own supervisor.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import HELLO, jobspec_cli, make_jobspec

from jobspec.receiver.service import Receiver
from jobspec.receiver.spool import Spool
from jobspec.transformers.local import jobs


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def result_of(spool: Spool, name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((spool.dir("failed") / f"{Path(name).stem}.result.json").read_text())
    return data


def test_a_fifo_and_a_link_in_incoming_are_filed_as_failed_unread(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.create()
    secret = tmp_path / "secret.yaml"
    secret.write_text("private: true\n")
    secret.chmod(0o600)
    os.mkfifo(spool.dir("incoming") / "1-fifo.yaml")
    (spool.dir("incoming") / "2-link.yaml").symlink_to(secret)
    spool.enqueue_text(HELLO, "3-good.yaml")
    counts = Receiver(spool, "local").run(once=True)  # a FIFO used to block every worker here
    assert (counts.done, counts.failed) == (1, 2)
    assert "is a FIFO, not a regular file" in str(result_of(spool, "1-fifo.yaml")["reason"])
    assert "is a symbolic link, not a regular file" in str(result_of(spool, "2-link.yaml")["reason"])
    assert (spool.dir("failed") / "2-link.yaml").is_symlink()  # the link moved, its target untouched
    assert secret.read_text() == "private: true\n" and mode(secret) == 0o600
    assert not list(spool.dir("incoming").iterdir()) and not list(spool.dir("active").iterdir())


def test_an_unexpected_error_files_the_jobspec_as_failed_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spool = Spool(tmp_path / "spool")
    spool.enqueue_text(HELLO, "boom.yaml")

    def explode(*_: object, **__: object) -> None:
        raise ValueError("something nobody expected")

    monkeypatch.setattr("jobspec.engine.run.Execution.start", explode)
    counts = Receiver(spool, "local").run(once=True)
    assert counts.failed == 1
    [failed] = [p for p in spool.dir("failed").iterdir() if p.suffix == ".yaml"]
    assert "unexpected error while running it: ValueError: something nobody expected" in str(
        result_of(spool, failed.name)["reason"]
    )
    assert not list(spool.dir("active").iterdir())  # nothing left to retry forever


def test_sigterm_stops_a_receiver_facing_a_fifo(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.create()
    os.mkfifo(spool.dir("incoming") / "fifo.yaml")
    receiver = subprocess.Popen(
        [sys.executable, "-m", "jobspec.cli.main", "receive", "--spool", str(spool.root), "-t", "local"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while not (spool.dir("failed") / "fifo.yaml").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    receiver.send_signal(signal.SIGTERM)
    assert receiver.wait(timeout=20) == 0
    assert (spool.dir("failed") / "fifo.yaml").exists()


def test_the_spool_and_its_results_are_private(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.enqueue_text(HELLO, "job.yaml")
    Receiver(spool, "local").run(once=True)
    assert mode(spool.root) == 0o700
    for state in ("tmp", "incoming", "active", "done", "failed", "journal"):
        assert mode(spool.dir(state)) == 0o700, state
    for path in spool.dir("done").iterdir():
        assert mode(path) == 0o600, path.name


def test_the_local_job_store_is_private(tmp_path: Path, state_dir: Path) -> None:
    text = HELLO + ("attributes:\n  system:\n    environment: {API_TOKEN: not-for-others}\n")
    done = jobspec_cli("run", "-t", "local", str(make_jobspec(tmp_path, text)))
    assert done.returncode == 0, done.stderr
    [record] = list((state_dir / "local").glob("local-*/job.json"))
    assert "not-for-others" in record.read_text()
    assert mode(record) == 0o600
    assert mode(record.parent) == 0o700 and mode(record.parent.parent) == 0o700 and mode(state_dir) == 0o700


def test_cancel_signals_only_the_jobs_own_supervisor(tmp_path: Path) -> None:
    text = HELLO.replace('echo "task $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"', "sleep 30").replace(
        "    wait: true\n", ""
    )
    done = jobspec_cli("run", "-t", "local", "--json", str(make_jobspec(tmp_path, text)))
    job_id = json.loads(done.stdout)["job_ids"][0]
    bystander = subprocess.Popen(["sleep", "60"])
    try:
        job = jobs.LocalJob(job_id)
        real = (job.dir / "pid").read_text()
        (job.dir / "pid").write_text(str(bystander.pid))  # a record that names someone else's process
        assert not job.signal_supervisor(signal.SIGTERM)
        time.sleep(0.2)
        assert bystander.poll() is None
        (job.dir / "pid").write_text(real)
        cancelled = jobspec_cli("cancel", job_id)
        assert cancelled.returncode == 0 and cancelled.stdout.split()[1] == "cancelled"
    finally:
        bystander.kill()


def test_a_broken_job_record_is_a_clear_error(state_dir: Path, tmp_path: Path) -> None:
    done = jobspec_cli("run", "-t", "local", "--json", str(make_jobspec(tmp_path)))
    job_id = json.loads(done.stdout)["job_ids"][0]
    (state_dir / "local" / job_id / "job.json").write_text("{not json")
    (state_dir / "local" / job_id / "state.json").write_text("[1, 2")
    status = jobspec_cli("status", job_id)
    assert status.returncode == 1 and "Traceback" not in status.stderr
    assert f"the record of local job {job_id} is unreadable" in status.stderr


def test_a_local_job_does_not_inherit_the_submitters_slurm_token(tmp_path: Path) -> None:
    text = HELLO.replace('echo "task $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"', 'echo "jwt=${SLURM_JWT-unset}"')
    done = jobspec_cli("run", "-t", "local", "--json", str(make_jobspec(tmp_path, text)), env={"SLURM_JWT": "s3cret"})
    assert done.returncode == 0, done.stderr
    output = Path(json.loads(done.stdout)["steps"][-1]["details"]["stdout"]).read_text()
    assert output.splitlines() == ["jwt=unset", "jwt=unset"]
