"""Which nodes a job may run on: ``attributes.system.constraints``, as Flux RFC 31 writes it.

A constraint is a mapping of operators to lists; the keys of one mapping all hold
(an implicit ``and``)::

    attributes:
      system:
        constraints:
          properties: [intel, ib]           # nodes with both properties (features, labels)
          or:                               # ...and with one of these
          - {properties: [a100]}
          - {properties: ["^slow"]}         # ^: without the property
          not:
          - {hostlist: ["n[3-4]"]}          # ...and not these hosts
          hostlist: ["n[1-8]"]              # only these hosts
          ranks: ["0-3"]                    # Flux broker ranks (Flux only)

This module checks the form (`constraint_problems`), expands host lists
(`expand_hostlist`) and puts a constraint in negation normal form, then in
disjunctive normal form (`terms`): an ``or`` of ``and``s of literals, which is what
Kubernetes' node affinity takes. Each backend maps it in its own folder: Slurm's
``--constraint`` (features with ``&`` and ``|``), ``--nodelist`` and ``--exclude``;
Kubernetes' ``nodeAffinity``; Flux takes it as written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jobspec.document.problems import DocPath, Problem, did_you_mean

OPERATORS = ("properties", "hostlist", "ranks", "and", "or", "not")
# RFC 31: a property name holds none of these (they are Flux's constraint query syntax)
_BAD_PROPERTY = re.compile(r"[\s!&'\"^`|()]")
MAX_HOSTS = 100_000
MAX_TERMS = 64


def constraint_problems(value: Any, path: DocPath = ("attributes", "system", "constraints")) -> list[Problem]:
    """Every problem with a constraint's form, each with its place."""
    if not isinstance(value, dict):
        return [Problem("must be a mapping of constraint operators (RFC 31): " + ", ".join(OPERATORS), path=path)]
    problems: list[Problem] = []
    for key, items in value.items():
        here = (*path, key)
        if key not in OPERATORS:
            hint = did_you_mean(str(key), OPERATORS)
            problems.append(
                Problem(f"unknown constraint operator {key!r}{hint} (RFC 31: {', '.join(OPERATORS)})", here)
            )
            continue
        if not isinstance(items, list):
            problems.append(Problem(f"{key} takes a list", here))
            continue
        for i, item in enumerate(items):
            where = (*here, i)
            if key in ("and", "or", "not"):
                problems += constraint_problems(item, where)
            elif not isinstance(item, str) or not item:
                problems.append(Problem(f"{key} holds non-empty strings, not {item!r}", where))
            elif key == "properties" and _BAD_PROPERTY.search(item.removeprefix("^")):
                problems.append(
                    Problem(f"property {item!r} holds a character RFC 31 forbids (space, !&'\"^`|())", where)
                )
            elif key == "hostlist":
                try:
                    expand_hostlist(item)
                except ValueError as e:
                    problems.append(Problem(str(e), where))
            elif key == "ranks" and not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", item):
                problems.append(Problem(f"ranks holds idsets such as '0-3,7', not {item!r}", where))
    return problems


def expand_hostlist(text: str) -> list[str]:
    """``n[1-3,7],login1`` -> n1 n2 n3 n7 login1 (zero padding kept: ``n[01-02]`` -> n01 n02)."""
    hosts: list[str] = []
    for part in _split_top(text):
        hosts += _expand_one(part, text)
        if len(hosts) > MAX_HOSTS:
            raise ValueError(f"hostlist {text!r} names more than {MAX_HOSTS} hosts")
    return hosts


def _split_top(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += ch == "["
        depth -= ch == "]"
        if depth < 0:
            raise ValueError(f"hostlist {text!r} has a ']' without its '['")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth:
        raise ValueError(f"hostlist {text!r} has a '[' without its ']'")
    parts.append(text[start:])
    if any(not p for p in parts):
        raise ValueError(f"hostlist {text!r} has an empty host name")
    return parts


def _expand_one(part: str, whole: str) -> list[str]:
    found = re.search(r"\[([^\]]*)\]", part)
    if found is None:
        if re.search(r"[\s\[\]]", part):
            raise ValueError(f"hostlist {whole!r}: {part!r} is not a host name")
        return [part]
    head, tail = part[: found.start()], part[found.end() :]
    out = []
    for item in found.group(1).split(","):
        low, dash, high = item.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()) or (dash and int(high) < int(low)):
            raise ValueError(f"hostlist {whole!r}: [{found.group(1)}] is not a range such as [1-4,7]")
        width = len(low) if low.startswith("0") else 0
        for n in range(int(low), int(high if dash else low) + 1):
            for rest in _expand_one(tail, whole):
                out.append(f"{head}{n:0{width}d}{rest}")
                if len(out) > MAX_HOSTS:
                    raise ValueError(f"hostlist {whole!r} names more than {MAX_HOSTS} hosts")
    return out


@dataclass(frozen=True)
class Literal:
    """One condition on a node: it has (or, negated, has not) a property, or is (is not) one of hosts / ranks."""

    kind: str  # "property", "hostlist" or "ranks"
    value: str  # a property name, or a host list / idset as written
    negated: bool
    path: DocPath

    def negate(self) -> Literal:
        return Literal(self.kind, self.value, not self.negated, self.path)


Term = tuple[Literal, ...]  # literals that all hold


def terms(constraint: dict[str, Any], path: DocPath = ("attributes", "system", "constraints")) -> list[Term]:
    """The constraint as an ``or`` of ``and``s (disjunctive normal form); ValueError past MAX_TERMS."""
    return _dnf(constraint, path, negated=False)


def _dnf(node: dict[str, Any], path: DocPath, negated: bool) -> list[Term]:
    parts: list[list[Term]] = []  # each: a DNF; all of them hold (and), or one holds (negated: De Morgan)
    for key, items in node.items():
        here = (*path, key)
        if key == "properties":
            for i, name in enumerate(items):
                lit = Literal("property", name.removeprefix("^"), name.startswith("^"), (*here, i))
                parts.append([(lit.negate() if negated else lit,)])
        elif key in ("hostlist", "ranks"):  # a node in any of the lists: one literal for them all
            parts.append([(Literal(key, ",".join(items), negated, here),)])
        elif key == "and":
            parts += [_dnf(child, (*here, i), negated) for i, child in enumerate(items)]
        elif key == "or":
            alternatives = [_dnf(child, (*here, i), negated) for i, child in enumerate(items)]
            parts.append(_and(alternatives) if negated else [t for alt in alternatives for t in alt])
        elif key == "not":
            # not [a, b] is not (a and b)
            inner = [_dnf(child, (*here, i), not negated) for i, child in enumerate(items)]
            parts.append(_and(inner) if negated else [t for alt in inner for t in alt])
    if negated:  # the keys of a negated mapping: not (a and b) = not a or not b
        return [t for p in parts for t in p] or [()]
    return _and(parts)


def _and(dnfs: list[list[Term]]) -> list[Term]:
    out: list[Term] = [()]
    for dnf in dnfs:
        out = [a + b for a in out for b in dnf]
        if len(out) > MAX_TERMS:
            raise ValueError(f"the constraint expands to more than {MAX_TERMS} alternatives")
    return out
