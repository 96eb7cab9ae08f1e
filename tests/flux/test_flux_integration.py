"""On a real Flux: ``flux start --test-size=4``, every original (0.0.12) and project example through both
paths (the Python bindings and the flux command), job ids, exit codes, streamed output,
a staged file on every rank with ``sharedfs: false``, a dependency chain, a rejected
job, the command line, and the by-hand ``flux submit`` checked by Flux itself.

Runs wherever flux-core is installed (tests/flux_install.py: on PATH, $FLUX_PREFIX or
/opt/flux); elsewhere every test here is skipped, and says why. The instance has a faked
resource set (4 brokers x 8 cores, 2 GPUs) so every example runs at its real shape, and
Flux's own R of each job is read back.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flux_install import NOT_FOUND
from flux_support import ORIGINAL_EXAMPLES, PROJECT_EXAMPLES, allocated, asked, job_of_step, jobs_of
from support import after_held, after_many_jobspec, jobspec_cli, make_jobspec

from jobspec import load, run
from jobspec.engine.result import RunResult
from jobspec.engine.run import Reporter
from jobspec.plugin import JobLookupError
from jobspec.transformers.flux import client as flux_client
from jobspec.transformers.flux import command_lines, jobids, limits
from jobspec.transformers.flux import transformer as flux_transformer
from jobspec.transformers.flux.jobspec_v1 import to_jobspec
from jobspec.transformers.flux.transformer import FluxTransformer

FLUX = shutil.which("flux")
pytestmark = [
    pytest.mark.flux,
    pytest.mark.slow,
    pytest.mark.skipif(FLUX is None, reason=NOT_FOUND),
]


@pytest.fixture(params=["bindings", "command"])
def interface(request: pytest.FixtureRequest, instance: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> str:
    name = str(request.param)
    if name == "bindings" and instance["bindings_problem"]:
        pytest.fail(instance["bindings_problem"])  # Flux is here: its bindings must be too
    monkeypatch.setattr(flux_transformer, "_client", lambda settings: flux_client.connect(name))
    return name


def quiet(path: Path | str, transformer: FluxTransformer | None = None) -> tuple[RunResult, str]:
    out = io.StringIO()
    result = (transformer or FluxTransformer()).run(
        path, reporter=Reporter(stream=io.StringIO(), output=out, color=False)
    )
    return result, out.getvalue()


@pytest.mark.parametrize("path", [*ORIGINAL_EXAMPLES, *PROJECT_EXAMPLES], ids=lambda p: p.name)
def test_every_example_runs_on_flux(path: Path, interface: str, instance: dict[str, Any]) -> None:
    result, out = quiet(path)
    assert result.ok, result.error
    flux = FluxTransformer(interface=interface)
    assert result.job_ids
    for job_id in result.job_ids:
        assert job_id.startswith("ƒ") and jobids.is_f58(job_id)
        status = flux.wait(job_id, timeout=120)
        assert (status.state, status.exit_code) == ("completed", 0), status
        assert allocated(job_id) == asked(load(path), job_id), job_id  # Flux's own R: exactly what the file asks
    for record in result.steps:
        if record.job_id:
            assert record.details["interface"] == interface
    if path.name == "hello-world-wait-jobspec.yaml":
        assert out.count("hello world from") == 4  # streamed: one line a task
    if path.name == "hello-world-batch.yaml":
        batch = next(s for s in result.steps if s.job_id)
        text = Path(batch.details["stdout"]).read_text()
        assert "what is the meaning" in text and "of all of this" in text


def test_exit_code_and_streamed_output(interface: str, tmp_path: Path) -> None:
    text = _jobspec(
        'echo "task $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"\n[ "$FLUX_TASK_RANK" = 1 ] && exit 7\nexit 0',
        "watch: true",
    )
    result, out = quiet(make_jobspec(tmp_path, text))
    assert not result.ok and "failed with exit code 7" in (result.error or "")
    assert sorted(line for line in out.splitlines() if line.startswith("task ")) == ["task 0 of 2", "task 1 of 2"]
    status = FluxTransformer(interface=interface).status(result.job_ids[0])
    assert (status.state, status.exit_code) == ("failed", 7)


def test_staged_file_on_every_rank(interface: str, tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "words.txt").write_text("staged words\n")
    text = f"""\
version: 1
resources:
- {{type: node, count: 4, with: [{{type: slot, label: default, count: 1, with: [{{type: core, count: 1}}]}}]}}
task:
  slot: default
  count: {{per_slot: 1}}
  transform:
  - {{step: set, key: stage, value: "{stage}"}}
  - {{step: set, key: sharedfs, value: false}}
  - {{step: copy, source: data}}
  - {{step: write, filename: check.sh}}
  - {{step: stage}}
  - {{step: submit, filename: check.sh, wait: true}}
  scripts:
  - name: check.sh
    content: |
      #!/bin/sh
      cat "$JOBSPEC_STAGE/data/words.txt"
"""
    result, _ = quiet(make_jobspec(tmp_path, text))
    assert result.ok, result.error
    staged = next(s for s in result.steps if s.step == "stage")
    assert staged.details["ranks"] == 4
    assert FLUX is not None
    every = subprocess.run(
        [FLUX, "exec", "-r", "all", "cat", str(stage / "data" / "words.txt")], capture_output=True, text=True
    )
    assert every.returncode == 0 and every.stdout.count("staged words") == 4
    assert not list(stage.glob(".jobspec-stage-*"))
    archives = subprocess.run(
        [FLUX, "archive", "list", f"--name={staged.details['archive']}"], capture_output=True, text=True
    )
    assert archives.returncode != 0  # removed after the copy


def test_dependency_chain(interface: str, tmp_path: Path) -> None:
    log = tmp_path / "order.txt"
    text = f"""\
version: 1
resources:
- {{type: slot, label: default, count: 1, with: [{{type: core, count: 1}}]}}
task:
  slot: default
  count: {{per_slot: 1}}
  transform:
  - {{step: write, filename: a.sh}}
  - {{step: write, filename: b.sh}}
  - {{step: write, filename: c.sh}}
  - {{step: submit, name: a, filename: a.sh}}
  - {{step: submit, name: b, filename: b.sh, after: a}}
  - {{step: submit, name: c, filename: c.sh, after: b, wait: true}}
  scripts:
  - {{name: a.sh, content: "sleep 1; echo a >> {log}"}}
  - {{name: b.sh, content: "echo b >> {log}"}}
  - {{name: c.sh, content: "echo c >> {log}"}}
"""
    result, _ = quiet(make_jobspec(tmp_path, text))
    assert result.ok, result.error
    assert log.read_text() == "a\nb\nc\n"
    flux = FluxTransformer(interface=interface)
    a, b, c = (flux.wait(j, timeout=60) for j in result.job_ids)
    assert a.details["t_cleanup"] <= b.details["t_run"] and b.details["t_cleanup"] <= c.details["t_run"]


def test_after_an_array_and_a_list_is_an_afterok_on_each_job(interface: str, tmp_path: Path) -> None:
    result, _ = quiet(after_many_jobspec(tmp_path))
    assert result.ok, result.error
    assert after_held(Path(str(result.stage)))
    assert len(result.job_ids) == 5  # 3 elements, one, last
    shown = subprocess.run(
        ["flux", "job", "info", str(result.job_ids[-1]), "jobspec"], capture_output=True, text=True, check=True
    )
    dependencies = json.loads(shown.stdout)["attributes"]["system"]["dependencies"]
    assert {d["scheme"] for d in dependencies} == {"afterok"}
    assert sorted(d["value"] for d in dependencies) == sorted(map(str, result.job_ids[:-1]))


def test_dependency_on_a_failed_job(interface: str, tmp_path: Path) -> None:
    # the parent still running when the child is submitted (else Flux refuses the child at submit)
    after = "name: first\n  - step: submit\n    filename: job.sh\n    after: first\n    wait: true"
    text = _jobspec("sleep 1\nexit 3", after)
    result, _ = quiet(make_jobspec(tmp_path, text))
    assert not result.ok and len(result.job_ids) == 2
    child = FluxTransformer(interface=interface).wait(result.job_ids[1], timeout=60)
    assert child.state in ("failed", "cancelled") and "dependency" in (child.reason or "")


def test_rejected_job_shows_fluxs_message(interface: str, tmp_path: Path) -> None:
    text = _jobspec("true", "wait: true\n  - step: write\n    filename: big.sh\n  - step: submit\n    filename: big.sh")
    text = text.replace("  scripts:\n", "  scripts:\n  - {name: big.sh, content: 'true'}\n")
    path = make_jobspec(tmp_path, text.replace("count: 2\n", "count: 64\n", 1))
    result, _ = quiet(path)
    # Flux's own word for it, whether job-ingest refuses the job (feasibility check:
    # "Flux refused the job: ...") or the scheduler raises an exception on it
    assert not result.ok and "satisfiable" in (result.error or "").lower(), result.error
    if "Flux refused the job" in (result.error or ""):
        assert result.job_ids == []  # refused at the first submit: both share the graph


@pytest.mark.usefixtures("shared")  # its original examples
def test_bindings_and_command_submit_the_same_jobspec(instance: dict[str, Any], tmp_path: Path) -> None:
    assert instance["bindings_problem"] is None, instance["bindings_problem"]
    path = ORIGINAL_EXAMPLES[-1]
    (_, _, job) = next(jobs_of(load(path)))
    spec = to_jobspec(job, dict(os.environ))
    ids = [flux_client.connect(name).submit(spec) for name in ("bindings", "command")]
    assert FLUX is not None
    seen = [
        json.loads(
            subprocess.run([FLUX, "job", "info", i, "jobspec"], capture_output=True, text=True, check=True).stdout
        )
        for i in ids
    ]
    for i in ids:
        FluxTransformer().cancel(i)
    assert seen[0] == seen[1]


@pytest.mark.parametrize("path", [*ORIGINAL_EXAMPLES, *PROJECT_EXAMPLES], ids=lambda p: p.name)
def test_by_hand_command_is_the_job_flux_builds(path: Path, instance: dict[str, Any], tmp_path: Path) -> None:
    """Flux itself (flux submit/batch --dry-run) as the oracle for our by-hand argv."""
    assert FLUX is not None
    js = load(path)
    for options in js.transform:
        if options["step"] not in ("submit", "batch"):
            continue
        job = job_of_step(js, options, stage=str(tmp_path))
        argv = command_lines.by_hand(job)
        if job.kind == "batch":
            assert job.script_path is not None
            Path(job.script_path).parent.mkdir(parents=True, exist_ok=True)
            Path(job.script_path).write_text(job.script or "")
        done = subprocess.run([FLUX, argv[1], "--dry-run", *argv[2:]], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        theirs = json.loads(done.stdout)
        ours = to_jobspec(job)
        label = ours["tasks"][0]["slot"]
        theirs_text = json.dumps(theirs["resources"]).replace('"label": "task"', f'"label": "{label}"')
        assert json.loads(theirs_text) == ours["resources"]
        assert theirs["tasks"][0]["count"] == ours["tasks"][0]["count"]
        assert theirs["tasks"][0]["command"] == ours["tasks"][0]["command"]
        ours = to_jobspec(job, rlimits=limits.propagated())  # the limits flux submit hands on from here
        assert (
            theirs["attributes"]["system"]["shell"]["options"]["rlimit"]
            == ours["attributes"]["system"]["shell"]["options"]["rlimit"]
        )
        mine, flux_says = ours["attributes"]["system"], theirs["attributes"]["system"]
        for key in ("duration", "cwd", "job", "dependencies"):
            assert flux_says.get(key) == mine.get(key), key
        for key, value in mine["environment"].items():
            assert flux_says["environment"][key] == value


def test_life_cycle_on_the_command_line(instance: dict[str, Any], tmp_path: Path) -> None:
    env = {"FLUX_URI": instance["uri"]}
    done = jobspec_cli("run", "--json", "-t", "flux", str(make_jobspec(tmp_path, _jobspec("sleep 60", ""))), env=env)
    assert done.returncode == 0, done.stderr
    job_id = json.loads(done.stdout)["job_ids"][0]
    shown = jobspec_cli("status", "-t", "flux", job_id, env=env)
    assert shown.returncode == 0 and shown.stdout.split()[1] in ("pending", "running")
    cancelled = jobspec_cli("cancel", "-t", "flux", job_id, env=env)
    assert cancelled.returncode == 0 and cancelled.stdout.split()[1] == "cancelled", cancelled.stdout + cancelled.stderr
    waited = jobspec_cli("wait", "-t", "flux", job_id, env=env)
    assert waited.returncode == 1  # not completed
    missing = jobspec_cli("status", "-t", "flux", "ƒ9999", env=env)
    assert missing.returncode == 2


def test_unknown_job_ids(interface: str) -> None:
    with pytest.raises(JobLookupError):
        FluxTransformer(interface=interface).status("ƒ9999")


def test_run_many_submits_every_jobspec(interface: str, tmp_path: Path) -> None:
    paths = [make_jobspec(tmp_path, _jobspec("true", ""), f"j{i}.yaml") for i in range(40)]
    results = FluxTransformer(interface=interface).run_many(paths, workers=16)
    assert [r.ok for r in results] == [True] * 40
    ids = [r.job_ids[0] for r in results]
    assert len(set(ids)) == 40


def _jobspec(body: str, how: str) -> str:
    return (
        "version: 1\nresources:\n- type: node\n  count: 2\n  with:\n  - type: slot\n    label: default\n    count: 1\n"
        "    with:\n    - type: core\n      count: 1\ntask:\n  slot: default\n  count:\n    per_slot: 1\n  transform:\n"
        "  - step: write\n    filename: job.sh\n  - step: submit\n    filename: job.sh\n"
        + (f"    {how}\n" if how else "")
        + "  scripts:\n  - name: job.sh\n    content: |\n      #!/bin/sh\n"
        + "".join(f"      {line}\n" for line in body.splitlines())
    )


# ---------------------------------------------------------------- issue 15, item 6 (see test_flux_security.py)


def test_stage_entries_named_like_options_are_files_on_flux(interface: str, tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    text = f"""\
version: 1
resources:
- {{type: slot, label: default, count: 1, with: [{{type: core, count: 1}}]}}
task:
  slot: default
  count: {{per_slot: 1}}
  transform:
  - {{step: set, key: stage, value: "{stage}"}}
  - {{step: set, key: sharedfs, value: false}}
  - {{step: write, filename: "--name=hijacked"}}
  - {{step: write, filename: "-C.."}}
  - {{step: stage}}
  scripts:
  - {{name: "--name=hijacked", content: "one"}}
  - {{name: "-C..", content: "two"}}
"""
    result, _ = quiet(make_jobspec(tmp_path, text))
    assert result.ok, result.error
    assert FLUX is not None
    every = subprocess.run(
        [FLUX, "exec", "-r", "all", "cat", str(stage / "--name=hijacked"), str(stage / "-C..")],
        capture_output=True,
        text=True,
    )
    assert every.returncode == 0 and every.stdout.count("onetwo") == 4
    staged = next(s for s in result.steps if s.step == "stage")
    for name in (staged.details["archive"], "hijacked"):
        listed = subprocess.run([FLUX, "archive", "list", f"--name={name}"], capture_output=True, text=True)
        assert listed.returncode != 0, name  # ours removed, no other made


def test_templates_reach_the_job_as_written_on_flux(interface: str, tmp_path: Path) -> None:
    stage = tmp_path / "st{{id}}"
    text = f"""\
version: 1
resources:
- {{type: slot, label: default, count: 1, with: [{{type: core, count: 1}}]}}
attributes:
  system:
    environment: {{TAG: "{{{{id}}}}/{{{{tmpdir}}}}"}}
task:
  slot: default
  count: {{per_slot: 1}}
  command: [printf, "%s|", "{{{{id}}}}", "{{{{tmpdir}}}}", "{{{{name}}}}"]
  transform:
  - {{step: set, key: stage, value: "{stage}"}}
  - {{step: write, filename: job.sh}}
  - {{step: submit, filename: job.sh, watch: true}}
  - {{step: submit, watch: true}}
  scripts:
  - name: job.sh
    content: |
      #!/bin/sh
      printf '%s|' "$0" "$TAG"
"""
    result, out = quiet(make_jobspec(tmp_path, text))
    assert result.ok, result.error
    assert out == f"{stage}/job.sh|{{{{id}}}}/{{{{tmpdir}}}}|{{{{id}}}}|{{{{tmpdir}}}}|{{{{name}}}}|"


def test_a_batch_script_launches_its_tasks_with_flux_run(interface: str, tmp_path: Path) -> None:
    document = {
        "version": 1,
        "resources": [
            {
                "type": "node",
                "count": 2,
                "with": [{"type": "slot", "label": "s", "count": 1, "with": [{"type": "core", "count": 1}]}],
            }
        ],
        "task": {
            "slot": "s",
            "count": {"per_slot": 1},
            "transform": [{"step": "write", "filename": "b.sh"}, {"step": "batch", "filename": "b.sh", "wait": True}],
            "scripts": [
                {"name": "b.sh", "content": "#!/bin/sh\n$JOBSPEC_LAUNCH -n 2 -N 2 sh -c 'echo rank $FLUX_TASK_RANK'\n"}
            ],
        },
    }
    result, _ = quiet(document)
    assert result.ok, result.error
    batch = result.steps[-1]
    assert sorted(Path(batch.details["stdout"]).read_text().split("\n")[:-1]) == ["rank 0", "rank 1"]


def test_an_imported_slurm_array_script_runs_on_flux(interface: str, tmp_path: Path) -> None:
    script = tmp_path / "array.sbatch"
    script.write_text(
        "#!/bin/bash\n#SBATCH --nodes=2\n#SBATCH --ntasks-per-node=1\n#SBATCH --partition=debug\n"
        "#SBATCH --array=0-1\nsrun sh -c 'echo \"element $SLURM_ARRAY_TASK_ID rank $FLUX_TASK_RANK\"'\n"
    )
    imported = tmp_path / "array.yaml"
    assert jobspec_cli("import", str(script), "-o", str(imported)).returncode == 0
    document = load(imported).data
    document["task"]["transform"][-1]["wait"] = True
    # jobspec.run, as the command line does: it knows slurm.partition is an installed system's setting
    result = run(document, FluxTransformer(), reporter=Reporter(stream=io.StringIO(), output=io.StringIO()))
    assert result.ok, result.error
    assert len(result.job_ids) == 2
    lines = sorted(
        line for path in Path(result.stage or "").glob("flux-*.out") for line in path.read_text().split("\n") if line
    )
    assert lines == ["element 0 rank 0", "element 0 rank 1", "element 1 rank 0", "element 1 rank 1"]
