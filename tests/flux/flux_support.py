"""What the Flux tests share: the stand-in flux command's handle, and the oracles.

The oracles are Flux's own schemas (../shared/flux-rfc), flux-core's resource
counting, and the Flux jobs a jobspec's steps become.

Known gaps between the local schemas and Flux, handled here in one place:

- spec_25/schema.json allows ``exclusive`` only on a slot vertex, while flux-core's
  own ``flux submit -N -x`` (JobspecV1.from_command) writes it on the node vertex
  and flux-core's validator accepts it there. `spec25_flux` is the RFC 25 schema
  with exactly that one addition; `spec25` is the schema as it is.
- spec_26/schema.json (an early draft of RFC 26) requires ``type`` and ``scope`` in
  every dependency. The RFC 26 text requires only ``scheme`` and ``value``, says a
  dependency MAY carry more keys, and requires ``type``/``scope`` only for the
  ``string`` and ``fluid`` schemes; flux-core's ``--dependency`` writes
  ``{"scheme", "value"}``. `spec26_rfc_text` is the schema with ``required``
  relaxed to the RFC text's two keys and extra keys allowed; the types of
  ``type``/``scope`` stay checked when present. `spec26` is the schema as it is.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import yaml
from support import ABSENT_EXAMPLE, SHARED, project_examples, require_shared, seed_examples

from jobspec import load
from jobspec.document.model import Jobspec
from jobspec.plugin import script_command
from jobspec.transformers.flux.jobspec_v1 import FluxJob, batch_job, submit_job

HERE = Path(__file__).resolve().parent
RFC = SHARED / "flux-rfc"
ORIGINAL_EXAMPLES = seed_examples()  # the original 0.0.12 examples
PROJECT_EXAMPLES = project_examples()
STAGE = "/tmp/jobspec-stage"
PARENT_ID = "ƒ2oLkTLb"


def _schema(spec: str) -> dict[str, Any]:
    require_shared()
    data: dict[str, Any] = json.loads((RFC / spec / "schema.json").read_text())
    return data


def spec25() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(_schema("spec_25"))


def spec25_flux() -> jsonschema.Draft7Validator:
    """RFC 25's schema, plus ``exclusive`` on a node vertex as flux-core writes it."""
    schema = _schema("spec_25")
    schema["definitions"]["node_vertex"]["properties"]["exclusive"] = {"type": "boolean"}
    return jsonschema.Draft7Validator(schema)


def spec26() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(_schema("spec_26"))


def spec26_rfc_text_schema() -> dict[str, Any]:
    schema = _schema("spec_26")
    schema["items"]["required"] = ["scheme", "value"]
    schema["items"]["additionalProperties"] = True
    return schema


def spec26_rfc_text() -> jsonschema.Draft4Validator:
    return jsonschema.Draft4Validator(spec26_rfc_text_schema())


def spec14(dependencies: dict[str, Any] | None = None) -> jsonschema.Draft7Validator:
    """RFC 14's schema, its ``file:data/spec_26/schema.json`` reference resolved to
    ``dependencies`` (default: the RFC-text reading of RFC 26, see the module notes)."""
    target = dependencies if dependencies is not None else spec26_rfc_text_schema()
    resource = referencing.Resource.from_contents(target, default_specification=referencing.jsonschema.DRAFT4)
    registry: referencing.Registry[Any] = referencing.Registry().with_resource(
        "file:data/spec_26/schema.json", resource
    )
    return jsonschema.Draft7Validator(_schema("spec_14"), registry=registry)


def errors(validator: Any, instance: Any) -> list[str]:
    return [f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in validator.iter_errors(instance)]


def rfc_examples(spec: str) -> list[Path]:
    require_shared()
    return sorted((RFC / spec).glob("*.yaml"))


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# ---------------------------------------------------------------- counting, as flux-core does


def flux_counts(spec: dict[str, Any]) -> dict[str, Any]:
    """What a Flux jobspec asks for, counted the way flux-core reads it
    (Jobspec.resource_counts: each vertex's count times its ancestors'; the task
    count from per_slot x slots or total)."""
    totals: dict[str, int] = {}
    exclusive = False

    def walk(vertices: list[dict[str, Any]], factor: int) -> None:
        nonlocal exclusive
        for vertex in vertices:
            n = factor * int(vertex["count"])
            totals[vertex["type"]] = totals.get(vertex["type"], 0) + n
            exclusive = exclusive or bool(vertex.get("exclusive"))
            walk(vertex.get("with") or [], n)

    walk(spec["resources"], 1)
    task = spec["tasks"][0]
    slots = totals.get("slot", 0)
    tasks = task["count"]["total"] if "total" in task["count"] else task["count"]["per_slot"] * slots
    root = spec["resources"][0]
    return {
        "nodes": root["count"] if root["type"] == "node" else None,
        "slots": slots,
        "cores": totals.get("core", 0),
        "gpus": totals.get("gpu", 0),
        "tasks": tasks,
        "exclusive": exclusive,
    }


def expected_counts(jobspec: Jobspec, kind: str) -> dict[str, Any]:
    c = jobspec.counts
    return {
        "nodes": c.nodes,
        "slots": c.slots,
        "cores": c.cores,
        "gpus": c.gpus,
        # a batch job runs one nested broker per slot (per node, by the shell option)
        "tasks": c.tasks if kind == "submit" else c.slots,
        "exclusive": c.exclusive,
    }


# ---------------------------------------------------------------- the jobs of a jobspec


def job_of_step(jobspec: Jobspec, options: dict[str, Any], stage: str = STAGE) -> FluxJob:
    """The Flux job a submit or batch step becomes (as FluxSubmit / FluxBatch build it)."""
    after = (PARENT_ID,) if options.get("after") else ()
    watch = bool(options.get("watch"))
    filename = options.get("filename")
    if options["step"] == "batch":
        return batch_job(
            jobspec, jobspec.scripts[filename]["content"], stage=stage, filename=filename, watch=watch, after=after
        )
    if filename:
        command = script_command(f"{stage}/{filename}", jobspec.scripts[filename]["content"])
    else:
        command = list(jobspec.command or [])
    return submit_job(jobspec, command, stage=stage, filename=filename, watch=watch, after=after)


def jobs_of(jobspec: Jobspec) -> Iterator[tuple[int, dict[str, Any], FluxJob]]:
    for index, options in enumerate(jobspec.transform):
        if options["step"] in ("submit", "batch"):
            yield index, options, job_of_step(jobspec, options)


def example_jobspecs() -> list[Path]:
    return [p for p in [*ORIGINAL_EXAMPLES, *PROJECT_EXAMPLES] if p != ABSENT_EXAMPLE]  # what is here


# ---------------------------------------------------------------- documents for the shape table


def document(
    resources: list[dict[str, Any]],
    count: dict[str, int] | None = None,
    attributes: dict[str, Any] | None = None,
    steps: list[dict[str, Any]] | None = None,
    slot: str | None = None,
) -> Jobspec:
    """A jobspec with ``resources`` and a written script submitted."""
    label = slot or _first_label(resources) or "default"
    data: dict[str, Any] = {
        "version": 1,
        "resources": copy.deepcopy(resources),
        "task": {
            "slot": label,
            "count": count or {"per_slot": 1},
            "transform": steps
            or [
                {"step": "write", "filename": "job.sh", "executable": True},
                {"step": "submit", "filename": "job.sh"},
            ],
            "scripts": [{"name": "job.sh", "content": "#!/bin/bash\necho hello\n"}],
        },
    }
    if attributes is not None:
        data["attributes"] = attributes
    return load(data)


def _first_label(vertices: list[dict[str, Any]]) -> str | None:
    for v in vertices:
        if v.get("type") == "slot":
            return str(v.get("label"))
        found = _first_label(v.get("with") or [])
        if found:
            return found
    return None


def node(count: int, slot: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "node", "count": count, **extra, "with": [slot]}


def slot(count: int, cores: int, gpus: int = 0, label: str = "task", **extra: Any) -> dict[str, Any]:
    children: list[dict[str, Any]] = [{"type": "core", "count": cores}]
    if gpus:
        children.append({"type": "gpu", "count": gpus})
    return {"type": "slot", "count": count, "label": label, **extra, "with": children}


def ceil_div(a: int, b: int) -> int:
    return math.ceil(a / b)


# ---------------------------------------------------------------- the stand-in flux command


@dataclass
class FakeFlux:
    """The stand-in flux command (tests/flux/fake_flux.py) on PATH, in a Flux-looking
    environment (the ``fake_flux`` fixture). It tests jobspec's process handling, not Flux."""

    bin: Path
    state: Path
    env: dict[str, str]  # for `jobspec` subprocesses: the fake on PATH, FLUX_URI, its state folder

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# ---------------------------------------------------------------- what Flux allocated (its R)


def idset_size(ids: str) -> int:
    """How many ids an RFC 22 idset names (``0-3,5`` is 5)."""
    total = 0
    for part in str(ids).split(","):
        if part:
            first, _, last = part.partition("-")
            total += int(last or first) - int(first) + 1
    return total


def allocated(job_id: str) -> dict[str, int]:
    """Nodes, cores and GPUs of a job's allocation, read from Flux itself (``flux job info ID R``)."""
    import subprocess

    done = subprocess.run(["flux", "job", "info", job_id, "R"], capture_output=True, text=True, check=True)
    counts = {"nodes": 0, "cores": 0, "gpus": 0}
    for entry in json.loads(done.stdout)["execution"]["R_lite"]:
        ranks = idset_size(entry["rank"])
        counts["nodes"] += ranks
        counts["cores"] += ranks * idset_size(entry["children"].get("core", ""))
        counts["gpus"] += ranks * idset_size(entry["children"].get("gpu", ""))
    return counts


def asked(jobspec: Jobspec, job_id: str | None = None) -> dict[str, int]:
    """What a jobspec asks of one job, in the terms of `allocated`; where it names no
    node count, Flux chooses the nodes (given as allocated for ``job_id``)."""
    c = jobspec.counts
    nodes = c.nodes if c.nodes is not None else (allocated(job_id)["nodes"] if job_id else 0)
    return {"nodes": nodes, "cores": c.cores, "gpus": c.gpus}
