"""The resource limits a job inherits from the process that submits it, as ``flux submit``
and ``flux batch`` hand them on (``attributes.system.shell.options.rlimit``).

flux-core's rule (flux/job/_utils.py, ``get_filtered_rlimits``): every soft limit this
process has, less memlock, ofile, msgqueue, nice, rtprio, rttime and sigpending, then
the user's ``--rlimit`` rules in order: ``-NAME`` drops matching limits, ``NAME`` takes
this process's value, ``NAME=VALUE`` sets one (``unlimited``/``infinity``/``inf``: -1).
NAME may be a glob. The job shell's rlimit plugin applies them on every node.
"""

from __future__ import annotations

import fnmatch
import resource
from collections.abc import Iterable

NOT_PROPAGATED = ("memlock", "ofile", "msgqueue", "nice", "rtprio", "rttime", "sigpending")
INFINITY = ("unlimited", "infinity", "inf")


# every limit this platform names (RLIMIT_CORE...), looked up once
_NAMES = tuple(sorted(name for name in vars(resource) if name.startswith("RLIMIT_")))
# (name as flux-core writes it, the resource constant), and those it hands on by default:
# made once, so a submission asks only getrlimit (asked each time: a limit may change)
_LIMITS = tuple((name[len("RLIMIT_") :].lower(), getattr(resource, name)) for name in _NAMES)
_PROPAGATED = tuple((name, which) for name, which in _LIMITS if name not in NOT_PROPAGATED)


def current(pattern: str = "*") -> dict[str, int]:
    """This process's soft limits whose name matches ``pattern`` (lower case, no RLIMIT_)."""
    if pattern == "*":
        return {name: resource.getrlimit(which)[0] for name, which in _LIMITS}
    names = fnmatch.filter(_NAMES, f"RLIMIT_{pattern}".upper())
    return {name[len("RLIMIT_") :].lower(): resource.getrlimit(getattr(resource, name))[0] for name in names}


def rule_problem(rule: str) -> str | None:
    """Why one ``--rlimit`` rule would be refused by flux submit, or None."""
    if rule.startswith("-"):
        return None
    name, eq, value = rule.partition("=")
    if not eq:
        return None if current(name.lower()) else f'no resource limit matches "{name}"'
    if not hasattr(resource, f"RLIMIT_{name}".upper()):
        return f'invalid resource limit "{name}"'
    if value not in INFINITY and not value.lstrip("-").isdigit():
        return f"invalid value in {rule} (a number, or unlimited)"
    return None


def propagated(rules: Iterable[str] = ()) -> dict[str, int]:
    """What ``flux submit`` with ``--rlimit`` ``rules`` would propagate from this process."""
    limits = {name: resource.getrlimit(which)[0] for name, which in _PROPAGATED}  # flux-core's default rules
    for rule in [r for rules_ in rules for r in rules_.split(",") if r]:
        if rule.startswith("-"):
            pattern = rule[1:].lower()
            limits = {k: v for k, v in limits.items() if not fnmatch.fnmatchcase(k, pattern)}
            continue
        name, eq, value = rule.partition("=")
        if not eq:
            limits.update(current(name.lower()))
        elif hasattr(resource, f"RLIMIT_{name}".upper()):
            limits[name.lower()] = resource.RLIM_INFINITY if value in INFINITY else int(value)
    return limits
