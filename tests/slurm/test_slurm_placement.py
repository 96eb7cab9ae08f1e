"""attributes.system.constraints as Slurm options (pure): features, host lists, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from slurm_support import node_graph

from jobspec import count_resources
from jobspec.transformers.slurm.placement import placement

COUNTS = count_resources(node_graph(2, 1, 1), "s")


@pytest.mark.parametrize(
    ("constraint", "options"),
    [
        ({"properties": ["intel", "ib"]}, [("--constraint", "intel&ib")]),
        # one feature an alternative needs no parentheses
        ({"or": [{"properties": ["intel"]}, {"properties": ["amd"]}]}, [("--constraint", "intel|amd")]),
        # Slurm reads & and | left to right: every alternative of several in parentheses
        (
            {"properties": ["ib"], "or": [{"properties": ["intel"]}, {"properties": ["amd"]}]},
            [("--constraint", "(ib&intel)|(ib&amd)")],
        ),
        ({"hostlist": ["n[1-2]"]}, [("--nodelist", "n[1-2]")]),
        ({"not": [{"hostlist": ["n1", "n3"]}]}, [("--exclude", "n1,n3")]),
        (
            {"properties": ["amd"], "not": [{"hostlist": ["n4"]}]},
            [("--constraint", "amd"), ("--exclude", "n4")],
        ),
    ],
)
def test_constraints_become_slurm_options(constraint: dict[str, Any], options: list[tuple[str, str]]) -> None:
    pairs, problems = placement(constraint, COUNTS)
    assert (pairs, problems) == (options, [])


@pytest.mark.parametrize(
    ("constraint", "place", "fragment"),
    [
        ({"properties": ["^slow"]}, ("properties", 0), "cannot say 'without slow'"),
        ({"not": [{"properties": ["slow"]}]}, ("not", 0, "properties", 0), "cannot say 'without slow'"),
        ({"ranks": ["0-1"]}, ("ranks",), "broker ranks are Flux's"),
        ({"hostlist": ["n[1-3]"]}, ("hostlist",), "names 3 for a job of 2 nodes"),
        ({"or": [{"hostlist": ["n1"]}, {"properties": ["a"]}]}, ("or", 0, "hostlist"), "not inside an or"),
        ({"properties": ["gpu*2"]}, ("properties", 0), "not a Slurm feature name"),
    ],
)
def test_what_slurm_cannot_say_is_refused(constraint: dict[str, Any], place: tuple[Any, ...], fragment: str) -> None:
    _, problems = placement(constraint, COUNTS)
    assert any(p.path == ("attributes", "system", "constraints", *place) and fragment in p.message for p in problems), (
        problems
    )
