"""The command as a user meets it: exit codes, messages without tracebacks, JSON, dry runs."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import HELLO, jobspec_cli, make_jobspec, project_examples, seed_examples


@pytest.mark.parametrize("example", seed_examples(), ids=lambda p: p.name)
def test_every_seed_example_runs_unchanged_on_local(shared: Path, example: Path) -> None:
    done = jobspec_cli("run", "-t", "local", str(example))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("jobspec: transformer local (chosen with -t)")
    lines = done.stdout.splitlines()[1:]
    steps = [s for s in __import__("yaml").safe_load(example.read_text())["task"]["transform"]]
    assert [line.split()[2] for line in lines if line.startswith("=> step")] == [s["step"] for s in steps]
    assert all(line.endswith("OK") for line in lines if line.startswith("=> step"))


def test_seed_watch_example_streams_hello_from_each_task(shared: Path) -> None:
    done = jobspec_cli("run", str(shared / "seed" / "examples" / "hello-world-wait-jobspec.yaml"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("hello world from ") == 4  # 4 nodes x 1 slot x 1 task per slot


@pytest.mark.parametrize("example", project_examples(), ids=lambda p: p.name)
def test_every_project_example_runs_on_local(example: Path) -> None:
    done = jobspec_cli("run", "-t", "local", str(example), cwd=example.parent)
    assert done.returncode == 0, done.stdout + done.stderr


def test_project_examples_cover_every_step() -> None:
    import yaml

    used = {s["step"] for p in project_examples() for s in yaml.safe_load(p.read_text())["task"]["transform"]}
    assert used >= {"write", "set", "unset", "copy", "stage", "submit", "batch", "auth"}


BAD_INPUTS = {
    "malformed YAML": "version: 1\nresources: [\n",
    "schema violation": HELLO.replace("count: 2\n  with", "count: -1\n  with"),
    "unknown step": HELLO.replace("step: submit", "step: launch"),
    "unknown setting": HELLO.replace("  transform:\n", "  transform:\n  - {step: set, key: colour, value: red}\n"),
    "filename with no script": HELLO.replace("filename: job.sh\n    wait", "filename: other.sh\n    wait"),
    "path leaving the stage": HELLO.replace("name: job.sh", "name: ../job.sh").replace(
        "filename: job.sh", "filename: ../job.sh"
    ),
    "empty file": "",
    "huge count": HELLO.replace("per_slot: 1", "per_slot: 99999999999"),
}


@pytest.mark.parametrize("what", list(BAD_INPUTS))
def test_bad_input_gets_one_clear_message_and_exit_2(tmp_path: Path, what: str) -> None:
    path = make_jobspec(tmp_path, BAD_INPUTS[what])
    state = Path(os.environ["JOBSPEC_STATE_DIR"])
    done = jobspec_cli("run", "-t", "local", str(path))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith("jobspec: ")
    assert f"{path}:" in done.stderr  # names the file, and where in it
    assert done.stdout == ""  # not even the transformer line: nothing ran
    assert not (state / "local").exists() or not list((state / "local").iterdir())


def test_missing_file_and_directory_exit_2(tmp_path: Path) -> None:
    for target, message in ((tmp_path / "nope.yaml", "no such file"), (tmp_path, "is a directory")):
        done = jobspec_cli("run", str(target))
        assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_failing_job_exits_1_and_names_what_completed(tmp_path: Path) -> None:
    path = make_jobspec(tmp_path, HELLO.replace('echo "task $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"', "exit 4"))
    done = jobspec_cli("run", str(path))
    assert done.returncode == 1
    assert "step 2 (submit) failed: job local-" in done.stderr and "exit code 4" in done.stderr
    assert "steps completed: 1 (write); jobs submitted: local-" in done.stderr


def test_json_result(tmp_path: Path) -> None:
    done = jobspec_cli("run", "--json", str(make_jobspec(tmp_path)))
    assert done.returncode == 0
    result = json.loads(done.stdout)
    assert result["ok"] and result["transformer"] == "local"
    assert [s["status"] for s in result["steps"]] == ["ok", "ok"]
    assert result["steps"][1]["details"]["exit_code"] == 0
    assert "=> step submit" in done.stderr


def test_dry_run_prints_the_plan_and_writes_nothing(tmp_path: Path) -> None:
    temporary = tmp_path / "tmp"  # where a staging directory would be made: this test's own
    temporary.mkdir()
    done = jobspec_cli("run", "--dry-run", str(make_jobspec(tmp_path)), env={"TMPDIR": str(temporary)})
    assert done.returncode == 0, done.stderr
    assert "dry run: nothing is changed" in done.stderr  # the words on stderr
    assert "would write <new temporary directory>/job.sh (executable)" in done.stderr
    assert "would start 2 tasks of `/bin/bash '<new temporary directory>/job.sh'`" in done.stderr
    # what would be written and run, as it is, on stdout
    assert done.stdout.startswith("#!/bin/bash\n") and "=> step" not in done.stdout
    assert done.stdout.endswith("/bin/bash '<new temporary directory>/job.sh'\n")
    assert list(temporary.iterdir()) == []


def test_stdin(tmp_path: Path) -> None:
    done = jobspec_cli("validate", "-", input=HELLO)
    assert done.returncode == 0 and "-: valid" in done.stdout


def test_validate_many_files_reports_each(tmp_path: Path) -> None:
    good = make_jobspec(tmp_path, HELLO, "good.yaml")
    bad = make_jobspec(tmp_path, HELLO.replace("slot: default\n  count", "slot: nope\n  count"), "bad.yaml")
    done = jobspec_cli("validate", str(good), str(bad))
    assert done.returncode == 2
    assert f"{good}: valid" in done.stdout
    assert f"{bad}:14:9: task.slot: names no slot in the resources" in done.stderr


def test_version_and_help() -> None:
    from jobspec import __version__

    assert jobspec_cli("--version").stdout.strip() == f"jobspec {__version__}"
    assert jobspec_cli("version").stdout.strip() == f"jobspec {__version__}"
    help_text = jobspec_cli("--help").stdout
    assert "exit codes:" in help_text and "2  bad input" in help_text


def test_only_the_command_itself_freezes_the_collector_before_it_exits(capsys: pytest.CaptureFixture[str]) -> None:
    """The command (no argv: the process's own) spares Python's exit a walk over every object;
    main called with words, in a longer-lived process, leaves the collector alone."""
    import gc
    import subprocess
    import sys

    from jobspec.cli.main import main

    frozen = gc.get_freeze_count()
    assert main(["version"]) == 0 and gc.get_freeze_count() == frozen
    code = "import gc, sys; from jobspec.cli.main import main; main(); print(gc.get_freeze_count() > 0)"
    done = subprocess.run([sys.executable, "-c", code, "version"], capture_output=True, text=True, timeout=60)
    assert done.stdout.split()[-1] == "True", done.stderr


def test_environment_chooses_the_transformer(tmp_path: Path) -> None:
    done = jobspec_cli("run", "--dry-run", str(make_jobspec(tmp_path)), env={"JOBSPEC_TRANSFORMER": "nope"})
    assert done.returncode == 2 and "no transformer named 'nope'" in done.stderr
