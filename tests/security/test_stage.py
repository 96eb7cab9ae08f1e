"""Issue 15, items 1 and 8: a jobspec writes only inside its staging directory, never
through a link, reads no file a copied folder merely links to, and never takes over a
folder that holds someone else's files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import HELLO, jobspec_cli

SCRIPT = {"name": "job.sh", "content": "#!/bin/sh\necho hi\n"}


def jobspec_with(folder: Path, steps: list[dict[str, object]], name: str = "job.yaml") -> Path:
    document = yaml.safe_load(HELLO)
    document["task"]["transform"] = steps
    document["task"]["scripts"] = [SCRIPT]
    path = folder / name
    path.write_text(yaml.safe_dump(document))
    return path


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    folder = tmp_path / "elsewhere"
    folder.mkdir()
    for name in ("a", "b"):
        (folder / name).write_text(f"{name} before\n")
    return folder


def made_stage(tmp_path: Path) -> Path:
    """A stage an earlier jobspec run made (so it may be used again), holding the links."""
    stage = tmp_path / "stage"
    assert (
        jobspec_cli(
            "run",
            "-t",
            "local",
            str(
                jobspec_with(
                    tmp_path,
                    [{"step": "set", "key": "stage", "value": str(stage)}, {"step": "write", "filename": "job.sh"}],
                    "first.yaml",
                )
            ),
        ).returncode
        == 0
    )
    return stage


def test_copy_never_writes_through_links_in_the_stage(tmp_path: Path, outside: Path) -> None:
    stage = made_stage(tmp_path)
    (stage / "data").mkdir()
    (stage / "data" / "words.txt").symlink_to(outside / "a")
    (stage / "dest").mkdir()
    (stage / "dest" / "notes.txt").symlink_to(outside / "b")
    inputs = tmp_path / "in"
    (inputs / "data").mkdir(parents=True)
    (inputs / "data" / "words.txt").write_text("new words\n")
    (inputs / "notes.txt").write_text("new notes\n")
    for source, extra in (("in/data", {}), ("in/notes.txt", {"destination": "dest"})):
        steps = [{"step": "set", "key": "stage", "value": str(stage)}, {"step": "copy", "source": source, **extra}]
        done = jobspec_cli("run", "-t", "local", str(jobspec_with(tmp_path, steps)))
        assert done.returncode == 1, done.stdout
        assert "symbolic link in the staging directory" in done.stdout + done.stderr
    assert (outside / "a").read_text() == "a before\n" and (outside / "b").read_text() == "b before\n"


def test_copy_does_not_read_what_a_link_in_the_source_points_at(tmp_path: Path, outside: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "mine.txt").write_text("mine\n")
    (inputs / "shadow").symlink_to(outside / "a")
    stage = tmp_path / "stage"
    steps = [{"step": "set", "key": "stage", "value": str(stage)}, {"step": "copy", "source": "in"}]
    done = jobspec_cli("run", "-t", "local", str(jobspec_with(tmp_path, steps)))
    assert done.returncode == 1
    assert "is a link that leads out of" in done.stdout + done.stderr
    assert not any(p.read_text() == "a before\n" for p in stage.rglob("*") if p.is_file())


def test_copy_of_a_folder_with_links_inside_it_copies_their_files(tmp_path: Path) -> None:
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "real.txt").write_text("real\n")
    (inputs / "alias.txt").symlink_to("real.txt")
    stage = tmp_path / "stage"
    steps = [{"step": "set", "key": "stage", "value": str(stage)}, {"step": "copy", "source": "in"}]
    done = jobspec_cli("run", "-t", "local", str(jobspec_with(tmp_path, steps)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (stage / "in" / "alias.txt").read_text() == "real\n" and not (stage / "in" / "alias.txt").is_symlink()


def test_a_stage_holding_files_jobspec_did_not_make_is_refused_at_plan_time(tmp_path: Path) -> None:
    folder = tmp_path / "home"  # stands for /etc or a home folder (a regression must not write into /etc)
    folder.mkdir()
    (folder / ".bashrc").write_text("mine\n")
    before = sorted(p.name for p in folder.iterdir())
    steps = [{"step": "set", "key": "stage", "value": str(folder)}, {"step": "write", "filename": "job.sh"}]
    done = jobspec_cli("run", "-t", "local", str(jobspec_with(tmp_path, steps)))
    assert done.returncode == 2
    assert "already holds files jobspec did not put there" in done.stderr
    assert ":" in done.stderr.split("task.transform[0].value")[0]  # with its place in the file
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_new_empty_or_earlier_stage_is_used_and_made_private(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for stage in (tmp_path / "new" / "deep", empty, tmp_path / "new" / "deep"):  # the last: made by jobspec
        steps = [{"step": "set", "key": "stage", "value": str(stage)}, {"step": "write", "filename": "job.sh"}]
        done = jobspec_cli("run", "-t", "local", str(jobspec_with(tmp_path, steps)))
        assert done.returncode == 0, done.stderr
        assert (stage / "job.sh").read_text() == SCRIPT["content"]
    assert (tmp_path / "new" / "deep").stat().st_mode & 0o777 == 0o700


def test_a_missing_working_directory_fails_the_job_step_with_the_reason(tmp_path: Path) -> None:
    document = yaml.safe_load(HELLO)
    document["attributes"] = {"system": {"cwd": str(tmp_path / "no-such-folder")}}
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(document))
    done = jobspec_cli("run", "-t", "local", str(path))
    assert done.returncode == 1
    assert f"the working directory {tmp_path / 'no-such-folder'} (attributes.system.cwd) does not exist" in (
        done.stdout + done.stderr
    )


def test_a_temporary_stage_an_earlier_run_made_may_be_named_and_no_other(tmp_path: Path) -> None:
    """Temporary stages carry no marker file (a new file a run costs CPU): jobspec knows its
    own by where, how and by whom they were made (a private jobspec-* in the temporary directory)."""
    temp = tmp_path / "tmp"
    temp.mkdir()
    first = jobspec_with(tmp_path, [{"step": "write", "filename": "job.sh"}], "first.yaml")
    assert jobspec_cli("run", "-t", "local", str(first), env={"TMPDIR": str(temp)}).returncode == 0
    (made,) = temp.glob("jobspec-*")
    assert sorted(p.name for p in made.iterdir()) == ["job.sh"]  # no marker in it
    lookalike = temp / "jobspec-lookalike"  # not private: not one mkdtemp made
    lookalike.mkdir(mode=0o755)
    lookalike.chmod(0o755)
    (lookalike / "notes.txt").write_text("mine\n")
    elsewhere = tmp_path / "jobspec-elsewhere"  # private, but not in the temporary directory
    elsewhere.mkdir(mode=0o700)
    (elsewhere / "notes.txt").write_text("mine\n")
    for stage, code in ((made, 0), (lookalike, 2), (elsewhere, 2)):
        steps = [{"step": "set", "key": "stage", "value": str(stage)}, {"step": "write", "filename": "job.sh"}]
        done = jobspec_cli("run", "-t", "local", str(jobspec_with(tmp_path, steps)), env={"TMPDIR": str(temp)})
        assert done.returncode == code, done.stdout + done.stderr
        if code:
            assert "already holds files jobspec did not put there" in done.stderr
            assert not (stage / "job.sh").exists()
