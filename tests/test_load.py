"""Loading: files, text, dicts; every kind of unreadable input gets one clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support import HELLO, make_jobspec

from jobspec import JobspecError, load


def test_loads_yaml_file_text_and_dict(tmp_path: Path) -> None:
    path = make_jobspec(tmp_path)
    from_file = load(path)
    from_text = load(HELLO)
    from_dict = load(yaml.safe_load(HELLO))
    assert from_file.data == from_text.data == from_dict.data
    assert from_file.source == str(path)
    assert from_file.scripts["job.sh"]["content"].startswith("#!/bin/bash")


def test_loads_json(tmp_path: Path) -> None:
    path = tmp_path / "job.json"
    path.write_text(json.dumps(yaml.safe_load(HELLO), indent=1))
    assert load(path).counts.tasks == 2


def problem_of(source: object) -> str:
    with pytest.raises(JobspecError) as info:
        load(source)  # type: ignore[arg-type]
    assert len(info.value.problems) >= 1
    return str(info.value)


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = make_jobspec(tmp_path, "version: 1\nresources:\n  - type: node\n   count: 2\n")
    message = problem_of(path)
    assert message.startswith(f"{path}:4:")
    assert "invalid YAML" in message


def test_json_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{\n  "version": 1,\n  "resources": [,]\n}\n')
    assert problem_of(path).startswith(f"{path}:3:17: invalid JSON")


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("", "the file is empty"),
        ("   \n\n", "the file is empty"),
        ("- 1\n- 2\n", "the document is a list"),
        ("just text\n", "the document is a str"),
    ],
)
def test_empty_or_non_mapping_documents(tmp_path: Path, content: str, expected: str) -> None:
    assert expected in problem_of(make_jobspec(tmp_path, content))


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert problem_of(tmp_path / "nope.yaml") == f"{tmp_path / 'nope.yaml'}: no such file"
    assert "is a directory" in problem_of(tmp_path)


def test_binary_file(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_bytes(b"version: 1\n\xff\xfe\x00")
    assert "not UTF-8" in problem_of(path)
