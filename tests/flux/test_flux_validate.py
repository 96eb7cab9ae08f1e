"""`jobspec validate -t flux --native`, with Flux's own RFC 25 schema as the oracle."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from support import jobspec_cli

from jobspec import load
from jobspec.transformers.flux.rfc25 import validate_flux

Mutation = Callable[[dict[str, Any]], None]


def rfc25(shared: Path) -> list[Path]:
    return sorted((shared / "flux-rfc" / "spec_25").glob("*.yaml"))


def test_every_rfc25_example_passes(shared: Path) -> None:
    for path in rfc25(shared):
        assert validate_flux(load(path, check=False)) == [], path


def test_cli_validate_flux_on_every_rfc25_example(shared: Path) -> None:
    paths = [str(p) for p in rfc25(shared)]
    done = jobspec_cli("validate", "-t", "flux", "--native", *paths)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("valid Flux jobspec") == len(paths)


def _slot(d: dict[str, Any]) -> dict[str, Any]:
    vertex = d["resources"][0]
    return vertex if vertex["type"] == "slot" else vertex["with"][0]


# Each mutation breaks a rule that RFC 25's own schema states.
SCHEMA_BREAKERS: dict[str, Mutation] = {
    "version 2": lambda d: d.update(version=2),
    "no resources": lambda d: d.pop("resources"),
    "two resources": lambda d: d["resources"].append(copy.deepcopy(d["resources"][0])),
    "count 0": lambda d: d["resources"][0].update(count=0),
    "count as text": lambda d: d["resources"][0].update(count="4"),
    "unknown vertex type": lambda d: d["resources"][0].update(type="socket"),
    "slot without label": lambda d: _slot(d).pop("label"),
    "slot holding a slot": lambda d: _slot(d).__setitem__(
        "with", [{"type": "slot", "count": 1, "label": "x", "with": [{"type": "core", "count": 1}]}]
    ),
    "three vertices in a slot": lambda d: _slot(d)["with"].extend([{"type": "core", "count": 1}] * 2),
    "extra key on a vertex": lambda d: d["resources"][0].update(colour="red"),
    "no tasks": lambda d: d.pop("tasks"),
    "two tasks": lambda d: d["tasks"].append(copy.deepcopy(d["tasks"][0])),
    "task without command": lambda d: d["tasks"][0].pop("command"),
    "command of numbers": lambda d: d["tasks"][0].update(command=[1, 2]),
    "empty command": lambda d: d["tasks"][0].update(command=[]),
    "per_slot 2": lambda d: d["tasks"][0].update(count={"per_slot": 2}),
    "total 0": lambda d: d["tasks"][0].update(count={"total": 0}),
    "both counts": lambda d: d["tasks"][0].update(count={"per_slot": 1, "total": 2}),
    "unknown count": lambda d: d["tasks"][0].update(count={"per_node": 1}),
    "extra task key": lambda d: d["tasks"][0].update(transform=[]),
    "extra attribute section": lambda d: d["attributes"].update(other={}),
    "negative duration": lambda d: d["attributes"]["system"].update(duration=-1),
    "duration as text": lambda d: d["attributes"]["system"].update(duration="1h"),
    "no attributes": lambda d: d.pop("attributes"),
}


@pytest.mark.parametrize("name", list(SCHEMA_BREAKERS))
def test_agrees_with_rfc25_schema_on_what_it_refuses(shared: Path, name: str) -> None:
    import jsonschema

    schema = json.loads((shared / "flux-rfc" / "spec_25" / "schema.json").read_text())
    oracle = jsonschema.Draft7Validator(schema)
    for path in rfc25(shared):
        doc = yaml.safe_load(path.read_text())
        SCHEMA_BREAKERS[name](doc)
        assert not oracle.is_valid(doc), f"the oracle accepts {name}: the mutation is wrong"
        assert validate_flux(doc), f"{path.name} with {name} passed"


# Rules Flux enforces beyond its published schema (flux-core's JobspecV1 and RFC 25's text).
@pytest.mark.parametrize(
    ("name", "mutate", "message"),
    [
        (
            "no duration",
            lambda d: d["attributes"]["system"].pop("duration"),
            "attributes.system.duration is a required key",
        ),
        ("extra top-level key", lambda d: d.update(task={}), "Extraneous key (task)"),
        ("slot label mismatch", lambda d: d["tasks"][0].update(slot="other"), "names no slot label"),
        (
            "gpu without core",
            lambda d: _slot(d).__setitem__("with", [{"type": "gpu", "count": 1}]),
            "must contain a core",
        ),
        (
            "bad dependency",
            lambda d: d["attributes"]["system"].update(dependencies=[{"scheme": "afterok"}]),
            "dependency value must be a string",
        ),
    ],
)
def test_flux_rules_beyond_the_schema(shared: Path, name: str, mutate: Mutation, message: str) -> None:
    doc = yaml.safe_load((shared / "flux-rfc" / "spec_25" / "use_case_2.4.yaml").read_text())
    mutate(doc)
    problems = validate_flux(doc)
    assert any(message in p.message for p in problems), problems


def test_flux_validation_reports_lines(tmp_path: Path) -> None:
    path = tmp_path / "f.yaml"
    doc = {
        "version": 1,
        "resources": [{"type": "slot", "count": 0, "label": "a", "with": [{"type": "core", "count": 1}]}],
        "tasks": [{"command": ["app"], "slot": "a", "count": {"per_slot": 1}}],
        "attributes": {"system": {"duration": 0}},
    }
    path.write_text(yaml.safe_dump(doc, sort_keys=False))  # the slot's count is on line 4
    done = jobspec_cli("validate", "-t", "flux", "--native", str(path))
    assert done.returncode == 2
    assert f"{path}:4:10: resources[0].count: node, slot, or core count must be > 0" in done.stderr


def test_a_core_under_a_socket_is_not_called_missing(shared: Path) -> None:
    doc = yaml.safe_load((shared / "flux-rfc" / "spec_25" / "use_case_2.4.yaml").read_text())
    cores = _slot(doc)["with"]
    _slot(doc)["with"] = [{"type": "socket", "count": 1, "with": cores}]
    problems = validate_flux(doc)
    assert not any("must contain a core" in p.message for p in problems), problems
    assert [p.message for p in problems] == [
        "a socket vertex is not allowed under a slot in version 1 (allowed: core, gpu): "
        "version 1 has no socket level, so put its cores directly in the slot"
    ]
