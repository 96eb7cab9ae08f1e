"""attributes.system.constraints (Flux RFC 31): its form is checked with places, host lists
expand as Slurm and Flux read them, and the normal form every backend maps from is right."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from support import HELLO, make_jobspec

from jobspec.document.constraints import expand_hostlist, terms
from jobspec.engine.plan import check


def written(term: tuple[Any, ...]) -> list[str]:
    return [("!" if lit.negated else "") + f"{lit.kind}:{lit.value}" for lit in term]


def test_host_lists_expand() -> None:
    assert expand_hostlist("n[1-3,7],login1") == ["n1", "n2", "n3", "n7", "login1"]
    assert expand_hostlist("r[01-02]x[1-2]") == ["r01x1", "r01x2", "r02x1", "r02x2"]
    for bad in ("n[3-1]", "n[1-", "n]", "a,,b", "n[x]"):
        with pytest.raises(ValueError, match="hostlist"):
            expand_hostlist(bad)


def test_the_normal_form() -> None:
    constraint = {"properties": ["ib", "^slow"], "or": [{"properties": ["a"]}, {"properties": ["b"]}]}
    assert [written(t) for t in terms(constraint)] == [
        ["property:ib", "!property:slow", "property:a"],
        ["property:ib", "!property:slow", "property:b"],
    ]
    # not (a or b) = not a and not b; not (a and b) = not a or not b
    assert [written(t) for t in terms({"not": [{"or": [{"properties": ["a"]}, {"properties": ["b"]}]}]})] == [
        ["!property:a", "!property:b"]
    ]
    assert [written(t) for t in terms({"not": [{"properties": ["a", "b"]}]})] == [["!property:a"], ["!property:b"]]
    assert [written(t) for t in terms({"hostlist": ["n[1-2]", "m1"]})] == [["hostlist:n[1-2],m1"]]


@pytest.mark.parametrize(
    ("constraints", "place", "fragment"),
    [
        ("{hostlst: [n1]}", "attributes.system.constraints.hostlst", "did you mean 'hostlist'"),
        ("{properties: intel}", "attributes.system.constraints.properties", "takes a list"),
        ("{properties: ['a b']}", "attributes.system.constraints.properties[0]", "RFC 31 forbids"),
        ("{or: [{hostlist: ['n[2-1]']}]}", "attributes.system.constraints.or[0].hostlist[0]", "not a range"),
        ("{ranks: [x]}", "attributes.system.constraints.ranks[0]", "idsets"),
        ("[intel]", "attributes.system.constraints", "must be a mapping"),
    ],
)
def test_a_bad_constraint_is_refused_with_its_place(
    tmp_path: Path, constraints: str, place: str, fragment: str
) -> None:
    text = HELLO + f"attributes:\n  system:\n    constraints: {constraints}\n"
    problems = [str(p) for p in check(make_jobspec(tmp_path, text))]
    assert any(f": {place}: " in p and fragment in p for p in problems), problems
