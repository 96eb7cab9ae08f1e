"""The real systems the next-generation proof runs on: the Slurm test cluster (the `slurm`
fixture of tests/conftest.py) and a Flux test instance where flux is installed."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from flux_install import NOT_FOUND, start_instance


@pytest.fixture(scope="session")
def flux_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A two-broker Flux test instance for the session; its URI."""
    flux = shutil.which("flux")
    if flux is None:
        pytest.skip(NOT_FOUND)
    try:
        instance = start_instance(flux, tmp_path_factory.mktemp("flux-instance"), size=2)
    except RuntimeError as e:
        pytest.fail(str(e))
    try:
        yield instance.uri
    finally:
        instance.stop()
