"""`jobspec import` through the real command: stdout, -o, stdin, --strict, bad input."""

from __future__ import annotations

from pathlib import Path

import yaml
from support import jobspec_cli

import jobspec

SCRIPT = """#!/bin/bash
#SBATCH --nodes=2 --ntasks-per-node=2
#SBATCH --time=0:10:00 --mem=1G
srun ./a.out
"""


def test_import_prints_a_valid_jobspec_and_reports_on_stderr(tmp_path: Path) -> None:
    path = tmp_path / "job.sbatch"
    path.write_text(SCRIPT)
    done = jobspec_cli("import", str(path))
    assert done.returncode == 0, done.stderr
    js = jobspec.load(yaml.safe_load(done.stdout))
    assert (js.counts.nodes, js.counts.tasks, js.duration, js.counts.memory_on_node) == (2, 4, 600, 1024)
    assert f"{path}:3:24: mapped: --mem=1G: memory: 1024 MiB a node" in done.stderr
    assert "mapped: launch line -> $JOBSPEC_LAUNCH -N 2 -n 4 ./a.out" in done.stderr


def test_options_after_the_file_override_and_stdin_and_output_file(tmp_path: Path) -> None:
    out = tmp_path / "job.yaml"
    done = jobspec_cli("import", "-", "-o", str(out), "--", "-N", "1", "--time=5", input=SCRIPT)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    js = jobspec.load(out)
    assert (js.counts.nodes, js.counts.tasks, js.duration) == (1, 2, 300)
    assert jobspec_cli("validate", str(out)).returncode == 0


def test_strict_makes_a_drop_an_error(tmp_path: Path) -> None:
    path = tmp_path / "job.sh"
    path.write_text("#!/bin/sh\n#SBATCH -n 2 --array=1-3%2\necho\n")  # the %2 limit cannot be kept
    assert jobspec_cli("import", str(path)).returncode == 0
    out = tmp_path / "out.yaml"
    done = jobspec_cli("import", "--strict", str(path), "-o", str(out))
    assert done.returncode == 2
    assert "dropped %2" in done.stderr and "(--strict)" in done.stderr
    assert not out.exists()


def test_bad_input_exits_2_with_the_place_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out.yaml"
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/bin/sh\n#SBATCH -N 1\n#SBATCH --time=soon\n")
    done = jobspec_cli("import", str(bad), "-o", str(out))
    assert done.returncode == 2
    assert f"{bad}:3:9: --time takes a time limit" in done.stderr
    contradiction = tmp_path / "c.sh"
    contradiction.write_text("#!/bin/sh\n#SBATCH --ntasks=3 --nodes=4 --ntasks-per-node=2\n")
    done = jobspec_cli("import", str(contradiction), "-o", str(out))
    assert done.returncode == 2 and "cannot fill 4 nodes" in done.stderr
    binary = tmp_path / "a.out"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\x00\x00")
    done = jobspec_cli("import", str(binary), "-o", str(out))
    assert done.returncode == 2 and "not a text file" in done.stderr
    assert jobspec_cli("import", str(tmp_path / "missing.sh")).returncode == 2
    assert not out.exists()
