"""The Flux transformer where there is no Flux: refusing to run outside an instance (one
line, nothing written), the dry run showing the Flux jobspec, job ids, its steps and
settings. No flux command is needed (a FLUX_URI that leads nowhere is enough for the
dry run)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from flux_install import hide_bindings
from flux_support import ORIGINAL_EXAMPLES, errors, spec25_flux
from support import HELLO, jobspec_cli, make_jobspec

from jobspec.document.problems import JobspecError
from jobspec.engine.plan import plan
from jobspec.engine.run import Reporter, execute
from jobspec.plugin import TransformerUnavailable
from jobspec.transformers.flux import client as flux_client
from jobspec.transformers.flux import transformer as flux_transformer
from jobspec.transformers.flux.bindings_client import BindingsClient
from jobspec.transformers.flux.transformer import NOT_IN_INSTANCE, FluxTransformer
from jobspec.transformers.registry import get_transformer_registry


@pytest.fixture
def no_flux(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, str]:
    """Not inside a Flux instance: no FLUX_URI, no system instance socket."""
    monkeypatch.delenv("FLUX_URI", raising=False)
    monkeypatch.setattr(flux_client, "SYSTEM_SOCKETS", ())
    return {k: v for k, v in os.environ.items() if k != "FLUX_URI"}


@pytest.fixture
def in_instance(monkeypatch: pytest.MonkeyPatch, fresh_clients: None) -> None:
    """Looks like the inside of an instance (FLUX_URI set, the command 'present');
    nothing here contacts it."""
    monkeypatch.setenv("FLUX_URI", "local:///nonexistent/jobspec-test-broker")
    monkeypatch.setattr(flux_transformer, "command_path", lambda: "/usr/bin/flux")


def test_not_in_an_instance_says_so_in_one_line_and_writes_nothing(no_flux: dict[str, str], tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    path = make_jobspec(
        tmp_path, HELLO.replace("  transform:\n", f"  transform:\n  - step: set\n    key: stage\n    value: {stage}\n")
    )
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    done = jobspec_cli("run", "-t", "flux", str(path), env={**no_flux, "TMPDIR": str(private_tmp)}, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr  # the system is missing, not the input wrong
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "not inside a Flux instance" in lines[0] and "flux start --test-size=4" in lines[0]
    assert not stage.exists()  # nothing written: not the stage it names,
    assert list(private_tmp.iterdir()) == []  # nor a temporary one
    assert done.stdout == ""


@pytest.mark.usefixtures("shared")  # its original examples
def test_not_in_an_instance_from_python(no_flux: dict[str, str]) -> None:
    the_plan = plan(ORIGINAL_EXAMPLES[0], FluxTransformer())  # planning and dry runs work anywhere
    assert execute(the_plan, dry_run=True, reporter=Reporter(stream=io.StringIO(), color=False)).ok
    with pytest.raises(TransformerUnavailable) as caught:
        execute(the_plan)
    assert str(caught.value) == f"transformer flux cannot run here: {NOT_IN_INSTANCE}"
    ok, why = FluxTransformer.available()
    assert not ok and "FLUX_URI" in why


def test_interface_bindings_without_bindings_is_refused_before_the_first_step(
    tmp_path: Path, no_flux: dict[str, str]
) -> None:
    stage = tmp_path / "stage"
    setting = (
        f"  transform:\n  - {{step: set, key: stage, value: {stage}}}\n"
        "  - {step: set, key: flux.interface, value: bindings}\n"
    )
    path = make_jobspec(tmp_path, HELLO.replace("  transform:\n", setting))
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "flux").write_text("#!/bin/sh\nexit 99\n")  # a flux command, never run: the bindings were asked for
    (fake / "flux").chmod(0o755)
    env = dict(no_flux, FLUX_URI="local:///nonexistent/broker", PATH=f"{fake}{os.pathsep}{no_flux.get('PATH', '')}")
    done = jobspec_cli("run", "-t", "flux", str(path), env=hide_bindings(tmp_path / "no-bindings", env))
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "flux.interface is bindings, but flux-core's Python bindings do not import" in lines[0]
    assert lines[0].endswith("nothing was started")
    assert not stage.exists() and done.stdout == ""  # refused before the write step


@pytest.mark.usefixtures("shared")  # its original examples
def test_flux_uri_without_bindings_or_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLUX_URI", "local:///x")
    monkeypatch.setattr(flux_transformer, "command_path", lambda: None)
    monkeypatch.setattr(flux_transformer, "bindings_present", lambda: False)
    ok, why = FluxTransformer.available()
    assert not ok and "neither flux-core's Python bindings nor the flux command" in why
    with pytest.raises(TransformerUnavailable, match="neither"):
        execute(plan(ORIGINAL_EXAMPLES[0], FluxTransformer()))


def test_available_inside_an_instance(in_instance: None) -> None:
    ok, why = FluxTransformer.available()
    assert ok and why.startswith("inside a Flux instance (local:///nonexistent")


def test_a_system_instance_socket_counts(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FLUX_URI", raising=False)
    socket = tmp_path / "local"
    socket.touch()
    monkeypatch.setattr(flux_client, "SYSTEM_SOCKETS", (str(socket),))
    assert flux_client.instance_uri() == f"local://{socket}"


@pytest.mark.parametrize("path", ORIGINAL_EXAMPLES, ids=lambda p: p.name)
def test_dry_run_shows_the_flux_jobspec_and_the_command(in_instance: None, path: Path) -> None:
    from io import StringIO

    from jobspec.engine.run import Reporter, execute

    out = StringIO()
    result = execute(plan(path, FluxTransformer()), Reporter(stream=out, output=out, color=False), dry_run=True)
    assert result.ok
    text = out.getvalue()
    jobs = [s for s in result.steps if s.step in ("submit", "batch")]
    assert jobs
    for record in jobs:
        body = "\n".join(line[6:] for line in record.summary.splitlines() if line.startswith("    | "))
        spec = json.loads(body)
        assert errors(spec25_flux(), spec) == []
        assert "the same job by hand: flux " in record.summary
    assert "<new temporary directory>/" in text


@pytest.mark.usefixtures("shared")  # its original examples
def test_dry_run_on_the_command_line(tmp_path: Path, no_flux: dict[str, str]) -> None:
    env = dict(no_flux, FLUX_URI="local:///nonexistent/broker")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "flux").write_text("#!/bin/sh\nexit 99\n")  # present, never run by a dry run
    (fake / "flux").chmod(0o755)
    env["PATH"] = f"{fake}{os.pathsep}{env.get('PATH', '')}"
    env = hide_bindings(tmp_path / "no-bindings", env)
    done = jobspec_cli("run", "--dry-run", "-t", "flux", str(ORIGINAL_EXAMPLES[-1]), env=env)
    assert done.returncode == 0, done.stderr
    assert (  # the Flux jobspec as it is on stdout, the words (and the command by hand) on stderr
        '"slot": "hello-world"' in done.stdout and "flux submit --nodes=4 --ntasks=4 --cores-per-task=4" in done.stderr
    )


def test_dry_run_of_stage_lists_the_archive_commands(in_instance: None, tmp_path: Path) -> None:
    from io import StringIO

    from jobspec.engine.run import Reporter, execute

    text = HELLO.replace(
        "  transform:\n", "  transform:\n  - step: set\n    key: sharedfs\n    value: false\n  - step: stage\n"
    )
    out = StringIO()
    execute(
        plan(make_jobspec(tmp_path, text), FluxTransformer()),
        Reporter(stream=out, output=out, color=False),
        dry_run=True,
    )
    assert "flux archive create" in out.getvalue() and "flux archive extract" in out.getvalue()


def test_v1_problems_are_plan_problems_with_their_place(in_instance: None, tmp_path: Path) -> None:
    text = HELLO.replace("    label: default\n", "    label: default\n    id: '0'\n")
    with pytest.raises(JobspecError) as caught:
        plan(make_jobspec(tmp_path, text), FluxTransformer())
    (problem,) = caught.value.problems
    assert problem.path == ("resources", 0, "with", 0, "id") and problem.line is not None
    assert "takes no id" in problem.message


def test_job_ids() -> None:
    owns = FluxTransformer.owns_job_id
    assert owns("ƒ2oLkTLb") and owns("f2oLkTLb") and owns("ƒ1")
    assert not owns("12345") and not owns("local-19ab-123abc") and not owns("0x1f") and not owns("ƒ") and not owns("")


def test_steps_and_settings() -> None:
    assert sorted(FluxTransformer.steps) == ["auth", "batch", "copy", "set", "stage", "submit", "unset", "write"]
    assert FluxTransformer.steps["auth"].name == "empty"
    assert FluxTransformer.setting_table()["flux.interface"].default == "auto"
    assert FluxTransformer.name == "flux" and "Flux" in FluxTransformer.description


def test_registers_as_a_plugin() -> None:
    registry = get_transformer_registry()
    registry.register(FluxTransformer)
    assert registry.get_plugin("flux") is FluxTransformer


def test_interface_choice(monkeypatch: pytest.MonkeyPatch, fresh_clients: None) -> None:
    with pytest.raises(flux_client.FluxError, match="one of auto, bindings, command"):
        flux_client.connect("pigeon")
    monkeypatch.setattr(flux_client, "command_path", lambda: None)

    def no_bindings(self: object, flux_command: str | None) -> None:
        raise ImportError("No module named 'flux'")

    with monkeypatch.context() as hidden:
        hidden.setattr(BindingsClient, "__init__", no_bindings)
        with pytest.raises(flux_client.FluxError, match="neither"):
            flux_client.connect("auto")
        with pytest.raises(flux_client.FluxError, match="bindings do not import"):
            flux_client.connect("bindings")
    flux_client._clients.clear()
    with pytest.raises(flux_client.FluxError, match="no flux command on PATH"):
        flux_client.connect("command")
    monkeypatch.setattr(flux_client, "command_path", lambda: "/opt/flux/bin/flux")
    flux_client._clients.clear()
    client = flux_client.connect("command")
    assert client.name == "command" and client.flux_command == "/opt/flux/bin/flux"
    assert flux_client.connect("command") is client  # made once per process


def test_affinity_only_inside_a_reachable_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chosen first (30) inside an instance it can reach; otherwise only when named (0)."""
    monkeypatch.setattr(flux_client, "SYSTEM_SOCKETS", ())
    monkeypatch.delenv("FLUX_URI", raising=False)
    assert FluxTransformer.affinity() == 0
    monkeypatch.setenv("FLUX_URI", "local:///nonexistent/broker")
    monkeypatch.setattr(flux_transformer, "bindings_present", lambda: False)
    monkeypatch.setattr(flux_transformer, "command_path", lambda: None)
    assert FluxTransformer.affinity() == 0  # an instance, but no way to talk to it
    monkeypatch.setattr(flux_transformer, "command_path", lambda: "/usr/bin/flux")
    assert FluxTransformer.affinity() == 30


def test_options_are_typed() -> None:
    assert FluxTransformer().options.interface is None
    assert FluxTransformer(interface="command").options.interface == "command"
    with pytest.raises(TypeError, match="takes no option partition"):
        FluxTransformer(partition="debug")


def test_flux_errors_are_transformer_errors() -> None:
    from jobspec.plugin import TransformerError

    assert issubclass(flux_client.FluxError, TransformerError)
    assert issubclass(flux_client.JobNotFound, TransformerError)


def test_native_format_is_rfc25(shared: Path) -> None:
    import yaml

    from jobspec import load

    flux = FluxTransformer()
    assert flux.native_format is not None and "RFC 25" in flux.native_format
    example = shared / "flux-rfc" / "spec_25" / "use_case_1.1.yaml"
    assert flux.native_problems(load(example, check=False)) == []
    broken = yaml.safe_load(example.read_text())
    broken["version"] = 2
    assert [p.message for p in flux.native_problems(load(broken, check=False))] == ["version must be 1"]


@pytest.mark.usefixtures("shared")  # its original examples
def test_batch_jobs_launch_their_tasks_with_flux_run(in_instance: None) -> None:
    batch = next(p for p in ORIGINAL_EXAMPLES if p.name == "hello-world-batch.yaml")
    result = execute(plan(batch, FluxTransformer()), Reporter(stream=io.StringIO(), color=False), dry_run=True)
    [record] = [s for s in result.steps if s.step == "batch"]
    body = "\n".join(line[6:] for line in record.summary.splitlines() if line.startswith("    | "))
    environment = json.loads(body)["attributes"]["system"]["environment"]
    assert environment["JOBSPEC_LAUNCH"] == "flux run"


def test_bindings_whose_python_side_does_not_import_say_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """The compiled side (_flux._core) imports, flux's Python modules do not (cffi or ply
    missing): a FluxError naming it, not a traceback, from the calls that need them."""
    import sys
    import types

    core = types.ModuleType("_flux._core")
    core.lib = types.SimpleNamespace(flux_job_submit=None)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "_flux", types.ModuleType("_flux"))
    monkeypatch.setitem(sys.modules, "_flux._core", core)
    monkeypatch.setitem(sys.modules, "flux", None)  # import flux: ImportError
    monkeypatch.setitem(sys.modules, "flux.job", None)
    client = BindingsClient(None)
    for call in (client.status, client.wait, client.cancel):
        with pytest.raises(flux_client.FluxError, match="Python bindings do not import"):
            call("ƒ2oLkTLb")
