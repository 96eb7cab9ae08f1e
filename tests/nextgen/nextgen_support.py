"""What the next-generation tests share: the proof document, running it for real on any
backend and reading back what its jobs recorded, and the upstream's examples."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from support import SHARED

from jobspec import run
from jobspec.engine.result import RunResult
from jobspec.engine.run import Reporter
from jobspec.transformers.registry import get_transformer_registry

UPSTREAM = SHARED / "upstream-nextgen" / "examples"

# One document with every behaviour the proof checks: a dependency (timestamps), replicas
# (one file per copy), a group with local commands, a job and a nested group, in order.
PROOF = """\
version: 1
resources:
  one:
    type: node
    count: 1
    with:
    - type: core
      count: 1
tasks:
- name: first
  resources: one
  command: ["sh", "-c", "date +%s.%N > first.start; sleep 2; date +%s.%N > first.end"]
- name: second
  depends_on: [first]
  resources: one
  command: ["sh", "-c", "date +%s.%N > second.start"]
- name: copies
  replicas: 3
  resources: one
  command: ["sh", "-c", "echo copy > copy-$JOBSPEC_ARRAY_INDEX.txt"]
- group: outer
groups:
- name: outer
  resources: one
  tasks:
  - local: true
    command: ["sh", "-c", "echo local-start >> group.log"]
  - group: inner
  - name: job
    command: ["sh", "-c", "echo job-$JOBSPEC_TASK_RANK >> group.log"]
  - local: true
    command: "sh -c 'echo local-end >> group.log'"
- name: inner
  tasks:
  - command: ["sh", "-c", "sleep 1; echo inner-job >> group.log"]
"""


def upstream_examples() -> list[Path]:
    return sorted(UPSTREAM.rglob("*.yaml"))


def run_and_wait(text: str, transformer: str, stage: Path, timeout: float = 240) -> tuple[RunResult, list[Any]]:
    """Run the document for real with its stage at ``stage`` (created new); wait for every
    job it submitted. The result, and the final status of each job."""
    doc = stage.parent / f"{stage.name}.yaml"
    doc.write_text(f"{text}settings:\n  stage: {stage}\n")
    quiet = Reporter(stream=io.StringIO(), output=io.StringIO(), color=False)
    result = run(doc, transformer, reporter=quiet)
    assert result.ok, result.error
    backend = get_transformer_registry().get_plugin(transformer)()
    return result, [backend.wait(job_id, timeout=timeout) for job_id in result.job_ids]


def stamp(stage: Path, name: str) -> float:
    """A time a job wrote (``date +%s.%N``)."""
    return float((stage / name).read_text().strip())
