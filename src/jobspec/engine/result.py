"""What a run did: each step's outcome and what it produced, ready for JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any


@dataclass
class StepRecord:
    index: int
    step: str
    name: str | None = None
    status: str = "not run"  # ok, failed, not run, planned (dry run)
    summary: str = ""
    job_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    seconds: float = 0.0
    resumed: bool = False  # done by an earlier attempt of the same run (see the journal)
    artifact: str | None = None  # a dry run's: the file, manifest or command the step would write or run


@dataclass
class RunResult:
    transformer: str
    source: str | None
    stage: str | None = None
    steps: list[StepRecord] = field(default_factory=list)
    error: str | None = None
    dry_run: bool = False
    interrupted: bool = False  # stopped between steps on request; the rest never started

    @property
    def finished(self) -> bool:
        """Every step ran, or one failed: the run has an outcome."""
        return not self.interrupted

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def job_ids(self) -> list[str]:
        """Every job the run submitted (each element of a job array too), in order."""
        ids: list[str] = []
        for step in self.steps:
            array = step.details.get("array")
            if isinstance(array, dict):
                ids += [str(job_id) for job_id in array.values() if job_id]
            elif step.job_id:
                ids.append(step.job_id)
        return ids

    @property
    def completed(self) -> list[StepRecord]:
        return [s for s in self.steps if s.status == "ok"]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = _as_dict(self)
        out["ok"] = self.ok
        out["job_ids"] = self.job_ids
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)


_ATOMS = (str, int, float, bool, type(None))


def _as_dict(value: Any) -> Any:
    """What dataclasses.asdict gives (dataclasses as dicts of their fields, containers
    rebuilt, anything else deep-copied), without its generic walk: for JSON-shaped data most
    values are strings and numbers, which need no copy. A result a run is about a third of that."""
    if isinstance(value, _ATOMS):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _as_dict(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, dict):
        return type(value)((_as_dict(k), _as_dict(v)) for k, v in value.items())
    if isinstance(value, list):
        return [_as_dict(item) for item in value]
    import copy

    return copy.deepcopy(value)
