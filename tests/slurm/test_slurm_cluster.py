"""The Slurm transformer against the real four-node test cluster (scripts/slurm-cluster).

Nodes n1..n4 share this host, so `hostname` is the same everywhere: tasks name
their node with $SLURMD_NODENAME. What Slurm recorded is read back with
`scontrol show job -o` and compared with what the jobspec asked for.
"""

from __future__ import annotations

import io
import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from slurm_support import (
    SHAPES,
    SUBMIT_AND_WAIT,
    TASK,
    WEIRD,
    graph,
    job_output,
    jobspec_doc,
    run_slurm,
    show,
    write_doc,
)
from support import jobspec_cli, project_examples, seed_examples

from jobspec import run
from jobspec.document.load import load
from jobspec.engine.run import Reporter
from jobspec.transformers.registry import get_transformer_registry
from jobspec.transformers.slurm.transformer import SlurmTransformer

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm")]


# ---------------------------------------------------------------- the examples


@pytest.mark.parametrize("example", seed_examples() + project_examples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_runs_on_slurm(example: Path, interface: str) -> None:
    done = jobspec_cli("run", "-t", "slurm", "--json", str(example), cwd=example.parent, timeout=120)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] and result["transformer"] == "slurm"
    assert result["job_ids"], "every example submits something"
    slurm = SlurmTransformer()
    for step in result["steps"]:
        if not step["job_id"]:
            continue
        assert set(step["details"]) & {"sbatch", "rest"} == {"sbatch" if interface == "cli" else "rest"}
        status = slurm.wait(step["job_id"], timeout=60)
        if example.name == "hello-world-batch.yaml":
            # its script calls `flux submit`, which is not here (127), or, where flux-core is installed
            # (the tests put it on PATH), finds no Flux instance (1): the job fails, the run does not wait
            assert (status.state, status.exit_code) == ("failed", 127 if shutil.which("flux") is None else 1)
        else:
            assert (status.state, status.exit_code) == ("completed", 0), (step, status)
    if example.name == "hello-world-wait-jobspec.yaml":
        assert done.stderr.count("hello world from") == 4  # --json: the streamed output goes to stderr


@pytest.mark.usefixtures("shared")  # its original examples
def test_the_original_python_use() -> None:
    example = next(p for p in seed_examples() if p.name == "hello-world-jobspec.yaml")
    result = (
        get_transformer_registry()
        .get_plugin("slurm")()
        .run(str(example), reporter=Reporter(stream=io.StringIO(), color=False))
    )
    assert result.ok and len(result.job_ids) == 1
    assert SlurmTransformer().wait(result.job_ids[0], timeout=60).state == "completed"
    fields = show(result.job_ids[0])  # (NumNodes reads 4-4, a range, until the job starts)
    assert (fields["NumNodes"], fields["NumTasks"], fields["CPUs/Task"]) == ("4", "4", "4")


# ---------------------------------------------------------------- resources read back


@pytest.mark.parametrize("shape", list(SHAPES))
def test_slurm_allocates_what_the_counts_say(shape: str, tmp_path: Path, interface: str) -> None:
    resources, count, system = SHAPES[shape]
    workdir = tmp_path / "work dir é"
    workdir.mkdir()
    if system and system.get("cwd"):
        system = {**system, "cwd": str(workdir)}
    path = write_doc(tmp_path, jobspec_doc(resources, SUBMIT_AND_WAIT, {"task.sh": TASK}, count, system))
    counts = load(path).counts
    result, _ = run_slurm(path)
    assert result.ok, result.error
    job_id = result.job_ids[0]
    fields = show(job_id)

    # the allocation is counted in slots (every slot's cores), the step starts the task count
    assert fields["NumTasks"] == str(counts.slots)
    assert fields["CPUs/Task"] == str(counts.cores_per_slot)
    assert fields["NumCPUs"] == str(counts.cores)
    if counts.nodes:
        assert fields["NumNodes"] == str(counts.nodes)
    duration = (system or {}).get("duration")
    minutes = -(-duration // 60) if duration else None
    expected_limit = f"{minutes // 60:02d}:{minutes % 60:02d}:00" if minutes else "UNLIMITED"
    if fields["TimeLimit"] == "365-00:00:00" and fields["Scheduler"] == "Backfill":
        fields["TimeLimit"] = "UNLIMITED"  # how Slurm shows no limit on a job its backfill scheduler started
    assert fields["TimeLimit"] == expected_limit
    expected_dir = str(workdir) if (system or {}).get("cwd") else result.stage
    assert fields["WorkDir"] == expected_dir

    # srun started the task count, on the nodes Slurm gave the job
    lines = job_output(result, job_id).splitlines()
    assert len(lines) == counts.tasks
    assert sorted(line.split()[1] for line in lines) == [f"rank={r}/{counts.tasks}" for r in range(counts.tasks)]
    assert len({line.split()[0] for line in lines}) == int(fields["NumNodes"])
    greeting = ((system or {}).get("environment") or {}).get("GREETING", "")
    assert all(line.endswith(f"{greeting}|{expected_dir}") for line in lines), lines


def test_fewer_tasks_than_nodes_keeps_the_nodes(tmp_path: Path, interface: str) -> None:
    path = write_doc(tmp_path, jobspec_doc(graph(3, 1, 1), SUBMIT_AND_WAIT, {"task.sh": TASK}, {"total": 1}))
    result, _ = run_slurm(path)
    assert result.ok, result.error
    assert show(result.job_ids[0])["NumNodes"] == "3"
    assert len(job_output(result, result.job_ids[0]).splitlines()) == 1


def test_batch_holds_the_allocation(tmp_path: Path, interface: str) -> None:
    script = (
        "#!/bin/bash\n"
        'echo "batch on $SLURMD_NODENAME: $JOBSPEC_NODES nodes, $JOBSPEC_TASKS tasks, $JOBSPEC_CORES_PER_TASK cores"\n'
        'srun --ntasks="$JOBSPEC_TASKS" sh -c \'echo "task $SLURM_PROCID"\' | sort\n'
    )
    transform = [{"step": "write", "filename": "b.sh"}, {"step": "batch", "filename": "b.sh", "wait": True}]
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(2, 2, 2), transform, {"b.sh": script})))
    assert result.ok, result.error
    job_id = result.job_ids[0]
    assert job_output(result, job_id).splitlines() == [
        "batch on n1: 2 nodes, 4 tasks, 2 cores",
        "task 0",
        "task 1",
        "task 2",
        "task 3",
    ]
    fields = show(job_id)
    assert (fields["NumNodes"], fields["NumTasks"], fields["CPUs/Task"]) == ("2", "4", "2")


# ---------------------------------------------------------------- failures


def test_a_failing_task_fails_the_job_with_its_exit_code(tmp_path: Path, interface: str) -> None:
    script = '#!/bin/sh\n[ "$JOBSPEC_TASK_RANK" = 1 ] && exit 7\nexit 0\n'
    path = write_doc(tmp_path, jobspec_doc(graph(2, 1, 1), SUBMIT_AND_WAIT, {"task.sh": script}))
    result, _ = run_slurm(path)
    assert not result.ok
    job_id = result.job_ids[0]  # the failed job still has its id in the result
    assert result.error == f"step 2 (submit) failed: job {job_id} failed with exit code 7"
    assert result.steps[1].details["exit_code"] == 7
    status = SlurmTransformer().status(job_id)
    assert (status.state, status.exit_code) == ("failed", 7)
    assert show(job_id)["ExitCode"] == "7:0"


def test_watch_streams_and_ends_with_the_exit_code(tmp_path: Path, interface: str) -> None:
    script = '#!/bin/sh\necho "out $JOBSPEC_TASK_RANK"\necho "err $JOBSPEC_TASK_RANK" >&2\nexit 3\n'
    transform = [{"step": "write", "filename": "w.sh"}, {"step": "submit", "filename": "w.sh", "watch": True}]
    path = write_doc(tmp_path, jobspec_doc(graph(2, 1, 1), transform, {"w.sh": script}))
    done = jobspec_cli("run", "-t", "slurm", str(path))
    assert done.returncode == 1
    assert sorted(line for line in done.stdout.splitlines() if line.startswith("out ")) == ["out 0", "out 1"]
    assert sorted(line for line in done.stderr.splitlines() if line.startswith("err ")) == ["err 0", "err 1"]
    assert "failed with exit code 3" in done.stderr
    assert "jobs submitted: " in done.stderr and "jobs submitted: none" not in done.stderr


def test_slurm_refusing_a_job_shows_slurm_s_message(tmp_path: Path) -> None:
    transform = [
        {"step": "write", "filename": "task.sh"},
        {"step": "submit", "filename": "task.sh"},
        {"step": "set", "key": "slurm.partition", "value": "nope"},
        {"step": "submit", "filename": "task.sh"},
    ]
    path = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), transform, {"task.sh": TASK}))
    done = jobspec_cli("run", "-t", "slurm", str(path))
    assert done.returncode == 1
    assert "Slurm refused the job: invalid partition specified: nope; " in done.stdout
    assert "Batch job submission failed: Invalid partition name specified" in done.stderr
    first = done.stdout.split("=> step submit ")[1].split()[0]
    assert f"steps completed: 1 (write), 2 (submit), 3 (set); jobs submitted: {first}" in done.stderr


@pytest.mark.parametrize(
    ("resources", "setting", "message"),
    [
        (graph(5, 1, 1), None, "Node count specification invalid"),
        (graph(3, 1, 1), "small", "Node count specification invalid"),
        (graph(1, 1, 17), None, "Requested node configuration is not available"),
    ],
)
def test_slurm_refuses_what_it_can_never_run(
    resources: list[dict[str, Any]], setting: str | None, message: str, tmp_path: Path, interface: str
) -> None:
    transform = [{"step": "write", "filename": "task.sh"}, {"step": "submit", "filename": "task.sh"}]
    if setting:
        transform.insert(0, {"step": "set", "key": "slurm.partition", "value": setting})
    done = jobspec_cli(
        "run", "-t", "slurm", str(write_doc(tmp_path, jobspec_doc(resources, transform, {"task.sh": TASK})))
    )
    assert done.returncode == 1 and message in done.stderr, done.stderr
    assert "jobs submitted: none" in done.stderr


def dead_conf(tmp_path: Path, slurm_conf: str) -> Path:
    """The cluster's slurm.conf with the controller on a port nobody listens on."""
    text = Path(slurm_conf).read_text()
    lines = ["SlurmctldPort=16999" if line.startswith("SlurmctldPort=") else line for line in text.splitlines()]
    path = tmp_path / "dead.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.slow
def test_slurm_down_is_one_clear_line(tmp_path: Path, slurm: dict[str, str]) -> None:
    path = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), SUBMIT_AND_WAIT, {"task.sh": TASK}))
    env = {"SLURM_CONF": str(dead_conf(tmp_path, slurm["SLURM_CONF"]))}
    done = jobspec_cli("run", "-t", "slurm", str(path), env=env)
    assert done.returncode == 1
    [line] = done.stderr.splitlines()  # checked before any step: nothing written
    assert line.startswith("jobspec: transformer slurm cannot run here: the Slurm controller does not answer")
    assert line.endswith("; nothing was started")
    assert "Traceback" not in done.stdout + done.stderr


def test_slurm_going_down_mid_run_says_what_completed(
    tmp_path: Path, slurm: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The controller answered when the run began, and is gone by the submit."""
    path = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), SUBMIT_AND_WAIT, {"task.sh": TASK}))
    transformer = SlurmTransformer()
    transformer.ensure_ready()
    monkeypatch.setenv("SLURM_CONF", str(dead_conf(tmp_path, slurm["SLURM_CONF"])))
    result = run(path, transformer, reporter=Reporter(stream=io.StringIO(), output=io.StringIO()))
    assert [s.status for s in result.steps] == ["ok", "failed"] and result.job_ids == []
    assert result.error == (
        "step 2 (submit) failed: Slurm did not answer: "
        "Batch job submission failed: Unable to contact slurm controller (connect failure)"
    )


def test_no_slurm_configuration_fails_at_once(tmp_path: Path) -> None:
    path = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), SUBMIT_AND_WAIT, {"task.sh": TASK}))
    bogus = str(tmp_path / "no-such-slurm.conf")
    started = time.monotonic()
    done = jobspec_cli("run", "-t", "slurm", str(path), env={"SLURM_CONF": bogus})
    assert time.monotonic() - started < 10  # Slurm's own commands retry for a minute
    assert done.returncode == 1
    assert f"cannot run here: SLURM_CONF names {bogus}, which does not exist" in done.stderr
    status = jobspec_cli("status", "42", env={"SLURM_CONF": bogus})
    assert status.returncode == 1 and "Slurm did not answer" in status.stderr and "Traceback" not in status.stderr
    assert SlurmTransformer.available()[0]  # the test's own environment still has the cluster
    listing = jobspec_cli("transformers", env={"SLURM_CONF": bogus})
    assert "slurm  [builtin]  cannot run here (SLURM_CONF names" in listing.stdout


# ---------------------------------------------------------------- staging without a shared filesystem


def test_staged_files_reach_every_node(tmp_path: Path, interface: str) -> None:
    """With sharedfs false, the files travel with the job: a first job deletes the file
    from the (here, shared) stage; the second job still finds it on each of its 4 nodes."""
    transform = [
        {"step": "set", "key": "sharedfs", "value": False},
        {"step": "write", "filename": "data.txt"},
        {"step": "write", "filename": "rm.sh"},
        {"step": "write", "filename": "check.sh", "executable": True},
        {"step": "stage"},
        {"step": "submit", "filename": "rm.sh", "wait": True},
        {"step": "submit", "filename": "check.sh", "wait": True},
    ]
    scripts = {
        "data.txt": "staged data é\n",
        "rm.sh": "rm -f data.txt check.sh\n",
        "check.sh": '#!/bin/sh\ntest -x check.sh && echo "$SLURMD_NODENAME $(cat data.txt)"\n',
    }
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(4, 1, 1), transform, scripts)))
    assert result.ok, result.error
    stage_step = result.steps[4]
    assert stage_step.details["files"] == 3 and "to every node at job start (sbcast)" in stage_step.summary
    lines = sorted(job_output(result, result.job_ids[1]).splitlines())
    assert lines == [f"n{i} staged data é" for i in range(1, 5)]
    assert show(result.job_ids[1])["NodeList"] == "n[1-4]"


def test_a_batch_after_staging_keeps_its_directives(tmp_path: Path, interface: str) -> None:
    transform = [
        {"step": "set", "key": "sharedfs", "value": False},
        {"step": "write", "filename": "data.txt"},
        {"step": "write", "filename": "b.sh"},
        {"step": "stage"},
        {"step": "batch", "filename": "b.sh", "wait": True},
    ]
    scripts = {
        "data.txt": "batch data\n",
        "b.sh": (
            "#!/bin/bash\n#SBATCH --comment=kept\n"
            "srun --ntasks-per-node=1 sh -c 'echo \"$SLURMD_NODENAME $(cat data.txt)\"' | sort\n"
        ),
    }
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(2, 1, 1), transform, scripts)))
    assert result.ok, result.error
    assert job_output(result, result.job_ids[0]).splitlines() == ["n1 batch data", "n2 batch data"]
    assert show(result.job_ids[0])["Comment"] == "kept"


def test_sharedfs_true_stages_nothing(tmp_path: Path) -> None:
    transform = [{"step": "write", "filename": "task.sh"}, {"step": "stage"}, SUBMIT_AND_WAIT[1]]
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), transform, {"task.sh": TASK})))
    assert result.ok and result.steps[1].summary == "skipped (sharedfs)"


# ---------------------------------------------------------------- dependencies


def test_afterok_chain(tmp_path: Path, interface: str) -> None:
    transform = [
        {"step": "write", "filename": "first.sh"},
        {"step": "write", "filename": "second.sh"},
        {"step": "submit", "filename": "first.sh", "name": "first"},
        {"step": "submit", "filename": "second.sh", "after": "first", "wait": True},
    ]
    scripts = {
        "first.sh": "sleep 1; echo ok > first.done\n",
        "second.sh": "test -f first.done && echo ok > second.done\n",
    }
    started = time.monotonic()
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, scripts)))
    assert result.ok, result.error
    first, _ = result.job_ids
    if interface == "cli":
        assert f"--dependency=afterok:{first}" in result.steps[3].details["sbatch"]
    else:
        assert result.steps[3].details["rest"]["dependency"] == f"afterok:{first}"
    assert result.steps[2].seconds < 1  # submitted at once, not waited for in the client
    assert Path(result.stage or "", "second.done").read_text() == "ok\n"
    assert time.monotonic() - started >= 1


def test_a_failed_parent_cancels_the_child(tmp_path: Path, interface: str) -> None:
    transform = [
        {"step": "write", "filename": "a.sh"},
        {"step": "submit", "filename": "a.sh", "name": "first"},
        {"step": "submit", "filename": "a.sh", "after": "first", "wait": True},
    ]
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"a.sh": "exit 1\n"})))
    assert not result.ok
    first, second = result.job_ids
    assert result.error == f"step 3 (submit) failed: job {second} cancelled (dependency never satisfied)"
    child = SlurmTransformer().status(second)
    assert (child.state, child.reason) == ("cancelled", "dependency never satisfied")
    assert show(second)["Dependency"] == f"afterok:{first}(failed)"


# ---------------------------------------------------------------- literal values


def test_values_reach_slurm_literally(tmp_path: Path, interface: str) -> None:
    stage = tmp_path / 'st\'a "g" $(touch pwned) 50%j é'
    workdir = tmp_path / "w d $(x) é"
    workdir.mkdir()
    transform = [
        {"step": "set", "key": "stage", "value": str(stage)},
        {"step": "set", "key": "slurm.options", "value": [f"--comment={WEIRD}"]},
        {"step": "write", "filename": "show.sh"},
        {"step": "submit", "filename": "show.sh", "wait": True},
    ]
    script = '#!/bin/sh\nprintf \'%s|%s|%s|%s\' "$WEIRD" "$(pwd)" "$SLURM_JOB_NAME" "${SLURM_JWT-no token}"\n'
    system = {"environment": {"WEIRD": WEIRD}, "job": {"name": WEIRD}, "cwd": str(workdir)}
    result, _ = run_slurm(
        write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"show.sh": script}, None, system))
    )
    assert result.ok, result.error
    job_id = result.job_ids[0]
    fields = show(job_id)
    assert fields["JobName"] == WEIRD
    assert fields["Comment"] == WEIRD
    assert fields["WorkDir"] == str(workdir)
    # through the REST API, this process's SLURM_JWT (its token) is never handed to the job
    assert (stage / f"slurm-{job_id}.out").read_text(encoding="utf-8") == f"{WEIRD}|{workdir}|{WEIRD}|no token"
    assert not list(tmp_path.rglob("pwned"))
    status = SlurmTransformer().status(job_id)
    assert status.details["name"] == WEIRD and status.details["workdir"] == str(workdir)


def test_options_given_as_one_string_are_split_like_a_shell(tmp_path: Path, interface: str) -> None:
    transform = [
        {"step": "set", "key": "slurm.options", "value": "--comment='two words' --nice=5"},
        *SUBMIT_AND_WAIT,
    ]
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"task.sh": TASK})))
    assert result.ok, result.error
    fields = show(result.job_ids[0])
    assert (fields["Comment"], fields["Nice"]) == ("two words", "5")
