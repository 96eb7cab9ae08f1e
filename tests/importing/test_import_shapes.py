"""The resource graph gives back exactly the request (counted by `jobspec.count_resources`),
and launch lines become the portable launcher."""

from __future__ import annotations

import itertools

import pytest
from import_support import body, counts, imported, script

import jobspec
from jobspec.importing.launch import JobShape, rewrite_line

SHAPES = [
    # nodes, ntasks, per node, cpus per task, gpus per task
    (n, t, p, c, g)
    for n, t, p, c, g in itertools.product((None, 1, 2, 3), (None, 1, 4, 6), (None, 2, 3), (None, 1, 4), (None, 1, 2))
]


def expected(n: int | None, t: int | None, p: int | None, c: int | None, g: int | None) -> dict[str, object] | None:
    """Slurm's reading of the options, or None where it is a contradiction."""
    if p is not None and n is None:
        n = -(-t // p) if t else 1
    if n is not None and t is not None and (t < n or (p is not None and t > n * p)):
        return None
    tasks = t if t is not None else (n or 1) * (p or 1)
    return {"nodes": n, "tasks": tasks, "cpus": c or 1, "gpus": g or 0}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_the_graph_counts_back_to_the_request(shape: tuple[int | None, ...]) -> None:
    n, t, p, c, g = shape
    options = [
        f"--{name}={value}"
        for name, value in (
            ("nodes", n),
            ("ntasks", t),
            ("ntasks-per-node", p),
            ("cpus-per-task", c),
            ("gpus-per-task", g),
        )
        if value is not None
    ]
    text = script(*(f"#SBATCH {o}" for o in options), "srun ./app")
    want = expected(n, t, p, c, g)
    if want is None:
        with pytest.raises(Exception, match="tasks"):
            imported(text)
        return
    got = counts(text)
    assert {k: got[k] for k in want} == want


@pytest.mark.parametrize(
    ("options", "gpus_per_task", "kept"),
    [
        (["--gres=gpu:4", "-N 2", "--ntasks-per-node=4"], 1, None),  # 4 per node over 4 tasks
        (["--gpus-per-node=2", "-N 1", "-n 4"], 0, None),  # 2 GPUs a node, shared by its 4 tasks
        (["--gpus=3", "-n 2"], 0, ["--gpus=3"]),  # 3 GPUs over 2 tasks and no node count: Slurm only
        (["--gpus=8", "-n 4"], 2, None),
        (["--gres=gpu:v100:2", "-n 1", "-N 1"], 2, None),  # the type is reported as dropped
    ],
)
def test_gpus_map_per_task_or_stay_slurm_options(
    options: list[str], gpus_per_task: int, kept: list[str] | None
) -> None:
    result = imported(script(*(f"#SBATCH {o}" for o in options)))
    assert counts(script(*(f"#SBATCH {o}" for o in options)))["gpus"] == gpus_per_task
    steps = {s.get("key"): s.get("value") for s in result.document["task"]["transform"] if s["step"] == "set"}
    assert steps.get("slurm.options") == kept


def test_gpus_a_node_shared_by_its_tasks_are_in_the_graph() -> None:
    result = imported(script("#SBATCH -N 2 --ntasks-per-node=4 --gpus-per-node=2"))
    counted = jobspec.load(result.document).counts
    assert (counted.gpus, counted.gpus_per_node, counted.gpus_per_slot) == (4, 2, 0)
    assert "mapped: --gpus-per-node=2: 2 GPUs a node, shared by its tasks" in result.report()


SHAPE = JobShape(nodes=2, tasks=8, cpus_per_task=2, gpus_per_task=0)


@pytest.mark.parametrize(
    ("line", "after"),
    [
        ("srun ./a.out > out.txt", "$JOBSPEC_LAUNCH -N 2 -n 8 -c 2 ./a.out > out.txt"),
        ("  srun -n 4 ./a.out arg", "  $JOBSPEC_LAUNCH -n 4 ./a.out arg"),
        ("srun --ntasks=4 -c1 --gpus-per-task=1 app", "$JOBSPEC_LAUNCH -n 4 -c 1 --gpus-per-task=1 app"),
        ("srun -N1 -n1 python x.py &", "$JOBSPEC_LAUNCH -N 1 -n 1 python x.py &"),
        ("mpirun -np 16 ./lmp -in in.lj", "$JOBSPEC_LAUNCH -n 16 ./lmp -in in.lj"),
        ("/usr/bin/mpiexec -n $NP ./a", "$JOBSPEC_LAUNCH -n $NP ./a"),
        ("mpirun -machinefile $PBS_NODEFILE -np 4 ./a", "$JOBSPEC_LAUNCH -n 4 ./a"),
        ("mpirun ./a", "$JOBSPEC_LAUNCH -N 2 -n 8 -c 2 ./a"),
    ],
)
def test_launch_lines_become_the_portable_launcher(line: str, after: str) -> None:
    new, note = rewrite_line(line, SHAPE, 1)
    assert new == after
    assert note is not None and note.after == after


@pytest.mark.parametrize(
    "line",
    ["srun --mpi=pmix ./a", "mpirun --bind-to core -np 4 ./a", "mpirun -hostfile hosts -np 2 ./a", "srun"],
)
def test_launch_lines_without_a_portable_spelling_are_kept_and_reported(line: str) -> None:
    new, note = rewrite_line(line, SHAPE, 7)
    assert new == line
    assert note is not None and note.after is None


def test_other_lines_are_left_alone() -> None:
    for line in ("echo srun -n 4", "# srun -n 4 ./a", "sruntime -n 1", "python train.py"):
        assert rewrite_line(line, SHAPE, 1) == (line, None)


def test_the_report_names_each_launch_line() -> None:
    result = imported(script("#SBATCH -n 4", "srun -n 4 ./a", "mpirun --bind-to core ./b"))
    assert "$JOBSPEC_LAUNCH -n 4 ./a" in body(result)
    report = result.report()
    assert "job.sh:3: mapped: launch line -> $JOBSPEC_LAUNCH -n 4 ./a" in report
    assert "job.sh:4: kept as written: launch line (--bind-to has no portable spelling)" in report
