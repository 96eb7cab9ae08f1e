"""The package's metadata: the license a user is told is the one in LICENSE, in the form
current setuptools reads without a deprecation warning."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_license_is_mit_as_an_spdx_string_and_the_file_says_so() -> None:
    pyprojecttoml = pytest.importorskip("setuptools.config.pyprojecttoml", reason="setuptools is not installed")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the table form warns (SetuptoolsDeprecationWarning)
        config = pyprojecttoml.read_configuration(ROOT / "pyproject.toml")
    project = config["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License")
    assert "Permission is hereby granted, free of charge" in text


def test_install_hints_do_not_send_users_to_the_unrelated_pypi_package() -> None:
    """`jobspec` on PyPI is another release line: hints install from this checkout."""
    offenders = []
    for path in [ROOT / "README.md", *sorted((ROOT / "src").rglob("*.py"))]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "pip install" in line and "jobspec[" in line and "-e " not in line:
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []
