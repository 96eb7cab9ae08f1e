"""The out-of-tree plugin package (toy_plugin/), really installed, once per session."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from jobspec.transformers import registry as registry_module

PACKAGE = Path(__file__).with_name("toy_plugin")


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder the toy plugin package is pip-installed into (its dist-info holds the entry point)."""
    target = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        pytest.fail(f"pip could not install the toy plugin:\n{done.stderr}")
    return target


@pytest.fixture
def plugins(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The installed plugins visible to this process (a fresh registry) and to commands it starts."""
    monkeypatch.syspath_prepend(str(plugin_site))
    monkeypatch.setenv("PYTHONPATH", str(plugin_site))
    monkeypatch.setattr(registry_module, "_registry", None)
    yield plugin_site
    for name in ("toy_transformer", "jobspec_echo"):
        sys.modules.pop(name, None)
