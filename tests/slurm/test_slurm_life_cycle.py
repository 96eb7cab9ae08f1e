"""The Slurm job life cycle against the real test cluster (scripts/slurm-cluster): status,
wait and cancel from the command line, job ids, dry runs and plan-time refusals, and a
resumed run that finds the job it submitted instead of submitting it again.
"""

from __future__ import annotations

import io
import json
import subprocess
import uuid
from pathlib import Path

import pytest
from slurm_support import SUBMIT_AND_WAIT, TASK, graph, jobspec_doc, show, write_doc
from support import after_held, after_many_jobspec, jobspec_cli

from jobspec.engine.journal import Journal
from jobspec.engine.plan import plan
from jobspec.engine.run import Reporter, execute
from jobspec.transformers.slurm.transformer import SlurmTransformer

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm")]


def submit_sleeper(tmp_path: Path, body: str) -> str:
    transform = [{"step": "write", "filename": "s.sh"}, {"step": "submit", "filename": "s.sh"}]
    path = write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"s.sh": body}), f"{abs(hash(body))}.yaml")
    done = jobspec_cli("run", "-t", "slurm", "--json", str(path))
    assert done.returncode == 0, done.stderr
    job_id: str = json.loads(done.stdout)["job_ids"][0]
    return job_id


def test_status_wait_cancel_from_the_command_line(tmp_path: Path, interface: str) -> None:
    job_id = submit_sleeper(tmp_path, "sleep 60\n")
    status = jobspec_cli("status", job_id)
    assert status.returncode == 0 and status.stdout.split()[:2] in ([job_id, "running"], [job_id, "pending"])
    timed = jobspec_cli("wait", "--timeout", "0.2", job_id)
    assert timed.returncode == 1 and timed.stdout.split()[1] in ("running", "pending")
    cancel = jobspec_cli("cancel", job_id)
    assert cancel.returncode == 0 and cancel.stdout.split()[:2] == [job_id, "cancelled"], cancel.stdout + cancel.stderr
    waited = jobspec_cli("wait", job_id)
    assert waited.returncode == 1 and waited.stdout.strip() == f"{job_id}  cancelled"
    again = jobspec_cli("cancel", job_id)  # already over: says so, changes nothing
    assert again.returncode == 0 and again.stdout.split()[:2] == [job_id, "cancelled"]

    ok = submit_sleeper(tmp_path, "exit 0\n")
    waited = jobspec_cli("wait", ok)
    assert waited.returncode == 0 and waited.stdout.strip() == f"{ok}  completed  exit code 0"
    bad = submit_sleeper(tmp_path, "exit 5\n")
    waited = jobspec_cli("wait", "--json", bad)
    assert waited.returncode == 1
    [record] = json.loads(waited.stdout)
    assert (record["state"], record["exit_code"], record["transformer"]) == ("failed", 5, "slurm")
    assert record["details"]["slurm_state"] == "FAILED"


def test_unknown_slurm_job_ids() -> None:
    missing = jobspec_cli("status", "999999")
    assert missing.returncode == 2 and "no Slurm job 999999" in missing.stderr
    odd = jobspec_cli("status", "-t", "slurm", "abc")
    assert odd.returncode == 2 and "'abc' is not a Slurm job id" in odd.stderr


def test_available_and_listed() -> None:
    ok, why = SlurmTransformer.available()
    assert ok and why.endswith(" is UP")
    listing = jobspec_cli("transformers")
    assert f"slurm  [builtin]  can run here ({why})" in listing.stdout


def test_dry_run_submits_nothing(tmp_path: Path) -> None:
    name = f"dry-{uuid.uuid4().hex[:8]}"  # the job's name, from the file's: no other test's (the cluster is shared)
    doc = jobspec_doc(graph(2, 1, 2), SUBMIT_AND_WAIT, {"task.sh": TASK}, None, {"duration": 60})
    path = write_doc(tmp_path, doc, f"{name}.yaml")
    done = jobspec_cli("run", "-t", "slurm", "--dry-run", str(path))
    assert done.returncode == 0, done.stderr
    assert f"would run `sbatch --parsable --job-name={name}" in done.stderr  # in words, on stderr
    assert "--nodes=2 --ntasks=2 --ntasks-per-node=1 --cpus-per-task=2 --time=1" in done.stderr
    assert "whose script starts 2 tasks of" in done.stderr
    # the command line and the script sbatch reads, as they are, on stdout
    assert f"\nsbatch --parsable --job-name={name} " in done.stdout and "\n#!/bin/sh\n" in done.stdout
    queued = subprocess.run(["squeue", "-h", "-t", "all", "-n", name, "-o", "%i"], capture_output=True, text=True)
    assert queued.returncode == 0 and queued.stdout.split() == []


def test_plan_time_refusals(tmp_path: Path) -> None:
    transform = [
        {"step": "set", "key": "slurm.options", "value": ["small"]},
        {"step": "write", "filename": "b.sh"},
        {"step": "batch", "filename": "b.sh"},
    ]
    path = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), transform, {"b.sh": "echo no hash-bang\n"}))
    done = jobspec_cli("run", "-t", "slurm", str(path))
    assert done.returncode == 2
    assert "slurm.options must start with an option" in done.stderr
    assert "'b.sh' must start with a #! line" in done.stderr


def test_a_resumed_run_adopts_its_job_instead_of_submitting_again(tmp_path: Path, interface: str) -> None:
    """A journaled run (the receiver's) marks each job with its submit key; cut short
    between sbatch and the journal line, the run finds its job again on resume."""
    transform = [{"step": "write", "filename": "task.sh"}, {"step": "submit", "filename": "task.sh"}]
    path = write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"task.sh": TASK}))
    journal_path = tmp_path / "journal.jsonl"
    key = f"run-{uuid.uuid4().hex}"
    quiet = Reporter(stream=io.StringIO(), output=io.StringIO(), color=False)
    first = execute(plan(path, SlurmTransformer()), quiet, journal=Journal(journal_path, key))
    assert first.ok, first.error
    job_id = first.job_ids[0]
    assert show(job_id)["Comment"] == f"jobspec-submit-key={key}.1"
    assert SlurmTransformer().find_job(f"{key}.1") == job_id
    assert SlurmTransformer().find_job(f"{key}.9") is None

    lines = journal_path.read_text().splitlines()  # as if killed before the submit's line
    journal_path.write_text("".join(f"{line}\n" for line in lines if '"index": 1' not in line))
    again = execute(plan(path, SlurmTransformer()), quiet, journal=Journal(journal_path, key))
    assert again.ok, again.error
    assert again.job_ids == [job_id] and again.steps[1].details.get("adopted")


def test_after_an_array_and_a_list_is_one_afterok_on_every_job(tmp_path: Path, interface: str) -> None:
    done = jobspec_cli("run", "-t", "slurm", "--json", str(after_many_jobspec(tmp_path)), timeout=180)
    assert done.returncode == 0, done.stderr
    assert after_held(Path(json.loads(done.stdout)["stage"]))
    dry = jobspec_cli("run", "-t", "slurm", "--dry-run", str(after_many_jobspec(tmp_path)))
    assert "afterok:<job of step many>:<job of step one>" in dry.stdout  # sbatch option, or REST field
