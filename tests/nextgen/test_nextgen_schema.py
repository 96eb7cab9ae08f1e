"""The next-generation JSON Schema: valid, current in its compiled form, and read the same
way by an independent validator (jsonschema) as by the fast one jobspec uses."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pytest
import yaml
from nextgen_support import PROOF, upstream_examples

from jobspec.document import nextgen
from jobspec.document.validate import schema_problems


def test_the_schema_is_a_draft7_schema() -> None:
    jsonschema.Draft7Validator.check_schema(nextgen.schema())


def test_generated_check_is_current() -> None:
    from jobspec.document import _nextgen_schema_check

    assert nextgen.schema_crc32() == _nextgen_schema_check.SCHEMA_CRC32, "run scripts/generate-schema-check"
    assert nextgen._compiled() is _nextgen_schema_check.validate


def _documents() -> list[dict[str, Any]]:
    docs = [yaml.safe_load(PROOF)] + [yaml.safe_load(p.read_text()) for p in upstream_examples()]
    out = []
    for doc in docs:
        out.append(doc)
        for mutate in (
            lambda d: d.setdefault("tasks", [{}]).__setitem__(0, {**d["tasks"][0], "replicas": 0}),
            lambda d: d.__setitem__("extra", 1),
            lambda d: next(iter(d["resources"].values())).__setitem__("type", "cores"),
            lambda d: d.setdefault("tasks", [{}])[0].__setitem__("command", []),
            lambda d: d.__setitem__("attributes", {"duration": True}),
        ):
            changed = copy.deepcopy(doc)
            mutate(changed)
            out.append(changed)
    return out


@pytest.mark.parametrize("index", range(len(_documents())))
def test_the_fast_check_agrees_with_jsonschema(index: int) -> None:
    doc = _documents()[index]
    reference = jsonschema.Draft7Validator(nextgen.schema())
    ours = list(schema_problems(doc, nextgen._compiled()))
    theirs = list(reference.iter_errors(doc))
    assert bool(ours) == bool(theirs), (doc, [str(p) for p in ours], [e.message for e in theirs])
