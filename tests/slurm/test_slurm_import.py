"""The import round trip on the real cluster: a script submitted as it is (`sbatch --hold`)
and its import run by jobspec (`jobspec run -t slurm`, held through slurm.options) give the
same job, as `scontrol show job` records it."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from slurm_support import show
from support import jobspec_cli

from jobspec.importing import import_script

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm")]

FIELDS = ("NumNodes", "NumTasks", "CPUs/Task", "MinMemoryNode", "MinMemoryCPU", "TRES", "TimeLimit", "Features")
# GPUs as asked (without slurmdbd, TRES lists no gres/gpu): a node's, a task's, the job's
FIELDS += ("TresPerNode", "TresPerTask", "TresPerJob", "ReqNodeList", "ExcNodeList")

SCRIPTS = {
    "nodes-per-node-cpus": "#SBATCH -N 2 --ntasks-per-node=4 -c 2\n#SBATCH -t 10 --mem=100\n",
    "tasks-mem-per-cpu": "#SBATCH -n 3\n#SBATCH --time=1:30 --mem-per-cpu=50\n",
    "uneven": "#SBATCH --nodes=3 --ntasks=5 --time=0-01:00:00\n",
    "exclusive-days": "#SBATCH --exclusive -N 1\n#SBATCH -t 2-0\n",
    "per-node-only": "#SBATCH --ntasks-per-node=4 --cpus-per-task=4 --time=90\n",
    "nodes-only": "#SBATCH -N 2 --time=5\n",
    "nothing": "",
    "name-and-mail": "#SBATCH -J imported --mail-type=END --time=00:20:00 -n 2\n",
    "pbs-nodes-ppn": "#PBS -l nodes=2:ppn=4,walltime=00:30:00\n#PBS -N pbsjob\n",
    "mem-per-node-gb": "#SBATCH -N 2 -n 4 --mem=1G -t 5\n",
    "mem-per-cpu-cores": "#SBATCH -n 2 -c 3 --mem-per-cpu=64 -t 5\n",
    "features-and": "#SBATCH -N 2 -n 2 --constraint=intel&ib -t 5\n",
    "features-or": "#SBATCH -n 1 -C intel|amd -t 5\n",
    "gpus-per-task": "#SBATCH -N 1 -n 2 --gpus-per-task=1 -t 5\n",
    "hosts": "#SBATCH -N 2 -n 2 --nodelist=n[2-3] -t 5\n",
    "hosts-excluded": "#SBATCH -N 2 -n 4 --exclude=n1 -t 5\n",
    "gpus-per-node-shared": "#SBATCH -N 2 --ntasks-per-node=4 --gpus-per-node=2 -t 5\n",
    "pbs-mem": "#PBS -l nodes=1:ppn=2,mem=512mb,walltime=00:05:00\n",
}


def submit_original(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / f"{name}.orig.sh"
    path.write_text(text)
    done = subprocess.run(
        ["sbatch", "--parsable", "--hold", f"--chdir={tmp_path}", str(path)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().split(";")[0]


def submit_import(tmp_path: Path, name: str, text: str) -> str:
    document = import_script(text, f"{name}.sh").document
    for step in document["task"]["transform"]:
        if step["step"] == "set" and step["key"] == "slurm.options":
            step["value"].append("--hold")
            break
    else:
        document["task"]["transform"].insert(0, {"step": "set", "key": "slurm.options", "value": ["--hold"]})
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    done = jobspec_cli("run", "-t", "slurm", "--json", str(path), timeout=120)
    assert done.returncode == 0, done.stderr
    job_ids = json.loads(done.stdout)["job_ids"]
    assert len(job_ids) == 1
    return str(job_ids[0])


def fields(record: dict[str, str]) -> dict[str, str | None]:
    """The compared fields. NumNodes by its minimum: a node count sbatch derived from
    --ntasks-per-node alone is recorded open-ended ("1"), the import asks for it ("1-1")."""
    out = {f: record.get(f) for f in FIELDS}
    out["NumNodes"] = (record.get("NumNodes") or "").split("-")[0]
    out["state"] = f"{record.get('JobState')} {record.get('Reason')}"
    return out


UNEVEN = pytest.mark.xfail(
    strict=True,
    reason="the import writes 5 tasks on 3 nodes as 3 nodes of 2 one-core slots (total: 5); Slurm now allocates "
    "every slot the graph names (6 CPUs), where the script asked for 5: no RFC 25 graph says 5 over 3 nodes",
)


@pytest.mark.parametrize("name", [pytest.param(n, marks=UNEVEN) if n == "uneven" else n for n in sorted(SCRIPTS)])
def test_an_imported_script_is_the_same_job_on_slurm(tmp_path: Path, name: str) -> None:
    text = "#!/bin/sh\n" + SCRIPTS[name] + "srun hostname\n"
    original = submit_original(tmp_path, name, text)
    try:
        mine = submit_import(tmp_path, name, text)
        try:
            want, got = fields(show(original)), fields(show(mine))
            assert got == want
            assert got["state"] == "PENDING JobHeldUser"
        finally:
            subprocess.run(["scancel", mine], check=False, timeout=30)
    finally:
        subprocess.run(["scancel", original], check=False, timeout=30)
