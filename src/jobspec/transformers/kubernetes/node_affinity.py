"""Which nodes the pods may run on, from ``attributes.system.constraints`` (RFC 31): pure.

Kubernetes selects nodes by their labels: the constraint's disjunctive normal form
becomes ``nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution``, whose
``nodeSelectorTerms`` are alternatives (or) of ``matchExpressions`` that all hold (and):

- a property ``gpu`` is a label the node has (``Exists``), ``^gpu`` one it has not
  (``DoesNotExist``); ``zone=us-east-1a`` is a label's value (``In``, ``NotIn``);
- a host list is ``kubernetes.io/hostname`` ``In`` (``NotIn``) the hosts it names.

Broker ranks (Flux's) and names that are not label keys are refused at plan time.
"""

from __future__ import annotations

import re
from typing import Any

from jobspec.document.constraints import Literal, expand_hostlist, terms
from jobspec.document.problems import Problem

HOSTNAME_LABEL = "kubernetes.io/hostname"
PLACE = ("attributes", "system", "constraints")
_NAME = r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)"
_KEY = re.compile(rf"([a-z0-9]([-a-z0-9.]{{0,251}}[a-z0-9])?/)?{_NAME}")
_VALUE = re.compile(rf"{_NAME}?")


def node_affinity(constraint: dict[str, Any] | None) -> tuple[dict[str, Any] | None, list[Problem]]:
    """The pod's ``affinity`` for ``constraint`` (None: any node), and what cannot be said."""
    if not constraint:
        return None, []
    try:
        dnf = terms(constraint)
    except ValueError as e:
        return None, [Problem(f"{e}: simplify it", path=PLACE)]
    problems: list[Problem] = []
    selector_terms = []
    for term in dnf:
        expressions = [e for e in (_expression(lit, problems) for lit in term) if e is not None]
        if not term:
            return None, problems  # one alternative allows every node
        selector_terms.append({"matchExpressions": expressions})
    unique = list({(p.message, p.path): p for p in problems}.values())
    if unique:
        return None, unique
    required = {"nodeSelectorTerms": selector_terms}
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": required}}, []


def _expression(lit: Literal, problems: list[Problem]) -> dict[str, Any] | None:
    if lit.kind == "ranks":
        problems.append(Problem("broker ranks are Flux's: on Kubernetes name the hosts (hostlist)", path=lit.path))
        return None
    if lit.kind == "hostlist":
        return {
            "key": HOSTNAME_LABEL,
            "operator": "NotIn" if lit.negated else "In",
            "values": expand_hostlist(lit.value),
        }
    key, eq, value = lit.value.partition("=")
    if not _KEY.fullmatch(key) or (eq and not _VALUE.fullmatch(value)):
        problems.append(
            Problem(
                f"{lit.value!r} is not a Kubernetes node label (a key such as gpu or example.com/gpu, or key=value)",
                path=lit.path,
            )
        )
        return None
    if eq:
        return {"key": key, "operator": "NotIn" if lit.negated else "In", "values": [value]}
    return {"key": key, "operator": "DoesNotExist" if lit.negated else "Exists"}
