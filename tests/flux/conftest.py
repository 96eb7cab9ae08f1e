"""Fixtures of the Flux tests: fresh Flux clients, and the stand-in flux command."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from flux_support import HERE, FakeFlux

from jobspec.transformers.flux import client as flux_client


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    """Each test its own Flux clients (they remember the flux command they found)."""
    flux_client._clients.clear()
    yield
    flux_client._clients.clear()


@pytest.fixture
def fake_flux(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_clients: None) -> FakeFlux:
    """The stand-in flux command first on PATH, FLUX_URI set, the bindings out of reach."""
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

    monkeypatch.setattr(flux_client.BindingsClient, "__init__", no_bindings)
    env = {
        "PATH": path,
        "FLUX_URI": f"local://{tmp_path}/fake-broker",
        "FAKE_FLUX_DIR": str(state),
    }
    return FakeFlux(bin_dir, state, env)
