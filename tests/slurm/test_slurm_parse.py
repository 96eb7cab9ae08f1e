"""Reading what Slurm prints, without a cluster: sbatch's answers and errors,
``scontrol show job -o`` records, and job states in jobspec's terms.

The scontrol records under records/ were printed by the real 22.05 test cluster.
"""

from __future__ import annotations

import pytest
from slurm_support import record

from jobspec.transformers.slurm.parse import (
    SbatchOutputError,
    job_status,
    map_state,
    parse_sbatch,
    parse_scontrol,
    sbatch_failure,
)

# ---------------------------------------------------------------- what sbatch says


def test_parse_sbatch() -> None:
    assert parse_sbatch("42\n") == "42"
    assert parse_sbatch("42;cluster\n") == "42"
    with pytest.raises(SbatchOutputError):
        parse_sbatch("Submitted batch job 42\n")


def test_sbatch_failures_say_what_slurm_said() -> None:
    refused = (
        "sbatch: error: invalid partition specified: nope\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n"
    )
    assert sbatch_failure(refused, 1) == (
        "Slurm refused the job: invalid partition specified: nope; "
        "Batch job submission failed: Invalid partition name specified"
    )
    down = "sbatch: error: Batch job submission failed: Unable to contact slurm controller (connect failure)\n"
    assert sbatch_failure(down, 1) == (
        "Slurm did not answer: Batch job submission failed: Unable to contact slurm controller (connect failure)"
    )
    assert "unrecognized option '--bogus'" in sbatch_failure(
        "sbatch: unrecognized option '--bogus'\nTry \"sbatch --help\" for more information\n", 255
    )
    assert sbatch_failure("", 3) == "Slurm refused the job: sbatch exited with status 3 and said nothing"


# ---------------------------------------------------------------- scontrol show job -o


def test_parse_scontrol_plain_record() -> None:
    fields = parse_scontrol(record("failed"))
    assert fields["JobId"] == "29"
    assert fields["JobName"] == "wrap"
    assert fields["UserId"] == "root(0)"
    assert (fields["JobState"], fields["Reason"], fields["ExitCode"]) == ("FAILED", "NonZeroExitCode", "7:0")
    assert fields["TRES"] == "cpu=1,node=1,billing=1"
    assert fields["AllocNode:Sid"] == "localhost:24707"
    assert (fields["NumNodes"], fields["NumTasks"], fields["CPUs/Task"]) == ("1", "1", "1")
    assert fields["WorkDir"] == "/tmp/exp"
    assert fields["StdOut"] == "/dev/null"
    assert fields["Power"] == ""


def test_parse_scontrol_free_text_holding_anything() -> None:
    fields = parse_scontrol(record("literal-values"))
    weird = 'it\'s "q" $(echo pwned) `x` a  b\nline2 é 50%j'
    assert fields["JobName"] == weird
    assert fields["Comment"] == weird
    assert fields["WorkDir"] == '/tmp/exp/lit/st\'a "g" $(x) 50%j é'
    assert fields["StdIn"] == "/dev/null"
    assert fields["JobState"] == "COMPLETED"


def test_parse_scontrol_a_name_cannot_fake_a_state() -> None:
    fields = parse_scontrol(record("name-with-newline"))
    assert fields["JobName"] == 'we"ird $(x) name\nline2 é JobState=RUNNING'
    assert fields["JobState"] == "COMPLETED"


def test_parse_scontrol_a_comment_cannot_fake_an_output() -> None:
    fields = parse_scontrol(record("comment"))
    assert fields["Comment"] == "my comment StdOut=/x"
    assert fields["StdErr"] == fields["StdOut"] == "/tmp/exp/sp ace-9.out"
    assert (fields["NumNodes"], fields["NumTasks"], fields["CPUs/Task"], fields["TimeLimit"]) == (
        "2",
        "4",
        "3",
        "00:02:00",
    )


def test_parse_scontrol_other_records() -> None:
    interactive = parse_scontrol(record("interactive"))  # srun: no StdOut fields
    assert (interactive["Command"], interactive["WorkDir"], interactive["Power"]) == ("true", "/tmp/exp", "")
    array = parse_scontrol(record("array"))  # several jobs: the first
    assert (array["JobId"], array["ArrayTaskId"]) == ("34", "2")
    cancelled = parse_scontrol(record("dependency-never-satisfied"))
    assert cancelled["KillOInInvalidDependent"] == "Yes"  # a key after StdOut/Power
    assert cancelled["StdOut"] == "/dev/null"


# ---------------------------------------------------------------- states


@pytest.mark.parametrize(
    ("state", "exit_code", "reason", "expected"),
    [
        ("PENDING", "0:0", "Dependency", ("pending", None, "Dependency")),
        ("PENDING", "0:0", "None", ("pending", None, None)),
        ("CONFIGURING", "0:0", "None", ("pending", None, None)),
        ("RUNNING", "0:0", "None", ("running", None, None)),
        ("COMPLETING", "0:0", "None", ("running", None, None)),
        ("COMPLETED", "0:0", "None", ("completed", 0, None)),
        ("FAILED", "7:0", "NonZeroExitCode", ("failed", 7, None)),
        ("FAILED", "0:9", "RaisedSignal:9(Killed)", ("failed", 137, "RaisedSignal:9(Killed)")),
        ("FAILED", "0:9", "None", ("failed", 137, "killed by signal 9")),
        ("TIMEOUT", "0:15", "TimeLimit", ("failed", 143, "time limit of 00:01:00 reached")),
        ("NODE_FAIL", "0:0", "NodeDown", ("failed", None, "a node of the job failed")),
        ("OUT_OF_MEMORY", "0:125", "OutOfMemory", ("failed", 253, "out of memory")),
        ("CANCELLED", "0:15", "None", ("cancelled", None, None)),
        ("CANCELLED", "0:0", "DependencyNeverSatisfied", ("cancelled", None, "dependency never satisfied")),
        ("WEIRD_NEW", "0:0", "None", ("running", None, "Slurm state WEIRD_NEW")),
    ],
)
def test_map_state(state: str, exit_code: str, reason: str, expected: tuple[str, int | None, str | None]) -> None:
    assert map_state(state, exit_code, reason, "00:01:00") == expected


def test_job_status_from_records() -> None:
    failed = job_status("29", parse_scontrol(record("failed")))
    assert (failed.state, failed.exit_code, failed.reason, failed.transformer) == ("failed", 7, None, "slurm")
    assert failed.details["nodes"] == "n1" and failed.details["slurm_state"] == "FAILED"
    child = job_status("30", parse_scontrol(record("dependency-never-satisfied")))
    assert (child.state, child.reason) == ("cancelled", "dependency never satisfied")
    assert job_status("x", parse_scontrol(record("pending"))).state == "pending"
    assert job_status("x", parse_scontrol(record("running"))).state == "running"
    assert job_status("x", parse_scontrol(record("cancelled"))).state == "cancelled"
    timeout = record("failed").replace("JobState=FAILED Reason=NonZeroExitCode", "JobState=TIMEOUT Reason=TimeLimit")
    timeout = timeout.replace("ExitCode=7:0", "ExitCode=0:15").replace("TimeLimit=UNLIMITED", "TimeLimit=00:01:00")
    status = job_status("29", parse_scontrol(timeout))
    assert (status.state, status.exit_code, status.reason) == ("failed", 143, "time limit of 00:01:00 reached")
