"""The receiver on the local transformer: arrival order, exactly one outcome per jobspec,
graceful stops, several receivers, faults, and kill -9 at random moments."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import HELLO, jobspec_cli, make_jobspec, one_core_jobspec

from jobspec.receiver.service import Receiver
from jobspec.receiver.spool import Spool


def two_submits(wait: bool = False, script: str = "true") -> str:
    second = {"step": "submit", "filename": "a.sh", **({"wait": True} if wait else {})}
    return one_core_jobspec(
        [{"step": "write", "filename": "a.sh"}, {"step": "submit", "filename": "a.sh"}, second], script
    )


def outcomes(spool: Spool) -> dict[str, list[str]]:
    """Each jobspec's id -> the states it was filed under (exactly one, if all is well)."""
    found: dict[str, list[str]] = {}
    for state in ("incoming", "active", "done", "failed"):
        for path in spool.dir(state).iterdir():
            if path.suffix == ".yaml":
                found.setdefault(path.stem, []).append(state)
    return found


def local_jobs_by_key(state_dir: Path) -> dict[str, int]:
    counts: dict[str, int] = {}
    for job in (state_dir / "local").glob("local-*/job.json"):
        key = json.loads(job.read_text()).get("key")
        if key:
            counts[key] = counts.get(key, 0) + 1
    return counts


def receive(spool: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "jobspec.cli.main", "receive", "--spool", str(spool), "-t", "local", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_enqueue_validates_all_or_nothing(tmp_path: Path) -> None:
    good = make_jobspec(tmp_path, HELLO, "good.yaml")
    bad = make_jobspec(tmp_path, HELLO.replace("step: submit", "step: sumbit"), "bad.yaml")
    assert jobspec_cli("spool", "create", str(tmp_path / "spool")).returncode == 0
    done = jobspec_cli("enqueue", "--spool", str(tmp_path / "spool"), str(good), str(bad))
    assert done.returncode == 2 and "did you mean 'submit'" in done.stderr
    assert not (tmp_path / "spool" / "incoming").exists() or not list((tmp_path / "spool" / "incoming").iterdir())
    done = jobspec_cli("enqueue", "--spool", str(tmp_path / "spool"), str(good), str(good))
    assert done.returncode == 0
    names = Spool(tmp_path / "spool").waiting()
    assert len(names) == 2 and names == sorted(names) and all(n.endswith("-good.yaml") for n in names)
    assert list((tmp_path / "spool" / "tmp").iterdir()) == []


def test_once_runs_everything_in_arrival_order_and_files_results(tmp_path: Path, state_dir: Path) -> None:
    spool = Spool(tmp_path / "spool")
    names = [spool.enqueue_text(two_submits(wait=True), f"job{i}.yaml").name for i in range(5)]
    spool.enqueue_text(HELLO.replace("step: submit", "step: sumbit"), "broken.yaml")  # never blocks the rest
    counts = Receiver(spool, "local").run(once=True)
    assert (counts.done, counts.failed) == (5, 1)
    assert all(states == ["done"] for name, states in outcomes(spool).items() if "job" in name)
    result = json.loads((spool.dir("done") / names[0].replace(".yaml", ".result.json")).read_text())
    assert result["state"] == "done" and len(result["job_ids"]) == 2
    assert [s["status"] for s in result["steps"]] == ["ok", "ok", "ok"]
    lines = (spool.dir("done") / names[0].replace(".yaml", ".result.json")).read_text().splitlines()
    assert sum(line.lstrip().startswith('{"index":') for line in lines) == 3  # a step a line, to read
    failed = next(spool.dir("failed").glob("*.result.json"))
    assert "unknown step 'sumbit'" in json.loads(failed.read_text())["reason"]
    started = [
        json.loads((spool.dir("done") / n.replace(".yaml", ".result.json")).read_text())["started"] for n in names
    ]
    assert started == sorted(started)
    status = jobspec_cli("spool", "status", str(spool.root))
    assert "0 incoming, 0 active, 5 done, 1 failed" in status.stdout and "broken.yaml" in status.stdout


def test_a_failed_job_files_the_jobspec_as_failed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.enqueue_text(two_submits(wait=True, script="exit 3"))
    assert Receiver(spool, "local").run(once=True).failed == 1
    result = json.loads(next(spool.dir("failed").glob("*.result.json")).read_text())
    assert "exit code 3" in result["reason"] and len(result["job_ids"]) == 2


def test_sigterm_finishes_the_step_then_leaves_the_rest_waiting(tmp_path: Path, state_dir: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for i in range(3):
        spool.enqueue_text(two_submits(wait=True, script="sleep 1"), f"slow{i}.yaml")
    receiver = receive(spool.root)
    deadline = time.monotonic() + 20
    while not list(spool.dir("active").glob("*.yaml")) and time.monotonic() < deadline:
        time.sleep(0.02)
    receiver.send_signal(signal.SIGTERM)
    assert receiver.wait(timeout=30) == 0
    assert list(spool.dir("active").glob("*.yaml")) == []
    assert len(spool.waiting()) >= 2  # the unstarted ones, and the interrupted one given back
    Receiver(spool, "local").run(once=True)
    assert all(states == ["done"] for states in outcomes(spool).values())
    assert sorted(local_jobs_by_key(state_dir).values()) == [1] * 6  # no step submitted twice


def test_several_receivers_never_run_the_same_jobspec(tmp_path: Path, state_dir: Path) -> None:
    spool = Spool(tmp_path / "spool")
    for i in range(40):
        spool.enqueue_text(two_submits(), f"j{i}.yaml")
    receivers = [receive(spool.root, "--once", "--workers", "2") for _ in range(3)]
    for r in receivers:
        assert r.wait(timeout=120) == 0
    assert all(states == ["done"] for states in outcomes(spool).values()) and len(outcomes(spool)) == 40
    assert sorted(local_jobs_by_key(state_dir).values()) == [1] * 80


@pytest.mark.slow
def test_kill_9_at_random_moments_loses_nothing_and_repeats_nothing(tmp_path: Path, state_dir: Path) -> None:
    """200 jobspecs of two submit steps; receivers SIGKILLed at random until the spool is empty."""
    spool = Spool(tmp_path / "spool")
    for i in range(200):
        spool.enqueue_text(two_submits(), f"j{i:03}.yaml")
    rng = random.Random(20261125)
    kills = 0
    deadline = time.monotonic() + 300
    while (spool.waiting() or list(spool.dir("active").glob("*.yaml"))) and time.monotonic() < deadline:
        receiver = receive(spool.root, "--once", "--workers", "2")
        try:
            receiver.wait(timeout=rng.uniform(0.05, 1.5))
        except subprocess.TimeoutExpired:
            receiver.send_signal(signal.SIGKILL)
            receiver.wait()
            kills += 1
    assert kills >= 5, "the receivers were not interrupted often enough to test anything"
    found = outcomes(spool)
    assert len(found) == 200
    assert all(states in (["done"], ["failed"]) for states in found.values()), found
    assert all(states == ["done"] for states in found.values())
    jobs = local_jobs_by_key(state_dir)
    expected = {f"{name}.{index}" for name in found for index in (1, 2)}
    assert set(jobs) == expected  # every submit step ran ...
    assert set(jobs.values()) == {1}  # ... exactly once


def test_faults_are_logged_and_the_receiver_keeps_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    import errno

    from jobspec.receiver import spool as spool_module

    spool = Spool(tmp_path / "spool")
    first = spool.enqueue_text(two_submits(), "disk-full.yaml").name
    spool.enqueue_text(two_submits(), "fine.yaml")
    (spool.dir("incoming") / "0-a-directory.yaml").mkdir()  # unreadable as a jobspec
    real = spool_module.write_atomically

    def full_disk(path: Path, data: bytes) -> None:
        if Path(first).stem in path.name:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(spool_module, "write_atomically", full_disk)
    counts = Receiver(spool, "local").run(once=True)
    assert counts.errors == 1 and counts.done == 1 and counts.failed == 1
    assert "cannot file the result in done/: [Errno 28] No space left on device" in caplog.text
    assert (spool.dir("active") / first).exists()  # kept for a later receiver
    directory = json.loads((spool.dir("failed") / "0-a-directory.result.json").read_text())
    assert "is a directory" in directory["reason"]
    monkeypatch.setattr(spool_module, "write_atomically", real)
    import jobspec.receiver.service as service

    monkeypatch.setattr(service, "RECOVER_EVERY", 0.0)
    assert Receiver(spool, "local").run(once=True).done == 1  # the held-back one, recovered
    assert outcomes(spool)[Path(first).stem] == ["done"]


def test_a_file_that_vanishes_while_being_claimed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    name = spool.enqueue_text(two_submits()).name
    (spool.dir("incoming") / name).unlink()
    assert spool.claim(name) is None


def test_result_directory_that_cannot_be_written(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool = Spool(tmp_path / "spool")
    spool.enqueue_text(two_submits(), "a.yaml")
    spool.enqueue_text(two_submits(), "b.yaml")
    spool.dir("done").write_text("not a directory")
    counts = Receiver(spool, "local").run(once=True)
    assert counts.errors == 2 and "cannot file the result in done/" in caplog.text
    assert len(list(spool.dir("active").glob("*.yaml"))) == 2
    assert os.path.isfile(spool.dir("done"))
