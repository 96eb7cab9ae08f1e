"""RFC 14 vertices on Flux: memory and sockets reach Flux only where its scheduler honours
them (flux.fluxion), count ranges never (flux-core validates version 1): refused at plan
time, with the place, instead of dropped by sched-simple."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from support import jobspec_cli

from jobspec.engine.plan import check
from jobspec.transformers.flux.transformer import FluxTransformer

DOC: dict[str, Any] = {
    "version": 1,
    "resources": [
        {
            "type": "node",
            "count": 1,
            "with": [
                {
                    "type": "slot",
                    "label": "s",
                    "count": 1,
                    "with": [{"type": "core", "count": 1}, {"type": "memory", "count": 2, "unit": "GB"}],
                }
            ],
        }
    ],
    "task": {"command": ["hostname"], "slot": "s", "count": {"per_slot": 1}, "transform": [{"step": "submit"}]},
}


def problems(doc: dict[str, Any]) -> list[str]:
    return [str(p) for p in check(doc, FluxTransformer())]


def test_memory_is_refused_where_flux_core_would_ignore_it() -> None:
    [problem] = problems(DOC)
    assert problem.startswith("resources[0].with[0].with[1].type: flux-core's own scheduler (sched-simple)")
    assert "set flux.fluxion: true" in problem


def test_memory_reaches_a_fluxion_instance_as_written(tmp_path: Path) -> None:
    doc = copy.deepcopy(DOC)
    doc["task"]["transform"].insert(0, {"step": "set", "key": "flux.fluxion", "value": True})
    assert problems(doc) == []
    path = tmp_path / "job.json"
    path.write_text(json.dumps(doc))
    done = jobspec_cli("run", "-t", "flux", "--dry-run", str(path))
    assert done.returncode == 0, done.stderr
    flux_jobspec = json.loads(done.stdout)  # a dry run's artifact: the Flux jobspec, on stdout
    slot = flux_jobspec["resources"][0]["with"][0]
    assert {"type": "memory", "count": 2, "unit": "GB"} in slot["with"], done.stdout


def test_a_count_range_is_refused_by_flux_core_version_1() -> None:
    doc = copy.deepcopy(DOC)
    doc["resources"][0]["count"] = {"min": 1, "max": 2, "operator": "+", "operand": 1}
    doc["resources"][0]["with"][0]["with"].pop()
    [problem] = problems(doc)
    assert problem.startswith("resources[0].count: flux-core validates jobspec version 1, whose counts are whole")
