"""What a user sees around a run, at a real terminal (a pseudo-terminal) and in a pipe:
the job the moment it is submitted, its state while waiting, the jobs an interrupted run
leaves running, where the files went; and `jobspec list`, `logs`, `prune`."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pytest
from support import Session, jobspec_cli, one_core_jobspec

JOB_ID = re.compile(r"job (local-[0-9a-f]+-[0-9a-f]+) submitted")


def gated_jobspec(tmp_path: Path, wait: bool = True) -> Path:
    """A job that runs until the test creates ``tmp_path/go``: the test decides when it ends."""
    script = f"#!/bin/sh\necho started\nwhile [ ! -e {tmp_path}/go ]; do sleep 0.05; done\necho done\n"
    path = tmp_path / "gated.yaml"
    steps = [{"step": "write", "filename": "a.sh"}, {"step": "submit", "filename": "a.sh", "wait": wait}]
    path.write_text(one_core_jobspec(steps, script))
    return path


@pytest.mark.slow
def test_the_job_id_shows_while_the_job_still_runs_and_a_live_line_follows_it(tmp_path: Path) -> None:
    run = Session(["run", str(gated_jobspec(tmp_path))], tty=True)
    job_id = run.read_until(r"job (local-\S+) submitted; output (\S+)\.out")[1]
    # while it waits, one line rewritten in place: state and elapsed time
    line = rf"\r\x1b\[K   job {job_id}: running, waiting"
    turns = run.read_until(rf"{line} (\d+) s[\s\S]*?{line} (\d+) s")  # a loaded machine may skip a second
    assert 1 <= int(turns[1]) < int(turns[2]), run.seen
    (tmp_path / "go").touch()
    code, _ = run.finish()
    assert code == 0
    after = run.seen.split(f"=> step submit {job_id}")[1]
    assert "waiting" not in after  # the live line made way for the step's line
    assert f"jobspec: job {job_id}: output " in run.seen and "jobspec: staging directory /" in run.seen


@pytest.mark.slow
def test_off_a_terminal_one_line_per_change_of_state(tmp_path: Path) -> None:
    run = Session(["run", str(gated_jobspec(tmp_path))], tty=False)
    job_id = run.read_until(r"job (local-\S+) submitted")[1]
    run.read_until(rf"   job {job_id}: running\n")
    time.sleep(2.5)  # two more turns of waiting: the state has not changed, so nothing more
    (tmp_path / "go").touch()
    code, _ = run.finish()
    assert code == 0
    assert run.seen.count(f"job {job_id}: running") == 1 and "\r" not in run.seen


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c at a terminal", "sigterm"])
def test_an_interrupted_run_names_the_jobs_that_keep_running(tmp_path: Path, how: str) -> None:
    run = Session(["run", str(gated_jobspec(tmp_path))], tty=how != "sigterm")
    job_id = run.read_until(r"job (local-\S+) submitted")[1]
    run.proc.send_signal(signal.SIGINT if how != "sigterm" else signal.SIGTERM)
    code, err = run.finish()
    assert code == 130
    assert f"1 job keeps running: {job_id}" in err
    assert f"jobspec status {job_id}" in err and f"jobspec cancel {job_id}" in err
    assert "Traceback" not in err
    assert "running" in jobspec_cli("status", job_id).stdout  # it does keep running
    (tmp_path / "go").touch()
    assert jobspec_cli("wait", job_id).returncode == 0


@pytest.mark.slow
def test_list_shows_jobs_newest_first_and_logs_prints_their_output(tmp_path: Path) -> None:
    script = "#!/bin/sh\necho out of $JOBSPEC_ARRAY_INDEX\necho trouble >&2\n"
    path = tmp_path / "two.yaml"
    steps = [{"step": "write", "filename": "a.sh"}, {"step": "submit", "filename": "a.sh", "wait": True}]
    path.write_text(one_core_jobspec(steps, script))
    ids = []
    for _ in range(2):
        done = jobspec_cli("run", "--json", str(path))
        assert done.returncode == 0, done.stderr
        ids += json.loads(done.stdout)["job_ids"]
    listed = jobspec_cli("list")
    assert listed.returncode == 0, listed.stderr
    rows = listed.stdout.splitlines()
    assert rows[0].split()[:4] == ["JOB", "TRANSFORMER", "STATE", "SUBMITTED"]
    assert [r.split()[0] for r in rows[1:]] == ids[::-1]  # newest first
    assert all(r.split()[1:3] == ["local", "completed"] for r in rows[1:])
    assert str(path) in rows[1]
    as_json = json.loads(jobspec_cli("list", "--json", "-n", "1").stdout)
    assert [j["job_id"] for j in as_json] == [ids[1]] and as_json[0]["stdout"].endswith(f"{ids[1]}.out")

    logs = jobspec_cli("logs", ids[0])
    assert logs.returncode == 0 and logs.stdout == "out of\n" and logs.stderr == "trouble\n"
    assert jobspec_cli("logs", "local-0-0").returncode == 2  # no such job: bad input

    kept = jobspec_cli("prune", "1")
    assert "forgot 0 jobs" in kept.stdout and len(jobspec_cli("list").stdout.splitlines()) == 3
    gone = jobspec_cli("prune", "0")
    assert "forgot 2 jobs" in gone.stdout
    assert jobspec_cli("list").stdout == "" and "no jobs yet" in jobspec_cli("list").stderr


@pytest.mark.slow
def test_logs_follow_prints_until_the_job_ends(tmp_path: Path) -> None:
    path = gated_jobspec(tmp_path, wait=False)
    done = jobspec_cli("run", "--json", str(path))
    assert done.returncode == 0, done.stderr
    job_id = json.loads(done.stdout)["job_ids"][0]
    follow = Session(["logs", "-f", job_id], tty=False)
    follow.read_until("started\n")
    assert follow.proc.poll() is None  # still following: the job has not ended
    (tmp_path / "go").touch()
    code, _ = follow.finish()
    assert code == 0 and follow.seen == "started\ndone\n"


def test_dry_run_json_carries_the_artifacts(tmp_path: Path) -> None:
    path = tmp_path / "a.yaml"
    steps = [{"step": "write", "filename": "a.sh"}, {"step": "submit", "filename": "a.sh"}]
    path.write_text(one_core_jobspec(steps, "#!/bin/sh\necho hi\n"))
    done = jobspec_cli("run", "--dry-run", "--json", str(path))
    assert done.returncode == 0, done.stderr
    steps_out = json.loads(done.stdout)["steps"]
    assert steps_out[0]["artifact"] == "#!/bin/sh\necho hi\n"
    assert steps_out[1]["artifact"] == "/bin/sh '<new temporary directory>/a.sh'"


def test_wait_says_that_it_timed_out(tmp_path: Path) -> None:
    done = jobspec_cli("run", "--json", str(gated_jobspec(tmp_path, wait=False)))
    job_id = json.loads(done.stdout)["job_ids"][0]
    waited = jobspec_cli("wait", "--timeout", "0.5", job_id)
    assert waited.returncode == 1
    assert f"jobspec: {job_id}: timed out after 0.5 s; still running" in waited.stderr
    (tmp_path / "go").touch()
    assert jobspec_cli("wait", job_id).returncode == 0
