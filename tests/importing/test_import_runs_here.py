"""An imported batch script runs on local: its launch lines through $JOBSPEC_LAUNCH, its
Slurm-only settings shown as ignored (not refused), a misspelt system still refused."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from support import jobspec_cli

SCRIPT = """\
#!/bin/bash
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=2
#SBATCH --cpus-per-task=1
#SBATCH --time=5
#SBATCH --partition=debug
#SBATCH --mem=1G
srun sh -c 'echo "solver rank $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"'
mpirun -np 3 sh -c 'echo "post rank $JOBSPEC_TASK_RANK"'
"""


def imported(tmp_path: Path) -> Path:
    script = tmp_path / "job.sbatch"
    script.write_text(SCRIPT)
    out = tmp_path / "job.yaml"
    done = jobspec_cli("import", str(script), "-o", str(out))
    assert done.returncode == 0, done.stderr
    document = yaml.safe_load(out.read_text())
    document["task"]["transform"][-1]["wait"] = True  # the batch step: wait for it here
    out.write_text(yaml.safe_dump(document))
    return out


def test_an_imported_script_runs_on_local_with_its_launch_lines(tmp_path: Path) -> None:
    done = jobspec_cli("run", "-t", "local", "--json", str(imported(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "slurm.partition='debug' (a setting for slurm: ignored by local)" in done.stderr
    result = json.loads(done.stdout)
    lines = sorted(Path(result["steps"][-1]["details"]["stdout"]).read_text().splitlines())
    assert lines == [
        "post rank 0",
        "post rank 1",
        "post rank 2",
        *(f"solver rank {r} of 4" for r in range(4)),  # srun without -n: the job's 2 x 2 tasks
    ]


def test_another_systems_setting_is_accepted_but_a_misspelt_one_is_not(tmp_path: Path) -> None:
    path = imported(tmp_path)
    assert jobspec_cli("validate", "-t", "local", str(path)).returncode == 0
    path.write_text(path.read_text().replace("slurm.partition", "slrum.partition"))
    done = jobspec_cli("validate", "-t", "local", str(path))
    assert done.returncode == 2
    assert "unknown setting 'slrum.partition'" in done.stderr


def test_an_imported_array_runs_one_job_per_index_here(tmp_path: Path) -> None:
    script = tmp_path / "array.sbatch"
    script.write_text('#!/bin/sh\n#SBATCH --array=2-4\n#SBATCH -n 1\necho "element $SLURM_ARRAY_TASK_ID"\n')
    out = tmp_path / "array.yaml"
    assert jobspec_cli("import", str(script), "-o", str(out)).returncode == 0
    document = yaml.safe_load(out.read_text())
    document["task"]["transform"][-1]["wait"] = True
    out.write_text(yaml.safe_dump(document))
    done = jobspec_cli("run", "-t", "local", "--json", str(out))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    stage = Path(result["stage"])
    outputs = {i: (stage / f"{job}.out").read_text() for i, job in result["steps"][-1]["details"]["array"].items()}
    assert outputs == {"2": "element 2\n", "3": "element 3\n", "4": "element 4\n"}
