"""Fixtures of the Flux tests: a real Flux instance (where flux-core is installed),
fresh Flux clients, and the stand-in flux command."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flux_install import NOT_FOUND, bindings_problem, hide_bindings, start_instance
from flux_support import HERE, FakeFlux

from jobspec.transformers.flux import client as flux_client
from jobspec.transformers.flux.bindings_client import BindingsClient


@pytest.fixture(scope="session")
def instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A four-broker test instance (4 x 8 cores, 2 GPUs each, faked) for the whole run: its
    URI, and why flux-core's bindings do not import here (None when they do)."""
    flux = shutil.which("flux")
    if flux is None:
        pytest.skip(NOT_FOUND)
    try:
        started = start_instance(flux, tmp_path_factory.mktemp("flux-instance"))
    except RuntimeError as e:
        pytest.fail(str(e))
    saved = os.environ.get("FLUX_URI")
    os.environ["FLUX_URI"] = started.uri
    flux_client._clients.clear()
    try:
        yield {"uri": started.uri, "bindings_problem": bindings_problem()}
    finally:
        flux_client._clients.clear()
        if saved is None:
            os.environ.pop("FLUX_URI", None)
        else:
            os.environ["FLUX_URI"] = saved
        started.stop()


@pytest.fixture(autouse=True)
def inside_the_instance(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """FLUX_URI for each test that uses the instance: the suite's autouse fixture removes it
    from every test's environment (so that no other test sees a Flux it did not ask for)."""
    if "instance" in request.fixturenames:
        monkeypatch.setenv("FLUX_URI", request.getfixturevalue("instance")["uri"])


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    """Each test its own Flux clients (they remember the flux command they found)."""
    flux_client._clients.clear()
    yield
    flux_client._clients.clear()


@pytest.fixture
def fake_flux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_clients: None) -> FakeFlux:
    """The stand-in flux command first on PATH, FLUX_URI set, the bindings out of reach
    (of this process, and of the `jobspec` commands run with its ``env``)."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    flux = bin_dir / "flux"
    flux.write_text(f"#!{sys.executable}\n" + (HERE / "fake_flux.py").read_text())
    flux.chmod(0o755)
    state = tmp_path / "fake-flux-state"
    path = f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"
    monkeypatch.setenv("PATH", path)
    monkeypatch.setenv("FLUX_URI", f"local://{tmp_path}/fake-broker")
    monkeypatch.setenv("FAKE_FLUX_DIR", str(state))

    def no_bindings(self: object, flux_command: str | None) -> None:
        raise ImportError("not in these tests: the stand-in flux is a command")

    monkeypatch.setattr(BindingsClient, "__init__", no_bindings)
    env = hide_bindings(
        tmp_path / "no-bindings",
        {"PATH": path, "FLUX_URI": f"local://{tmp_path}/fake-broker", "FAKE_FLUX_DIR": str(state)},
    )
    return FakeFlux(bin_dir, state, env)
