"""The spool from the command line: entries that carry what their copy steps read, spools
made only on purpose, all-or-nothing enqueue said plainly, and the receiver's first line."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest
from support import HELLO, jobspec_cli, make_jobspec

from jobspec.receiver.spool import Spool

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

COPIES = """\
version: 1
resources:
- type: slot
  label: one
  count: 1
  with:
  - type: core
    count: 1
task:
  slot: one
  count: {per_slot: 1}
  transform:
  - {step: copy, source: data/words.txt}
  - {step: copy, source: tree, destination: inputs}
  - {step: write, filename: show.sh}
  - {step: submit, filename: show.sh, wait: true}
  scripts:
  - name: show.sh
    content: |
      #!/bin/sh
      cat words.txt inputs/leaf.txt
"""


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    done = jobspec_cli("spool", "create", str(tmp_path / "spool"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{tmp_path / 'spool'}: spool created\n"
    return Spool(tmp_path / "spool")


def project(tmp_path: Path) -> Path:
    """A jobspec's folder with the files its copy steps read."""
    folder = tmp_path / "project"
    (folder / "data").mkdir(parents=True)
    (folder / "tree").mkdir()
    (folder / "data" / "words.txt").write_text("first words\n")
    (folder / "tree" / "leaf.txt").write_text("a leaf\n")
    make_jobspec(folder, COPIES, "job.yaml")
    return folder


def receive_once(spool: Spool) -> tuple[int, str]:
    done = jobspec_cli("receive", "--spool", str(spool.root), "-t", "local", "--once")
    return done.returncode, done.stderr


def result_of(spool: Spool, state: str) -> dict[str, object]:
    results = list(spool.dir(state).glob("*.result.json"))
    assert len(results) == 1, results
    loaded: dict[str, object] = json.loads(results[0].read_text())
    return loaded


def job_output(result: dict[str, object]) -> str:
    steps = result["steps"]
    assert isinstance(steps, list)
    stage = Path(str(result["stage"]))
    job_id = steps[-1]["job_id"]
    return (stage / f"{job_id}.out").read_text()


def test_the_pipeline_example_runs_from_the_spool(spool: Spool, tmp_path: Path) -> None:
    """The issue's own case: `copy: data/words.txt` failed, sought in the spool."""
    copy = tmp_path / "examples"
    shutil.copytree(EXAMPLES, copy)
    done = jobspec_cli("enqueue", str(copy / "pipeline.yaml"), "--spool", str(spool.root))
    assert done.returncode == 0, done.stderr
    code, log = receive_once(spool)
    assert code == 0, log
    assert result_of(spool, "done")["state"] == "done", log


def test_an_entry_runs_the_same_after_its_folder_changes_or_is_gone(spool: Spool, tmp_path: Path) -> None:
    folder = project(tmp_path)
    done = jobspec_cli("enqueue", "--spool", str(spool.root), str(folder / "job.yaml"))
    assert done.returncode == 0, done.stderr
    (folder / "data" / "words.txt").write_text("changed after enqueue\n")
    shutil.rmtree(folder / "tree")
    code, log = receive_once(spool)
    assert code == 0, log
    result = result_of(spool, "done")
    assert job_output(result) == "first words\na leaf\n"
    assert list(spool.dir("files").iterdir()) == []  # a done entry's files are let go

    # and with the whole folder gone
    folder = project(tmp_path / "again")
    assert jobspec_cli("enqueue", "--spool", str(spool.root), str(folder / "job.yaml")).returncode == 0
    shutil.rmtree(folder)
    code, log = receive_once(spool)
    assert code == 0 and len(list(spool.dir("done").glob("*.result.json"))) == 2, log


def test_a_folder_link_leading_out_is_refused_at_enqueue_and_nothing_is_enqueued(spool: Spool, tmp_path: Path) -> None:
    folder = project(tmp_path)
    secret = tmp_path / "secret.txt"
    secret.write_text("not yours to take\n")
    os.symlink(secret, folder / "tree" / "escape.txt")
    other = make_jobspec(tmp_path, HELLO, "other.yaml")
    done = jobspec_cli("enqueue", "--spool", str(spool.root), str(other), str(folder / "job.yaml"))
    assert done.returncode == 2
    assert "task.transform[1].source: cannot take it into the spool:" in done.stderr
    assert "is a link that leads out of" in done.stderr
    assert "jobspec: nothing was enqueued: 1 of 2 files has problems" in done.stderr
    assert spool.waiting() == [] and list(spool.dir("tmp").iterdir()) == []
    assert not spool.dir("files").exists() or list(spool.dir("files").iterdir()) == []


def test_one_bad_file_among_many_says_nothing_was_enqueued(spool: Spool, tmp_path: Path) -> None:
    good = make_jobspec(tmp_path, HELLO, "good.yaml")
    bad = make_jobspec(tmp_path, HELLO.replace("step: submit", "step: sumbit"), "bad.yaml")
    done = jobspec_cli("enqueue", "--spool", str(spool.root), str(good), str(bad), str(good))
    assert done.returncode == 2
    assert "did you mean 'submit'?" in done.stderr
    assert done.stderr.rstrip().endswith(
        "jobspec: nothing was enqueued: 1 of 3 files has problems (enqueue takes all of them or none)"
    )
    assert done.stdout == "" and spool.waiting() == []


@pytest.mark.parametrize(
    "argv",
    [
        ("spool", "status", "{spool}"),
        ("receive", "--spool", "{spool}", "--once"),
        ("enqueue", "--spool", "{spool}", "{jobspec}"),
    ],
    ids=lambda argv: argv[0] if argv[0] != "spool" else "spool status",
)
def test_a_mistyped_spool_is_an_error_and_is_not_created(tmp_path: Path, argv: tuple[str, ...]) -> None:
    mistyped = tmp_path / "spoool"
    jobspec = make_jobspec(tmp_path, HELLO)
    done = jobspec_cli(*(word.format(spool=mistyped, jobspec=jobspec) for word in argv))
    assert done.returncode == 2
    assert f"{mistyped} does not exist: create a spool with `jobspec spool create {mistyped}`" in done.stderr
    assert "Traceback" not in done.stderr
    assert not mistyped.exists()


def test_a_folder_that_is_not_a_spool_is_refused_untouched(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    done = jobspec_cli("spool", "status", str(tmp_path))
    assert done.returncode == 2 and "is not a spool (it has no incoming/ folder)" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_the_receiver_says_at_start_what_it_serves(spool: Spool) -> None:
    code, log = receive_once(spool)
    assert code == 0
    first = log.splitlines()[0]
    assert first.endswith(
        f"receiving from {spool.root}: transformer local (chosen with -t), 1 worker, until nothing is waiting"
    )


def test_the_log_has_a_line_a_jobspec_and_each_step_s_only_when_verbose(spool: Spool, tmp_path: Path) -> None:
    good = make_jobspec(tmp_path, HELLO, "good.yaml")
    assert jobspec_cli("enqueue", "--spool", str(spool.root), str(good), str(good)).returncode == 0
    code, log = receive_once(spool)
    filed = [line for line in log.splitlines() if re.search(r"-good: done \(job local-[0-9a-f-]+\)$", line)]
    assert code == 0 and len(filed) == 2 and "=> step" not in log, log
    assert jobspec_cli("enqueue", "--spool", str(spool.root), str(good)).returncode == 0
    verbose = jobspec_cli("receive", "--spool", str(spool.root), "-t", "local", "--once", "--verbose").stderr
    steps = [line.split(": ", 1)[1] for line in verbose.splitlines() if "-good: => step" in line]
    assert [step.split()[2] for step in steps] == ["write", "submit"], verbose


def test_a_failed_entry_keeps_its_files_so_it_can_be_put_back(spool: Spool, tmp_path: Path) -> None:
    folder = project(tmp_path)
    text = (folder / "job.yaml").read_text().replace("cat words.txt", "exit 3; cat words.txt")
    (folder / "job.yaml").write_text(text)
    assert jobspec_cli("enqueue", "--spool", str(spool.root), str(folder / "job.yaml")).returncode == 0
    shutil.rmtree(folder)
    code, log = receive_once(spool)
    assert code == 0 and "exit code 3" in str(result_of(spool, "failed")["reason"]), log
    (kept,) = spool.dir("files").iterdir()
    assert (kept / "0" / "words.txt").read_text() == "first words\n"
    entry = next(spool.dir("failed").glob("*.yaml"))  # put back as it is: it runs from its own files
    entry.write_text(text.replace("exit 3; ", ""))
    entry.rename(spool.dir("incoming") / entry.name)
    code, log = receive_once(spool)
    assert code == 0 and job_output(result_of(spool, "done")) == "first words\na leaf\n", log


def test_a_spool_is_made_only_where_nothing_else_lives(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine\n")
    done = jobspec_cli("spool", "create", str(tmp_path))
    assert done.returncode == 2 and "holds files and is not a spool" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert jobspec_cli("spool", "create", str(tmp_path / "empty")).returncode == 0
    again = jobspec_cli("spool", "create", str(tmp_path / "empty"))
    assert again.returncode == 0 and again.stdout.endswith("already a spool\n")
