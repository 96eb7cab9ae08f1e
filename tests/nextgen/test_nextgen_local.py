"""The next-generation form run for real on this machine (the local transformer)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nextgen_support import PROOF, run_and_wait, stamp

pytestmark = pytest.mark.slow


def test_the_proof_document_runs_in_order_on_local(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    result, statuses = run_and_wait(PROOF, "local", stage)
    assert [s.state for s in statuses] == ["completed"] * len(statuses)
    # second starts only after first has ended (after: on local is an ordered wait)
    assert stamp(stage, "second.start") >= stamp(stage, "first.end")
    # replicas: 3 is three jobs, one per index
    copies = next(s for s in result.steps if s.name == "copies")
    assert sorted(copies.details["array"]) == ["0", "1", "2"]
    assert sorted(p.name for p in stage.glob("copy-*.txt")) == ["copy-0.txt", "copy-1.txt", "copy-2.txt"]
    # the group: its local commands, the nested group's job and its own job, in order
    assert (stage / "group.log").read_text().split() == ["local-start", "inner-job", "job-0", "local-end"]


def test_a_failing_item_stops_its_group(tmp_path: Path) -> None:
    text = """\
version: 1
resources:
  one: {type: node, count: 1, with: [{type: core, count: 1}]}
groups:
- name: g
  resources: one
  tasks:
  - local: true
    command: ["sh", "-c", "echo before >> log.txt"]
  - command: ["sh", "-c", "exit 3"]
  - local: true
    command: ["sh", "-c", "echo after >> log.txt"]
"""
    stage = tmp_path / "stage"
    _result, statuses = run_and_wait(text, "local", stage)
    assert statuses[0].state == "failed"
    assert (stage / "log.txt").read_text().split() == ["before"]
