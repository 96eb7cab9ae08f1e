"""What the Slurm tests share (not fixtures: those are in conftest.py): small jobspecs
built from data, running them, reading back what Slurm recorded, and the records
the real 22.05 test cluster printed (records/).
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path
from typing import Any

import yaml

from jobspec import run
from jobspec.engine.result import RunResult
from jobspec.engine.run import Reporter
from jobspec.transformers.slurm.parse import parse_scontrol

RECORDS = Path(__file__).parent / "records"
# Text that quoting, escaping or a % pattern would change, if anything did
WEIRD = 'it\'s "q" $(echo pwned) `x` a  b\nline2 é 50%j'


def record(name: str) -> str:
    """A record the real cluster printed (``scontrol show job -o``)."""
    return (RECORDS / f"{name}.txt").read_text(encoding="utf-8")


def node_graph(nodes: int, slots: int, cores: int, gpus: int = 0) -> list[dict[str, Any]]:
    """A resource graph: ``nodes`` nodes (0: no node level) of ``slots`` slots of ``cores`` cores (and ``gpus``)."""
    below: list[dict[str, Any]] = [{"type": "core", "count": cores}]
    if gpus:
        below.append({"type": "gpu", "count": gpus})
    slot = {"type": "slot", "label": "s", "count": slots, "with": below}
    return [{"type": "node", "count": nodes, "with": [slot]}] if nodes else [slot]


def show(job_id: str) -> dict[str, str]:
    """What Slurm recorded for the job."""
    done = subprocess.run(["scontrol", "show", "job", "-o", job_id], capture_output=True, text=True, check=True)
    return parse_scontrol(done.stdout)


def jobspec_doc(
    resources: list[dict[str, Any]],
    transform: list[dict[str, Any]],
    scripts: dict[str, str],
    count: dict[str, int] | None = None,
    system: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A jobspec document (data, for yaml.safe_dump) with one task on slot ``s``."""
    doc: dict[str, Any] = {
        "version": 1,
        "resources": resources,
        "task": {
            "slot": "s",
            "count": count or {"per_slot": 1},
            "transform": transform,
            "scripts": [{"name": name, "content": content} for name, content in scripts.items()],
        },
    }
    if system:
        doc["attributes"] = {"system": system}
    return doc


graph = node_graph  # the shorter name the cluster tests use


def write_doc(tmp_path: Path, doc: dict[str, Any], name: str = "job.yaml") -> Path:
    """The document as a YAML file (non-ASCII kept as it is)."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def run_slurm(path: Path) -> tuple[RunResult, str]:
    """Run with the slurm transformer, quietly; the result and what watched jobs printed."""
    out = io.StringIO()
    result = run(path, "slurm", reporter=Reporter(stream=io.StringIO(), output=out, color=False))
    return result, out.getvalue()


def job_output(result: RunResult, job_id: str) -> str:
    """What the job wrote to its standard output file."""
    step = next(s for s in result.steps if s.job_id == job_id)
    return Path(step.details["stdout"]).read_text(encoding="utf-8")


TASK = '#!/bin/sh\necho "$SLURMD_NODENAME rank=$JOBSPEC_TASK_RANK/$JOBSPEC_TASK_COUNT $GREETING|$(pwd)"\n'
SUBMIT_AND_WAIT = [{"step": "write", "filename": "task.sh"}, {"step": "submit", "filename": "task.sh", "wait": True}]

# Resource shapes the cluster tests (and the REST comparison) run: (graph, count, attributes.system)
SHAPES = {
    "nodes with slots of cores": (graph(2, 2, 2), None, None),
    "slots with no node level": (graph(0, 3, 2), None, None),
    "per_slot above 1": (graph(2, 1, 4), {"per_slot": 2}, None),
    "total": (graph(2, 2, 1), {"total": 3}, None),
    "a duration": (graph(1, 1, 1), None, {"duration": 90}),
    "a long duration": (graph(0, 1, 1), None, {"duration": 3601}),
    "an environment and a working directory": (
        graph(2, 1, 1),
        None,
        {"environment": {"GREETING": WEIRD.replace("\n", " ")}, "cwd": "WORKDIR"},
    ),
}
