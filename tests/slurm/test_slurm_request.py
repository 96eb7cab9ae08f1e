"""What the Slurm transformer decides, without a cluster: the time limit, the task
layout, the sbatch command line, and the scripts it generates.

The generated scripts are run here with stand-ins for srun and sbcast, so their
quoting is proven by a real shell rather than by reading the text.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from slurm_support import node_graph
from support import jobspec_cli

from jobspec.document.resources import ResourceCounts, count_resources
from jobspec.transformers.slurm.parse import find_in_squeue
from jobspec.transformers.slurm.request import (
    JobRequest,
    duration_problem,
    export_file,
    layout_options,
    options_problem,
    output_path,
    output_pattern,
    output_problem,
    sbatch_argv,
    sbatch_env,
    time_limit,
)
from jobspec.transformers.slurm.rest_mapping import rest_job
from jobspec.transformers.slurm.script import batch_wrapper, pack, sbatch_directives, stage_preamble, submit_script
from jobspec.transformers.slurm.transformer import SlurmTransformer

WEIRD = 'it\'s "q" $(echo pwned) `x` a  b\nline2 é 50%j \\n'


# ---------------------------------------------------------------- time limits


@pytest.mark.parametrize(
    ("duration", "expected"),
    [(None, None), (0, None), (0.5, "1"), (1, "1"), (59, "1"), (60, "1"), (61, "2"), (3600, "60"), (90061, "1502")],
)
def test_time_limit_is_whole_minutes_rounded_up(duration: float | None, expected: str | None) -> None:
    assert time_limit(duration) == expected


def test_durations_slurm_cannot_hold() -> None:
    assert duration_problem(None) is None
    assert duration_problem(3600) is None
    assert "longer than the longest" in (duration_problem(1e12) or "")
    assert "not a number" in (duration_problem(float("inf")) or "")


# ---------------------------------------------------------------- layout and argv


@pytest.mark.parametrize(
    ("graph", "count", "sbatch", "srun"),
    [
        # nodes with slots of cores: 2 nodes x 2 slots, 2 cores each
        (
            node_graph(2, 2, 2),
            None,
            ["--nodes=2", "--ntasks=4", "--ntasks-per-node=2", "--cpus-per-task=2"],
            ["--nodes=2", "--ntasks=4", "--ntasks-per-node=2", "--cpus-per-task=2"],
        ),
        # slots with no node level
        (node_graph(0, 3, 2), None, ["--ntasks=3", "--cpus-per-task=2"], ["--ntasks=3", "--cpus-per-task=2"]),
        # per_slot 2: the allocation holds the slots (4 cores each), the step shares each among 2 tasks
        (
            node_graph(2, 1, 4),
            {"per_slot": 2},
            ["--nodes=2", "--ntasks=2", "--ntasks-per-node=1", "--cpus-per-task=4"],
            ["--nodes=2", "--ntasks=4", "--ntasks-per-node=2", "--cpus-per-task=2"],
        ),
        # total: 3 tasks over 2 nodes of 2 slots: all 4 slots allocated, 3 tasks started
        (
            node_graph(2, 2, 1),
            {"total": 3},
            ["--nodes=2", "--ntasks=4", "--ntasks-per-node=2", "--cpus-per-task=1"],
            ["--nodes=2", "--ntasks=3", "--cpus-per-task=1"],
        ),
        # total 5 over 4 slots of 2 cores: 8 cores allocated (not 5), 5 tasks
        (
            node_graph(0, 4, 2),
            {"total": 5},
            ["--ntasks=4", "--cpus-per-task=2"],
            ["--ntasks=5", "--cpus-per-task=1"],
        ),
        # fewer tasks than nodes: the allocation keeps its nodes, the step uses what it needs
        (
            node_graph(4, 1, 1),
            {"total": 1},
            ["--nodes=4", "--ntasks=4", "--ntasks-per-node=1", "--cpus-per-task=1"],
            ["--nodes=1", "--ntasks=1", "--ntasks-per-node=1", "--cpus-per-task=1"],
        ),
        # a gpu shared by the 2 tasks of its slot: every gpu allocated, none a task
        (
            node_graph(2, 2, 2, gpus=1),
            {"per_slot": 2},
            ["--nodes=2", "--ntasks=4", "--ntasks-per-node=2", "--cpus-per-task=2", "--gpus-per-node=2"],
            ["--nodes=2", "--ntasks=8", "--ntasks-per-node=4", "--cpus-per-task=1"],
        ),
        # more tasks in a slot than it has cores
        (
            node_graph(1, 1, 2),
            {"per_slot": 4},
            ["--nodes=1", "--ntasks=1", "--ntasks-per-node=1", "--cpus-per-task=2"],
            ["--nodes=1", "--ntasks=4", "--ntasks-per-node=4", "--cpus-per-task=1", "--overcommit"],
        ),
        # gpus
        (
            node_graph(1, 2, 2, gpus=1),
            None,
            ["--nodes=1", "--ntasks=2", "--ntasks-per-node=2", "--cpus-per-task=2", "--gpus-per-task=1"],
            ["--nodes=1", "--ntasks=2", "--ntasks-per-node=2", "--cpus-per-task=2", "--gpus-per-task=1"],
        ),
    ],
)
def test_layout_from_the_core_counts(
    graph: list[dict[str, object]], count: dict[str, int] | None, sbatch: list[str], srun: list[str]
) -> None:
    counts = count_resources(graph, "s", count)  # type: ignore[arg-type]
    assert layout_options(counts) == sbatch
    assert layout_options(counts, step=True) == srun


def test_exclusive_is_for_the_allocation_only() -> None:
    counts = ResourceCounts(nodes=1, slots=1, cores_per_slot=1, gpus_per_slot=0, tasks=1, exclusive=True)
    assert "--exclusive" in layout_options(counts)
    assert "--exclusive" not in layout_options(counts, step=True)


def full_request(**changes: object) -> JobRequest:
    fields: dict[str, object] = {
        "job_name": WEIRD,
        "workdir": "/work dir",
        "stage": "/st 100%",
        "duration": 90,
        "after": ("41",),
        "partition": "small",
        "account": "acct",
        "qos": "normal",
        "options": ("--comment=" + WEIRD, "--time=5"),
        "environment": {"GREETING": WEIRD, "JOBSPEC_STAGE": "/st 100%"},
        **changes,
    }
    return JobRequest(count_resources(node_graph(2, 1, 2), "s"), **fields)  # type: ignore[arg-type]


def test_sbatch_argv() -> None:
    argv = sbatch_argv(full_request(), "/st 100%/batch.sh")
    assert argv == [
        "sbatch",
        "--parsable",
        f"--job-name={WEIRD}",
        "--chdir=/work dir",
        "--output=/st 100%%/slurm-%j.out",
        "--error=/st 100%%/slurm-%j.err",
        "--export=ALL",
        "--export-file=<fd>",
        "--nodes=2",
        "--ntasks=2",
        "--ntasks-per-node=1",
        "--cpus-per-task=2",
        "--time=2",
        "--dependency=afterok:41",
        "--kill-on-invalid-dep=yes",
        "--partition=small",
        "--account=acct",
        "--qos=normal",
        f"--comment={WEIRD}",
        "--time=5",  # the user's options come last: they override
        "/st 100%/batch.sh",
    ]
    assert sbatch_argv(full_request(), None, 7)[7] == "--export-file=7"
    # the environment goes to the job in the export file: never onto the command line, nor into sbatch's own
    assert not any("GREETING" in a for a in argv)
    assert export_file(full_request().environment) == f"GREETING={WEIRD}\0JOBSPEC_STAGE=/st 100%\0".encode()
    user = {"PATH": "/bin", "GREETING": "old", "SBATCH_PARTITION": "p", "SLURM_JWT": "t", "SLURM_CONF": "/c"}
    assert sbatch_env(user) == {"PATH": "/bin", "GREETING": "old", "SLURM_CONF": "/c"}


def test_sbatch_argv_minimal_reads_the_script_from_stdin() -> None:
    request = JobRequest(count_resources(node_graph(0, 1, 1), "s"), job_name="j", workdir="/w", stage="/s")
    argv = sbatch_argv(request)
    assert argv[-1] == "--cpus-per-task=1"
    assert not any(a.startswith(("--time", "--dependency", "--partition", "--account", "--qos")) for a in argv)


def test_a_submit_key_goes_into_the_comment_where_squeue_finds_it() -> None:
    counts = count_resources(node_graph(0, 1, 1), "s")
    request = JobRequest(counts, job_name="j", workdir="/w", stage="/s", key="run.3", options=("--nice=1",))
    assert sbatch_argv(request)[-2:] == ["--comment=jobspec-submit-key=run.3", "--nice=1"]
    assert rest_job(request, {})["comment"] == "jobspec-submit-key=run.3"
    listing = "7 (null)\n8 jobspec-submit-key=run.3\n9 jobspec-submit-key=run.33\n12 jobspec-submit-key=run.3\n"
    assert find_in_squeue(listing, "run.3") == "12"
    assert find_in_squeue(listing, "run.4") is None


def test_output_names() -> None:
    assert output_pattern("/a%b/", "out") == "/a%%b/slurm-%j.out"
    assert output_path("/a%b", "12", "err") == "/a%b/slurm-12.err"
    assert output_problem("/a%b c") is None
    assert "backslash" in (output_problem("/a\\b") or "")


def test_passthrough_options_must_start_with_an_option() -> None:
    assert options_problem([]) is None
    assert options_problem(["--comment", "two words"]) is None
    assert "must start with an option" in (options_problem(["small"]) or "")


# ---------------------------------------------------------------- the scripts, run by a real shell


@pytest.fixture
def fake_slurm(tmp_path: Path) -> dict[str, str]:
    """srun and sbcast stand-ins: srun drops its options and runs the command once
    (rank 0 of 1); sbcast copies. Both log their arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    (bin_dir / "srun").write_text(
        "#!/bin/sh\n"
        f'printf "srun %s\\n" "$*" >> {log}\n'
        'while [ "${1#--}" != "$1" ]; do shift; done\n'
        'SLURM_PROCID=0 SLURM_NTASKS=1 exec "$@"\n'
    )
    (bin_dir / "sbcast").write_text(f'#!/bin/sh\nprintf "sbcast %s\\n" "$*" >> {log}\ncp "$2" "$3"\n')
    for tool in ("srun", "sbcast"):
        (bin_dir / tool).chmod(0o755)
    return {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "SLURM_JOB_ID": f"t{os.getpid()}",
        "SLURM_JOB_NUM_NODES": "1",
        "LOG": str(log),
    }


def run_script(text: str, env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "job.sh"
    path.write_text(text, encoding="utf-8")
    return subprocess.run(
        ["/bin/sh", str(path)], capture_output=True, text=True, env={**os.environ, **env}, cwd=tmp_path, timeout=30
    )


def test_submit_script_passes_every_argument_literally(fake_slurm: dict[str, str], tmp_path: Path) -> None:
    command = ["/bin/sh", "-c", 'printf "%s|" "$@" "$JOBSPEC_TASK_RANK/$JOBSPEC_TASK_COUNT"', "argv0", WEIRD, "", "*"]
    text = submit_script(command, count_resources(node_graph(2, 1, 3), "s"))
    assert text.startswith("#!/bin/sh\n")
    done = run_script(text, fake_slurm, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{WEIRD}||*|0/1|"
    srun_line = Path(fake_slurm["LOG"]).read_text()
    assert "--nodes=2 --ntasks=2 --ntasks-per-node=1 --cpus-per-task=3" in srun_line


def test_submit_script_exit_code_is_the_task_s(fake_slurm: dict[str, str], tmp_path: Path) -> None:
    text = submit_script(["/bin/sh", "-c", "exit 7"], count_resources(node_graph(0, 1, 1), "s"))
    assert run_script(text, fake_slurm, tmp_path).returncode == 7


def test_sbatch_directives_are_read_from_the_header_only() -> None:
    content = "#!/bin/bash\n#SBATCH --comment=kept\n\n# a comment\n#SBATCH -t 5\necho hi\n#SBATCH --ignored\n"
    assert sbatch_directives(content) == ["#SBATCH --comment=kept", "#SBATCH -t 5"]


def test_stage_preamble_unpacks_the_stage_on_the_node(fake_slurm: dict[str, str], tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub dir").mkdir(parents=True)
    (source / "data é.txt").write_text("data\n")
    (source / "sub dir" / "run.sh").write_text("#!/bin/sh\necho ran\n")
    (source / "sub dir" / "run.sh").chmod(0o755)
    archive, count = pack(source)
    assert count == 2
    target = tmp_path / f"target {WEIRD.splitlines()[0]}"
    preamble = stage_preamble(base64.encodebytes(archive).decode(), str(target))
    text = batch_wrapper(str(target / "sub dir" / "run.sh"), "#!/bin/sh\n#SBATCH -t 1\necho ran\n", preamble)
    assert text.splitlines()[1] == "#SBATCH -t 1"  # directives stay where sbatch reads them
    done = run_script(text, fake_slurm, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ran\n"
    assert (target / "data é.txt").read_text() == "data\n"
    assert os.access(target / "sub dir" / "run.sh", os.X_OK)
    calls = Path(fake_slurm["LOG"]).read_text().splitlines()
    assert calls[0].startswith("sbcast --force /tmp/jobspec-stage-")
    assert not list(Path("/tmp").glob(f"jobspec-stage-{fake_slurm['SLURM_JOB_ID']}*"))  # cleaned up


# ---------------------------------------------------------------- the transformer's cheap parts


@pytest.mark.parametrize(
    ("ident", "owned"),
    [("42", True), ("42_3", True), ("local-1", False), ("4a", False), ("42\n", False), ("_3", False)],
)
def test_owns_job_id(ident: str, owned: bool) -> None:
    assert SlurmTransformer.owns_job_id(ident) is owned


def test_unavailable_without_a_configuration(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "no-such.conf"))
    ok, why = SlurmTransformer.available()
    assert not ok and ("does not exist" in why or "not on the PATH" in why)


def test_import_runs_no_command() -> None:
    """Importing the transformer must stay cheap: no subprocess at import."""
    code = (
        "import subprocess, sys\n"
        "def refuse(*a, **k): raise SystemExit('subprocess at import')\n"
        "subprocess.run = subprocess.Popen = refuse\n"
        "import jobspec.transformers.slurm.transformer\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def _graph(
    *, nodes: object = 2, node_extra: tuple[dict[str, object], ...] = (), **slot: object
) -> list[dict[str, object]]:
    below: list[dict[str, object]] = [{"type": "core", "count": slot.get("cores", 2)}]
    if slot.get("gpus"):
        below.append({"type": "gpu", "count": slot["gpus"]})
    if slot.get("memory"):
        below.append({"type": "memory", "count": slot["memory"], "unit": "MB"})
    vertex = {"type": "slot", "label": "s", "count": slot.get("slots", 2), "with": below}
    return [{"type": "node", "count": nodes, "with": [*node_extra, vertex]}] if nodes else [vertex]


@pytest.mark.parametrize(
    ("graph", "expected"),
    [
        # memory per slot, on nodes: per node exactly (2 slots x 512 MB)
        (_graph(memory=512), ["--mem=1024"]),
        # the node's own memory beside its slots'
        (_graph(memory=512, node_extra=({"type": "memory", "count": 1, "unit": "GB"},)), ["--mem=2048"]),
        # no node: per cpu, a slot's memory over its cores (rounded up)
        (_graph(nodes=0, memory=1000, cores=3), ["--mem-per-cpu=334"]),
        # the node's own gpus beside its slots': per node
        (_graph(gpus=1, node_extra=({"type": "gpu", "count": 2},)), ["--gpus-per-node=4"]),
        # a node count range
        (_graph(nodes={"min": 1, "max": 3, "operator": "+", "operand": 1}), ["--nodes=1-3", "--ntasks-per-node=2"]),
    ],
)
def test_memory_gpus_and_node_ranges_reach_sbatch(graph: list[dict[str, object]], expected: list[str]) -> None:
    options = layout_options(count_resources(graph, "s"))  # type: ignore[arg-type]
    assert set(expected) <= set(options), options
    assert not any(o.startswith("--ntasks=") for o in options) or "--nodes=1-3" not in options


def test_sockets_reach_sbatch() -> None:
    graph = [{"type": "node", "count": 1, "with": [{"type": "socket", "count": 2, "with": _graph(nodes=0, slots=1)}]}]
    options = layout_options(count_resources(graph, "s"))  # type: ignore[arg-type]
    assert "--sockets-per-node=2" in options and "--ntasks=2" in options


def test_a_node_range_step_starts_the_tasks_per_node() -> None:
    graph = _graph(nodes={"min": 1, "max": 3, "operator": "+", "operand": 1})
    assert layout_options(count_resources(graph, "s", {"per_slot": 2}), step=True)[:1] == ["--ntasks-per-node=4"]  # type: ignore[arg-type]
    assert layout_options(count_resources(graph, "s", {"total": 3}), step=True)[:1] == ["--ntasks=3"]  # type: ignore[arg-type]


RANGES = """\
version: 1
resources:
- type: node
  count: {min: 1, max: 4, operator: '*', operand: 2}
  with:
  - type: slot
    label: s
    count: 1
    with:
    - type: core
      count: {min: 1, max: 4, operator: '+', operand: 1}
task:
  command: [hostname]
  slot: s
  count: {per_slot: 1}
  transform:
  - {step: submit}
"""


def test_what_slurm_cannot_be_asked_is_refused_at_plan_time(tmp_path: Path) -> None:
    path = tmp_path / "ranges.yaml"
    path.write_text(RANGES)
    done = jobspec_cli("run", "-t", "slurm", "--dry-run", str(path))
    assert done.returncode == 2, done.stderr
    assert f"{path}:4:10: resources[0].count: Slurm's --nodes=min-max takes any count in the range" in done.stderr
    assert "operator '+' and operand 1, or a fixed count" in done.stderr
    assert (
        f"{path}:11:14: resources[0].with[0].with[0].count: Slurm takes a count range only for the nodes" in done.stderr
    )
    assert "Traceback" not in done.stderr and done.stdout == ""
    fixed = RANGES.replace("operator: '*', operand: 2", "operator: '+', operand: 1").replace(
        "count: {min: 1, max: 4, operator: '+', operand: 1}\ntask", "count: 2\ntask"
    )
    path.write_text(fixed)
    done = jobspec_cli("run", "-t", "slurm", "--dry-run", str(path))
    assert done.returncode == 0, done.stderr
    assert "--nodes=1-4" in done.stdout + done.stderr


def test_rfc14_use_case_memory_reaches_sbatch(shared: Path) -> None:
    import yaml

    from jobspec import load

    doc = yaml.safe_load((shared / "flux-rfc" / "spec_14" / "use_case_2.5.yaml").read_text())
    doc["version"] = 1  # 10 slots of a core and at least 2 GB each, no node level
    assert layout_options(load(doc).counts) == ["--ntasks=10", "--cpus-per-task=1", "--mem-per-cpu=2048"]
