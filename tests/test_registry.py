"""Finding transformers: built-in, jobspec_<name> modules, entry points; lazy and honest."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest
from support import HELLO, jobspec_cli, make_jobspec

from jobspec import JobspecError, get_transformer_registry
from jobspec.transformers.registry import TransformerRegistry

PLUGIN = """
from jobspec.plugin import EmptyStep, SetStep, Transformer, WriterStep


class Transformer(Transformer):
    name = "{name}"
    description = "a test plugin"


Transformer.register_step(WriterStep)
Transformer.register_step(SetStep)
Transformer.register_step(EmptyStep, name="submit")
Transformer.register_step(EmptyStep, name="stage")
"""


@pytest.fixture
def plugin_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "jobspec_toy.py").write_text(PLUGIN.format(name="toy"))
    (folder / "jobspec_broken.py").write_text("import no_such_module_anywhere\n")
    dist = folder / "jobspec_epdemo-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: jobspec-epdemo\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[jobspec.transformers]\nepdemo = epdemo_module:Transformer\n")
    (folder / "epdemo_module.py").write_text(PLUGIN.format(name="epdemo"))
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("PYTHONPATH", str(folder))
    return folder


def test_the_original_python_use(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = get_transformer_registry().get_plugin("local")().run(str(make_jobspec(tmp_path)))
    assert result.ok
    assert "=> step submit local-" in capsys.readouterr().out


def test_module_and_entry_point_plugins_are_found(plugin_dir: Path, tmp_path: Path) -> None:
    registry = TransformerRegistry()
    assert {"local", "toy", "broken", "epdemo"} <= set(registry.names())
    toy = registry.get_plugin("toy")
    assert toy.description == "a test plugin" and set(toy.steps) == {"write", "set", "submit", "stage"}
    assert registry.get_plugin("epdemo").name == "epdemo"
    assert toy().run(str(make_jobspec(tmp_path))).ok


def test_a_broken_plugin_is_reported_when_asked_for(plugin_dir: Path) -> None:
    registry = TransformerRegistry()
    registry.names()  # listing does not import it
    assert "jobspec_broken" not in sys.modules
    with pytest.raises(JobspecError, match=r"transformer 'broken' .* failed to load: ModuleNotFoundError"):
        registry.get_plugin("broken")
    assert registry.get_plugin("toy")  # the others still load


def test_unknown_transformer_suggests_a_name() -> None:
    with pytest.raises(JobspecError, match="no transformer named 'locl'; did you mean 'local'"):
        TransformerRegistry().get_plugin("locl")


def test_steps_unknown_to_a_plugin_are_refused(plugin_dir: Path, tmp_path: Path) -> None:
    text = HELLO.replace("    wait: true\n", "    wait: true\n  - step: auth\n")
    done = jobspec_cli("run", "-t", "toy", str(make_jobspec(tmp_path, text)))
    assert done.returncode == 2
    assert "unknown step 'auth' (transformer 'toy' knows: set, stage, submit, write)" in done.stderr


def test_transformers_command_lists_plugins_and_problems(plugin_dir: Path) -> None:
    done = jobspec_cli("transformers")
    assert done.returncode == 0
    assert "local  [builtin]  can run here (this machine)" in done.stdout
    assert "toy  [module]  can run here" in done.stdout
    assert "epdemo  [entry point]" in done.stdout
    assert "broken  [module]  cannot load:" in done.stdout


def test_choice_order(monkeypatch: pytest.MonkeyPatch, plugin_dir: Path) -> None:
    registry = TransformerRegistry()
    monkeypatch.delenv("FLUX_URI", raising=False)
    assert registry.choose()[0].name == "local"
    monkeypatch.setenv("JOBSPEC_TRANSFORMER", "toy")
    assert registry.choose() == (registry.get_plugin("toy"), "from JOBSPEC_TRANSFORMER")
    assert registry.choose("local")[1] == "chosen with -t"


EAGER = """
from jobspec.plugin import EmptyStep, Transformer


class Transformer(Transformer):
    name = "{name}"
    description = "a plugin that asks to be chosen"

    @classmethod
    def affinity(cls):
        {body}
"""


def test_a_plugin_that_asks_is_chosen_and_a_broken_one_is_passed_over(
    plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (plugin_dir / "jobspec_eager.py").write_text(EAGER.format(name="eager", body="return 50"))
    (plugin_dir / "jobspec_moody.py").write_text(EAGER.format(name="moody", body="raise RuntimeError('no')"))
    cls, why = TransformerRegistry().choose()
    assert (cls.name, why) == ("eager", "always")
    (plugin_dir / "jobspec_eager.py").write_text(EAGER.format(name="eager", body="return 0"))
    monkeypatch.delitem(sys.modules, "jobspec_eager")
    assert TransformerRegistry().choose()[0].name == "local"


def _slurm_that_is_down(tmp_path: Path) -> dict[str, str]:
    """sbatch on the PATH and a slurm.conf, but a controller that answers DOWN: a cluster
    configured here whose controller is not running (the real cluster is shared; this one
    must not be stopped)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text("#!/bin/sh\nexit 1\n")
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho 'Slurmctld(primary) at n1 is DOWN'\nexit 1\n")
    for program in bin_dir.iterdir():
        program.chmod(0o755)
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=gone\n")
    return {"PATH": f"{bin_dir}:{os.environ['PATH']}", "SLURM_CONF": str(conf), "JOBSPEC_TRANSFORMER": ""}


def test_automatic_choice_says_why_each_candidate_was_passed_over(tmp_path: Path) -> None:
    env = {**_slurm_that_is_down(tmp_path), "FLUX_URI": "", "KUBECONFIG": ""}
    done = jobspec_cli("run", "--dry-run", str(make_jobspec(tmp_path)), env=env)
    assert done.returncode == 0, done.stderr
    assert "transformer local" in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("jobspec: passed over")]
    down = "the Slurm controller does not answer (Slurmctld(primary) at n1 is DOWN)"
    assert f"jobspec: passed over slurm: {down}" in lines
    assert any(line.startswith("jobspec: passed over flux: not inside a Flux instance") for line in lines)
    assert any(line.startswith("jobspec: passed over kubernetes: ") for line in lines)
    assert len(lines) == 3  # one line each, local being the one chosen

    as_json = jobspec_cli("run", "--dry-run", "--json", str(make_jobspec(tmp_path)), env=env)
    choice = json.loads(as_json.stdout)["choice"]
    assert choice["name"] == "local"
    assert {"name": "slurm", "why": down} in choice["passed_over"]


def test_a_named_transformer_passes_nobody_over(tmp_path: Path) -> None:
    done = jobspec_cli("run", "-t", "local", "--dry-run", str(make_jobspec(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "passed over" not in done.stderr


def test_lower_candidates_are_not_asked_and_say_so(plugin_dir: Path) -> None:
    (plugin_dir / "jobspec_eager.py").write_text(EAGER.format(name="eager", body="return 50"))
    choice = TransformerRegistry().choice()
    assert choice.cls.name == "eager"
    assert ("local", "not asked: eager comes first") in choice.passed_over
