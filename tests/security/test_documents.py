"""Issue 15, items 2, 5 and 9: documents built to hurt the process that reads them are
refused quickly, with a clear message and exit code 2, never a traceback or a hang."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml
from support import HELLO, jobspec_cli, make_jobspec

from jobspec import JobspecError, load

ALIAS_BOMB = "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


def refused(text: str) -> str:
    with pytest.raises(JobspecError) as caught:
        load(text)
    return str(caught.value)


def test_an_alias_bomb_is_refused_quickly_in_a_set_value(tmp_path: Path) -> None:
    document = HELLO.replace("  transform:\n", "  transform:\n  - {step: set, key: stage, value: *i}\n")
    started = time.monotonic()
    done = jobspec_cli("validate", str(make_jobspec(tmp_path, ALIAS_BOMB + document)))
    assert time.monotonic() - started < 10  # the expanded document would be 3 GB of strings
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "once its aliases (*name) are expanded" in done.stderr
    assert len(done.stderr) < 2000


def test_a_few_shared_aliases_are_fine() -> None:
    text = HELLO + "attributes:\n  system: {environment: &env {A: '1'}, duration: 60}\n  user: {copy: *env}\n"
    assert load(text).environment == {"A": "1"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\nversion: 2\n", "the key 'version' is given twice"),
        ('{"version": 1, "version": 1}', "the key 'version' is given twice"),
        ("[" * 100_000 + "]" * 100_000, "nesting"),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "levels deep"),
        ('{"version": 1, "task": {"command": ["a\\u0000b"]}}', "task.command[0]: the value holds a NUL"),
        ('{"version": 1, "name": "\\ud800"}', "name: the value holds a lone surrogate"),
    ],
    ids=["yaml duplicate key", "json duplicate key", "deep yaml", "deep json", "NUL", "lone surrogate"],
)
def test_malformed_documents_get_one_clear_message(text: str, message: str) -> None:
    assert message in refused(text)


def test_the_command_line_reports_them_with_exit_code_2(tmp_path: Path) -> None:
    for text in ('{"a":' * 100_000 + "1" + "}" * 100_000, "version: 1\nversion: 1\n", '{"v": "\\ud800"}'):
        done = jobspec_cli("run", "-t", "local", "-", input=text)
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr and done.stderr.startswith("jobspec: ")


def test_standard_input_has_the_same_size_limit_and_must_be_utf8(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.write_bytes(b"# " + b"x" * (17 * 1024 * 1024) + b"\n")
    with open(big, "rb") as stdin:
        done = jobspec_cli("validate", "-", stdin=stdin)
    assert done.returncode == 2 and "larger than 16 MiB" in done.stderr
    done = jobspec_cli("validate", "-", input_bytes=b"version: 1\nname: \xff\xfe\n")
    assert done.returncode == 2 and "not UTF-8 text" in done.stderr


@pytest.mark.parametrize("command", ["run", "validate"])
def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path, command: str) -> None:
    fifo = tmp_path / "job.yaml"
    os.mkfifo(fifo)
    done = jobspec_cli(command, str(fifo), timeout=20)  # would block forever on open()
    assert done.returncode == 2
    assert "not a regular file" in done.stderr


def test_a_long_value_in_a_message_is_cut_short(tmp_path: Path) -> None:
    document = yaml.safe_load(HELLO)
    document["task"]["transform"].insert(0, {"step": "set", "key": "sharedfs", "value": "x" * 1_000_000})
    done = jobspec_cli("validate", "-t", "local", "-", input=json.dumps(document))
    assert done.returncode == 2 and "sharedfs takes true or false" in done.stderr
    assert len(done.stderr) < 2000
