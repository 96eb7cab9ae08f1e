"""Which nodes a Slurm job may use, from ``attributes.system.constraints`` (RFC 31): pure.

- properties are Slurm node features: ``--constraint`` with ``&`` and ``|``. Slurm 22.05
  reads such an expression left to right with no precedence (``ib|intel&amd`` is
  ``(ib|intel)&amd``, measured on the test cluster), so each alternative of the
  constraint's disjunctive normal form is put in parentheses: ``(intel&ib)|(amd)``.
- a host list the job must stay within: ``--nodelist``, which asks for every host it
  names, so only when the list names exactly the job's node count;
- ``not`` a host list: ``--exclude``.

Refused with the reason, at plan time: a property without (``^x``, ``not``: Slurm
22.05's --constraint has no negation), broker ranks (Flux's), host lists inside an
``or``, a host list that is not the job's nodes.
"""

from __future__ import annotations

import re
from typing import Any

from jobspec.document.constraints import Literal, expand_hostlist, terms
from jobspec.document.problems import Problem
from jobspec.document.resources import ResourceCounts
from jobspec.transformers.slurm.request import Pair

# A feature Slurm reads as one name (``*`` is a count, ``[]`` brackets, ``,`` a list).
_FEATURE = re.compile(r"[A-Za-z0-9_.:+-]+")
PLACE = ("attributes", "system", "constraints")


def placement(constraint: dict[str, Any] | None, counts: ResourceCounts) -> tuple[list[Pair], list[Problem]]:
    """The sbatch options that keep the job on the nodes ``constraint`` allows, and what cannot be said."""
    if not constraint:
        return [], []
    rest, within, outside = _split_hosts(constraint)
    problems: list[Problem] = []
    pairs = _hosts(within, outside, counts, problems)
    try:
        dnf = terms(rest) if rest else []
    except ValueError as e:
        return pairs, [Problem(f"{e}: Slurm takes it only written out; simplify it", path=PLACE)]
    alternatives: list[list[str]] = []
    for term in dnf:
        features = []
        for lit in term:
            if lit.kind == "ranks":
                problems.append(Problem("broker ranks are Flux's: on Slurm name the hosts (hostlist)", path=lit.path))
            elif lit.kind == "hostlist":
                problems.append(
                    Problem(
                        "Slurm takes host lists for the whole job (--nodelist, or --exclude for a not), not inside "
                        "an or, an and or a not of something else: move the hostlist to the top of the constraints",
                        path=lit.path,
                    )
                )
            elif lit.negated:
                problems.append(
                    Problem(
                        f"Slurm 22.05's --constraint cannot say 'without {lit.value}': name the features the "
                        "nodes must have instead (or leave hosts out with not: [{hostlist: [...]}])",
                        path=lit.path,
                    )
                )
            elif not _FEATURE.fullmatch(lit.value):
                problems.append(
                    Problem(f"{lit.value!r} is not a Slurm feature name (letters, digits, _ . : + -)", path=lit.path)
                )
            else:
                features.append(lit.value)
        alternatives.append(features)
    if any(alternatives):
        if len(alternatives) == 1:
            expression = "&".join(alternatives[0])
        else:
            expression = "|".join(a[0] if len(a) == 1 else f"({'&'.join(a)})" for a in alternatives)
        pairs.insert(0, ("--constraint", expression))
    unique = {(p.message, p.path): p for p in problems}
    return pairs, list(unique.values())


def _split_hosts(constraint: dict[str, Any]) -> tuple[dict[str, Any], list[Any], list[Any]]:
    """The top level's host lists (``hostlist``; ``not`` of a bare ``hostlist``) apart from the rest."""
    rest = {k: v for k, v in constraint.items() if k != "hostlist"}
    within = []
    if constraint.get("hostlist"):
        within.append(Literal("hostlist", ",".join(constraint["hostlist"]), False, (*PLACE, "hostlist")))
    outside = []
    kept = []
    for i, item in enumerate(constraint.get("not") or []):
        if isinstance(item, dict) and list(item) == ["hostlist"] and item["hostlist"]:
            outside.append(Literal("hostlist", ",".join(item["hostlist"]), True, (*PLACE, "not", i, "hostlist")))
        else:
            kept.append(item)
    if "not" in rest:
        if kept:
            rest["not"] = kept
        else:
            del rest["not"]
    return rest, within, outside


def _hosts(within: list[Any], outside: list[Any], counts: ResourceCounts, problems: list[Problem]) -> list[Pair]:
    pairs: list[Pair] = []
    if within:
        hosts = expand_hostlist(within[0].value)
        if counts.nodes is None or counts.nodes_max or len(set(hosts)) != counts.nodes:
            nodes = "no node count" if counts.nodes is None else f"{counts.nodes} nodes"
            problems.append(
                Problem(
                    f"Slurm's --nodelist asks for every host it names: this one names {len(set(hosts))} for a job "
                    f"of {nodes}; name exactly the job's nodes, or leave hosts out with not: [{{hostlist: [...]}}]",
                    path=within[0].path,
                )
            )
        else:
            pairs.append(("--nodelist", within[0].value))
    if outside:
        pairs.append(("--exclude", ",".join(lit.value for lit in outside)))
    return pairs
