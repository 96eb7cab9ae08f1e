"""Which fields of a document a backend leaves unread, so that a run can say so.

Each transformer names what it does not read (README: "every field, on every
backend"); `unread` finds those of them this document holds. What a backend cannot
express at all is refused at plan time instead, by the backend.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Any

from jobspec.document.model import Jobspec

# attributes.system keys every backend reads (the constraints: mapped or refused by each)
READ_SYSTEM_KEYS = frozenset({"duration", "cwd", "environment", "job", "constraints"})


def unread(
    jobspec: Jobspec,
    *,
    system_keys: Collection[str] = READ_SYSTEM_KEYS,
    vertex_fields: Collection[str] = (),
    node_count: bool = False,
    task_resources: bool = True,
    task_attributes: bool = True,
    user: bool = True,
) -> list[str]:
    """The fields present in ``jobspec`` that a backend ignores: ``system_keys`` are the
    attributes.system keys it reads; ``vertex_fields`` the vertex fields it ignores
    (``id``, ``exclusive``); ``node_count`` whether it ignores a node count above 1; the
    flags, whether it ignores task.resources, task.attributes and attributes.user."""
    found: list[str] = []
    for key in jobspec.system:
        if key not in system_keys:
            found.append(f"attributes.system.{key}")
    for name in vertex_fields:
        if any(name in vertex for vertex in _vertices(jobspec.resources)):
            found.append(f"the resource graph's {name}")
    if node_count and (jobspec.counts.nodes or 0) > 1:
        found.append(f"the node count ({jobspec.counts.nodes})")
    if task_resources and jobspec.task.get("resources"):
        found.append("task.resources")
    if task_attributes and jobspec.task.get("attributes"):
        found.append("task.attributes")
    if user and (jobspec.data.get("attributes") or {}).get("user"):
        found.append("attributes.user")
    return found


def _vertices(vertices: list[Any]) -> Iterator[dict[str, Any]]:
    for vertex in vertices:
        if isinstance(vertex, dict):
            yield vertex
            yield from _vertices(vertex.get("with") or [])
