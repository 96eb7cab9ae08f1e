"""Reading directives as the schedulers do: where they stop, how words split, what overrides."""

from __future__ import annotations

import pytest
from import_support import body, counts, imported, script, setting

import jobspec
from jobspec.document.problems import JobspecError
from jobspec.importing.times import flux_seconds, pbs_seconds, slurm_seconds


@pytest.mark.parametrize(
    ("text", "want"),
    [
        # sbatch stops at the first command: the later #SBATCH is a comment
        (script("#SBATCH -N 2", "echo hi", "#SBATCH -N 4"), {"nodes": 2, "tasks": 2}),
        # blank lines and comments do not stop it; indented #SBATCH is no directive
        (script("", "# a comment", "#SBATCH --ntasks=3", "  #SBATCH --ntasks=9"), {"nodes": None, "tasks": 3}),
        # both spellings of a value, short and long, attached and not
        (script("#SBATCH --nodes 2 --ntasks-per-node=4", "#SBATCH -c2"), {"nodes": 2, "tasks": 8, "cpus": 2}),
        (script("#SBATCH -n4 -c 3"), {"nodes": None, "tasks": 4, "cpus": 3}),
        # a trailing comment, quotes, and the old #SLURM prefix
        (script("#SBATCH --ntasks=6 # six tasks", "#SLURM --cpus-per-task='2'"), {"tasks": 6, "cpus": 2}),
        # getopt_long takes a unique prefix of a long name
        (script("#SBATCH --ntasks-per-n=2 --nodes=3"), {"nodes": 3, "tasks": 6}),
        # the last of two wins
        (script("#SBATCH -n 2", "#SBATCH -n 5"), {"tasks": 5}),
        # --ntasks-per-node alone: one node
        (script("#SBATCH --ntasks-per-node=4"), {"nodes": 1, "tasks": 4}),
        # nothing at all: one task of one core
        (script("echo hello"), {"nodes": None, "tasks": 1, "cpus": 1}),
        # PBS: Torque's nodes:ppn, PBS Pro's select
        (
            script("#PBS -l nodes=2:ppn=4,walltime=01:00:00", "cd $PBS_O_WORKDIR"),
            {"nodes": 2, "tasks": 8, "duration": 3600},
        ),
        (
            script("#PBS -l select=3:ncpus=8:mpiprocs=4", "#PBS -l walltime=90"),
            {"nodes": 3, "tasks": 12, "cpus": 2, "duration": 90},
        ),
        (script("#PBS -l nodes=1:ppn=2:gpus=2"), {"nodes": 1, "tasks": 2, "gpus": 1}),
        # PBS Pro: no chunk count is one chunk; ngpus=0 asks for no GPU
        (script("#PBS -l select=ncpus=4:mpiprocs=2:ngpus=0"), {"nodes": 1, "tasks": 2, "cpus": 2, "gpus": 0}),
        (script("#PBS -l ngpus=0,ncpus=2"), {"tasks": 1, "cpus": 2, "gpus": 0}),
        # flux batch directives
        (
            script("# flux: -N 2 -n 4 -c 2", "# flux: -t 30m", "flux run hostname"),
            {"nodes": 2, "tasks": 4, "cpus": 2, "duration": 1800},
        ),
        (script("# flux: -n2 -g 1 -t 5"), {"tasks": 2, "gpus": 1, "duration": 300}),
    ],
)
def test_directives_give_the_request(text: str, want: dict[str, object]) -> None:
    got = counts(text)
    assert {k: got[k] for k in want} == want


def test_command_line_options_override_the_directives() -> None:
    text = script("#SBATCH -N 2 --ntasks-per-node=2", "#SBATCH --time=10")
    assert counts(text, "-N", "4", "--time=1:00:00") == {
        "nodes": 4,
        "tasks": 8,
        "cpus": 1,
        "gpus": 0,
        "exclusive": False,
        "duration": 3600.0,
    }
    pbs = script("#PBS -l nodes=1:ppn=2")
    assert counts(pbs, "-l", "nodes=2:ppn=2")["tasks"] == 4


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("10", 600),
        ("10:30", 630),
        ("1:02:03", 3723),
        ("2-0", 172800),
        ("1-2:30", 95400),
        ("1-0:0:1", 86401),
        ("UNLIMITED", None),
        ("-1", None),
        ("infinite", None),
    ],
)
def test_slurm_time_formats(text: str, seconds: int | None) -> None:
    assert slurm_seconds(text) == seconds


@pytest.mark.parametrize("bad", ["soon", "1:2:3:4", "1-2-3", "", "1.5", "1:"])
def test_slurm_time_refuses_what_sbatch_refuses(bad: str) -> None:
    with pytest.raises(ValueError, match="minutes"):
        slurm_seconds(bad)


def test_pbs_and_flux_time_formats() -> None:
    assert [pbs_seconds(t) for t in ("3600", "30:00", "01:00:00", "1:00:00:00", "10.5")] == [
        3600,
        1800,
        3600,
        86400,
        11,
    ]
    assert [flux_seconds(t) for t in ("5", "30s", "1.5h", "2d", "inf")] == [300, 30, 5400, 172800, None]


def test_what_has_no_portable_meaning_is_kept_for_slurm() -> None:
    result = imported(
        script(
            "#SBATCH -J sim -p debug -A proj --qos=high -D /scratch/run",
            "#SBATCH --mem=4G --constraint=haswell --mail-type=END --export=ALL,OMP_NUM_THREADS=4",
            "#SBATCH -o out.%j --exclusive -t 5",
        )
    )
    system = result.document["attributes"]["system"]
    assert system["job"] == {"name": "sim"}
    assert system["cwd"] == "/scratch/run"
    assert system["environment"] == {"OMP_NUM_THREADS": "4"}
    assert setting(result, "slurm.partition") == "debug"
    assert setting(result, "slurm.account") == "proj"
    assert setting(result, "slurm.qos") == "high"
    assert setting(result, "slurm.options") == ["--mail-type=END", "--output=out.%j", "--mem=4G"]
    assert system["constraints"] == {"properties": ["haswell"]}  # a portable meaning: which nodes qualify
    assert result.document["resources"][0]["exclusive"] is True
    report = result.report()
    assert "job.sh:3:9: kept for slurm only: --mem=4G: --mem=4G (memory a node, but the script names no node" in report
    assert "kept for slurm only: -p debug: setting slurm.partition" in report


def test_unknown_directive_is_a_warning_and_arrays_are_mapped() -> None:
    result = imported(script("#SBATCH --frobnicate=3 --array=1-4 -n 2"))
    assert "job.sh:2:9: warning: --frobnicate=3: not an sbatch option: ignored" in result.report()
    assert "mapped: --array=1-4: a job array of 4" in result.report()
    assert result.document["task"]["transform"][-1]["array"] == "1-4"
    assert counts(script("#SBATCH --frobnicate=3 --array=1-4 -n 2"))["tasks"] == 2


def test_array_indexes_and_their_variables_become_jobspecs() -> None:
    for directive, variable in (
        ("#SBATCH --array=0-6:3%2", "$SLURM_ARRAY_TASK_ID"),
        ("#PBS -J 0-6:3", "${PBS_ARRAY_INDEX}"),
        ("#PBS -t 0-6:3", "$PBS_ARRAYID"),
    ):
        result = imported(script(directive, f'echo "element {variable}"'))
        assert result.document["task"]["transform"][-1]["array"] == "0-6:3", directive
        assert 'echo "element ${JOBSPEC_ARRAY_INDEX}"' in body(result), directive
        assert "mapped: array index: -> ${JOBSPEC_ARRAY_INDEX}" in result.report()


def test_a_malformed_array_is_refused_with_its_place() -> None:
    with pytest.raises(JobspecError, match=r"job.sh:2:9: .*array '5-2'"):
        imported(script("#SBATCH --array=5-2"))


def test_directives_in_the_body_are_marked_so_no_scheduler_reads_them_again() -> None:
    result = imported(script("#SBATCH -N 2", "#PBS -l nodes=9", "srun hostname", "#SBATCH -N 8"))
    lines = body(result).splitlines()
    assert lines[:3] == ["#!/bin/bash", "# [imported] #SBATCH -N 2", "# [imported] #PBS -l nodes=9"]
    assert lines[-1] == "#SBATCH -N 8"  # after the first command: a plain comment, left alone


def test_a_script_without_a_shebang_gets_bash() -> None:
    result = imported("#PBS -l nodes=1\ncd $PBS_O_WORKDIR\n")
    assert body(result).startswith("#!/bin/bash\n")


@pytest.mark.parametrize(
    ("text", "argv", "where", "what"),
    [
        (script("#SBATCH -N 2", "#SBATCH --time=soon"), (), "job.sh:3:9", "--time takes a time limit"),
        (script("#SBATCH --ntasks=3 --nodes=4 --ntasks-per-node=2"), (), "job.sh:2:9", "3 tasks cannot fill 4 nodes"),
        (script("#SBATCH -N 2 --ntasks-per-node=2", "#SBATCH -n 5"), (), "job.sh:3:9", "at most 4 tasks"),
        (script("#SBATCH --nodes=two"), (), "job.sh:2:9", "a number of nodes"),
        (script("#SBATCH --nodes=2-4"), (), "job.sh:2:9", "write one count"),
        (script("#SBATCH --mem=lots"), (), "job.sh:2:9", "a size in megabytes"),
        (script("#SBATCH -n 0"), (), "job.sh:2:9", "at least 1"),
        (script("#SBATCH --job-name my job"), (), "job.sh:2:23", "'job' is not an option"),
        (script('#SBATCH --job-name="unclosed'), (), "job.sh:2:9", "unmatched"),
        (script("#PBS -l walltime=soon"), (), "job.sh:2:6", "walltime takes"),
        (script("#PBS -l select=2:ncpus=3:mpiprocs=2"), (), "job.sh:2:6", "multiple of mpiprocs"),
        (script("# flux: -t soon"), (), "job.sh:2:9", "-t takes a number of minutes"),
        # the Flux transformer's own reader: flux batch refuses a directive after the first command ...
        (script("# flux: -N 2", "flux run hostname", "# flux: -n 4"), (), "job.sh:4:", "orphan"),
        # ... and a sentinel that changes
        (script("# flux: -N 2", "#flux: -n 4"), (), "job.sh:3:", "sentinel changed"),
        (script("#SBATCH -N 2"), ("--time=never",), "<command line>", "argument 1"),
    ],
)
def test_bad_values_and_contradictions_say_where_and_what_is_right(
    text: str, argv: tuple[str, ...], where: str, what: str
) -> None:
    with pytest.raises(JobspecError) as info:
        imported(text, *argv)
    message = str(info.value)
    assert message.startswith(where), message
    assert what in message


@pytest.mark.parametrize(
    ("text", "memory", "constraints"),
    [
        # a node's memory, where the script names its nodes
        (script("#SBATCH -N 2 --mem=4G"), {"memory_per_node": 4096, "memory_per_slot": 0}, None),
        # a large size in the unit that says it exactly (1000 GB, not a count of 1024000 MB)
        (script("#SBATCH -N 1 --mem=1000G"), {"memory_per_node": 1024000}, None),
        # a core's memory: each task's, its cores times it
        (script("#SBATCH -n 3 -c 2 --mem-per-cpu=100"), {"memory_per_node": 0, "memory_per_slot": 200}, None),
        # the last memory option wins, as in sbatch
        (script("#SBATCH -N 1 --mem=1G", "#SBATCH --mem-per-cpu=1G"), {"memory_per_slot": 1024}, None),
        # PBS: mem of a one-node job, pmem per process, select's mem per chunk
        (script("#PBS -l nodes=1:ppn=2,mem=2gb"), {"memory_per_node": 2048}, None),
        (script("#PBS -l procs=4,pmem=512mb"), {"memory_per_slot": 512}, None),
        (script("#PBS -l select=2:ncpus=4:mem=8gb"), {"memory_per_node": 8192}, None),
        # features, read left to right as Slurm does; PBS node properties
        (script("#SBATCH -C intel&ib"), {}, {"properties": ["intel", "ib"]}),
        (
            script("#SBATCH --constraint=intel|amd&ib"),
            {},
            {"and": [{"or": [{"properties": ["intel"]}, {"properties": ["amd"]}]}, {"properties": ["ib"]}]},
        ),
        (script("#PBS -l nodes=2:ppn=4:gpu:fast"), {}, {"properties": ["gpu", "fast"]}),
        # hosts: a node list that names the job's nodes, hosts left out
        (
            script("#SBATCH -N 2 -w n[1-2] -x n4 -C ib"),
            {},
            {"properties": ["ib"], "hostlist": ["n1", "n2"], "not": [{"hostlist": ["n4"]}]},
        ),
    ],
)
def test_memory_and_constraints_go_into_the_graph(
    text: str, memory: dict[str, int], constraints: dict[str, object] | None
) -> None:
    result = imported(text)
    counts = jobspec.load(result.document).counts
    assert {k: getattr(counts, k) for k in memory} == memory
    system = result.document.get("attributes", {}).get("system", {})
    assert system.get("constraints") == constraints
    assert not any(o.startswith(("--mem", "--constraint")) for o in setting(result, "slurm.options") or [])


def test_memory_and_features_slurm_cannot_say_portably_stay_options() -> None:
    result = imported(script("#SBATCH -n 2 --mem=4G --mem-per-gpu=1G", "#SBATCH -C '[rack1*2&rack2*4]'"))
    assert setting(result, "slurm.options") == ["--mem-per-gpu=1G", "--constraint=[rack1*2&rack2*4]"]
    assert "constraints" not in result.document.get("attributes", {}).get("system", {})


def test_a_node_list_that_is_not_the_jobs_nodes_stays_an_option() -> None:
    result = imported(script("#SBATCH -N 3 --nodelist=n[1-2]"))
    assert setting(result, "slurm.options") == ["--nodelist=n[1-2]"]
    assert "it names 2 hosts, the job 3 nodes" in result.report()
