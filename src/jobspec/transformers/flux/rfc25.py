"""`jobspec validate -t flux --native`: check a plain Flux jobspec the way Flux does (RFC 25, V1).

Follows flux-core's own validator (the Python bindings' JobspecV1 checks that
job-ingest runs) and the RFC 25 text where it says more: exactly one resource and
one task, the shapes slot>core, node>slot>core (with an optional gpu beside the
core), the task's slot naming the slot's label, per_slot of 1, a required
duration. Messages keep Flux's wording where Flux has one.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from jobspec.document.model import Jobspec
from jobspec.document.problems import DocPath, Problem
from jobspec.document.validate import finish

TOP_KEYS = ("resources", "tasks", "attributes", "version")


def validate_flux(jobspec: Jobspec | dict[str, Any]) -> list[Problem]:
    if isinstance(jobspec, dict):
        jobspec = Jobspec(jobspec)
    return finish(jobspec, list(_problems(jobspec.data)), raise_error=False)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _problems(data: dict[str, Any]) -> Iterator[Problem]:
    for key in TOP_KEYS:
        if key not in data:
            yield Problem(f"Missing key ({key})", path=(key,))
    for key in data:
        if key not in TOP_KEYS:
            yield Problem(f"Extraneous key ({key})", path=(key,))
    version = data.get("version")
    if "version" in data and (not _is_int(version) or version != 1):
        yield Problem("version must be 1", path=("version",))
    if "resources" in data:
        yield from _resources(data["resources"])
    labels = list(_labels(data.get("resources")))
    if "tasks" in data:
        yield from _tasks(data["tasks"], labels)
    if "attributes" in data:
        yield from _attributes(data["attributes"])


def _labels(resources: Any) -> Iterator[str]:
    if isinstance(resources, list):
        for vertex in resources:
            if isinstance(vertex, dict):
                if vertex.get("type") == "slot" and isinstance(vertex.get("label"), str):
                    yield vertex["label"]
                yield from _labels(vertex.get("with"))


def _resources(resources: Any) -> Iterator[Problem]:
    if not isinstance(resources, list):
        yield Problem("resources must be a sequence", path=("resources",))
        return
    if len(resources) != 1:
        yield Problem("resources must hold exactly one vertex (a node or a slot)", path=("resources",))
    yield from _vertices(resources, ("resources",), None)


_ALLOWED = {None: ("node", "slot"), "node": ("slot",), "slot": ("core", "gpu")}


def _vertices(vertices: list[Any], path: DocPath, parent: str | None) -> Iterator[Problem]:
    allowed = _ALLOWED.get(parent, ())
    kinds = []
    for i, vertex in enumerate(vertices):
        vpath = (*path, i)
        if not isinstance(vertex, dict):
            yield Problem("resource must be a mapping", path=vpath)
            continue
        kind = vertex.get("type")
        if "type" not in vertex:
            yield Problem("type is a required key for resources", path=vpath)
            continue
        if not isinstance(kind, str):
            yield Problem("type must be a string", path=(*vpath, "type"))
            continue
        kinds.append(kind)
        if kind not in allowed:
            where = "at the top" if parent is None else f"under a {parent}"
            hint = ""
            if _holds_core(vertex):
                hint = f": version 1 has no {kind} level, so put its cores directly in the slot"
            yield Problem(
                f"a {kind} vertex is not allowed {where} in version 1 (allowed: {', '.join(allowed) or 'none'}){hint}",
                path=(*vpath, "type"),
            )
        for key in vertex:
            if key not in ("type", "count", "with", "unit", "label", "id", "exclusive"):
                yield Problem(f"Extraneous key ({key})", path=(*vpath, key))
        if "count" not in vertex:
            yield Problem("count is a required key for resources", path=vpath)
        else:
            count = vertex["count"]
            if not _is_int(count):
                yield Problem(
                    f"resource count must be an integer for type '{kind}' (got '{type(count).__name__}')",
                    path=(*vpath, "count"),
                )
            elif kind in ("node", "slot", "core") and count < 1:
                yield Problem("node, slot, or core count must be > 0", path=(*vpath, "count"))
            elif count < 0:
                yield Problem("count must be >= 0", path=(*vpath, "count"))
        for key in ("id", "unit", "label"):
            if key in vertex and not isinstance(vertex[key], str):
                yield Problem(f"{key} must be a string", path=(*vpath, key))
        if "exclusive" in vertex and not isinstance(vertex["exclusive"], bool):
            yield Problem("exclusive must be a boolean", path=(*vpath, "exclusive"))
        if kind == "slot" and "label" not in vertex:
            yield Problem("slots must have labels", path=vpath)
        children = vertex.get("with")
        if kind in ("node", "slot"):
            if not isinstance(children, list) or not children:
                yield Problem(f"a {kind} must have a with list", path=(*vpath, "with"))
                continue
            if kind == "node" and len(children) != 1:
                yield Problem("node with array must have 1 elements", path=(*vpath, "with"))
            if kind == "slot" and len(children) > 2:
                yield Problem("slot with array must have 1-2 elements", path=(*vpath, "with"))
            yield from _vertices(children, (*vpath, "with"), kind)
        elif children is not None and kind in allowed:  # (a vertex not allowed here is reported once)
            yield Problem(f"a {kind} vertex cannot have a with list", path=(*vpath, "with"))
    if parent == "slot" and kinds and "core" not in kinds and not any(_holds_core(v) for v in vertices):
        yield Problem("the resource graph must contain a core under the slot", path=path)
    if parent == "slot" and len(set(kinds)) != len(kinds):
        yield Problem("a slot holds at most one core and one gpu vertex", path=path)


def _holds_core(vertex: Any) -> bool:
    """A core anywhere under ``vertex`` (under a socket, say)."""
    children = vertex.get("with") if isinstance(vertex, dict) else None
    if not isinstance(children, list):
        return False
    return any(isinstance(c, dict) and (c.get("type") == "core" or _holds_core(c)) for c in children)


def _tasks(tasks: Any, labels: list[str]) -> Iterator[Problem]:
    if not isinstance(tasks, list):
        yield Problem("tasks must be a sequence", path=("tasks",))
        return
    if len(tasks) != 1:
        yield Problem("tasks must hold exactly one task", path=("tasks",))
    for i, task in enumerate(tasks):
        tpath: DocPath = ("tasks", i)
        if not isinstance(task, dict):
            yield Problem("task must be a mapping", path=tpath)
            continue
        for key in ("command", "slot", "count"):
            if key not in task:
                yield Problem(f"Missing key ({key})", path=(*tpath, key))
        for key in task:
            if key not in ("command", "slot", "count", "attributes"):
                yield Problem(f"Extraneous key ({key})", path=(*tpath, key))
        command = task.get("command")
        if "command" in task:
            if not isinstance(command, list) or not all(isinstance(c, str) for c in command):
                yield Problem("command must be a list of strings", path=(*tpath, "command"))
            elif not command:
                yield Problem("command array cannot have length of zero", path=(*tpath, "command"))
        slot = task.get("slot")
        if "slot" in task:
            if not isinstance(slot, str):
                yield Problem("slot must be a string", path=(*tpath, "slot"))
            elif slot not in labels:
                yield Problem(
                    f"slot '{slot}' names no slot label in resources (labels: {', '.join(labels) or 'none'})",
                    path=(*tpath, "slot"),
                )
        if "count" in task:
            yield from _task_count(task["count"], (*tpath, "count"))
        if "attributes" in task and not isinstance(task["attributes"], dict):
            yield Problem("attributes must be a mapping", path=(*tpath, "attributes"))


def _task_count(count: Any, path: DocPath) -> Iterator[Problem]:
    if not isinstance(count, dict):
        yield Problem("count must be a mapping", path=path)
        return
    if len(count) != 1:
        yield Problem("count must have exactly one key set", path=path)
    for key, value in count.items():
        if key not in ("per_slot", "total"):
            yield Problem("count per_slot or total must be set", path=(*path, key))
        elif not _is_int(value):
            yield Problem(f"count {key} must be an int", path=(*path, key))
        elif value < 1:
            yield Problem(f"count {key} must be > 0", path=(*path, key))
        elif key == "per_slot" and value != 1:
            yield Problem("count per_slot must be 1 in version 1 (RFC 25); use total for more tasks", path=(*path, key))


def _attributes(attributes: Any) -> Iterator[Problem]:
    path: DocPath = ("attributes",)
    if not isinstance(attributes, dict):
        yield Problem("attributes must be a mapping", path=path)
        return
    for key in attributes:
        if key not in ("system", "user"):
            yield Problem(f"Extraneous key ({key})", path=(*path, key))
    if "user" in attributes and not isinstance(attributes["user"], dict):
        yield Problem("attributes.user must be a mapping", path=(*path, "user"))
    system = attributes.get("system")
    if "system" not in attributes:
        yield Problem("attributes.system is a required key", path=(*path, "system"))
        return
    if not isinstance(system, dict):
        yield Problem("attributes.system must be a mapping", path=(*path, "system"))
        return
    spath: DocPath = (*path, "system")
    if "duration" not in system:
        yield Problem("attributes.system.duration is a required key", path=(*spath, "duration"))
    else:
        duration = system["duration"]
        if isinstance(duration, bool) or not isinstance(duration, (int, float)):
            yield Problem("attributes.system.duration must be a number", path=(*spath, "duration"))
        elif duration < 0:
            yield Problem("duration must not be negative", path=(*spath, "duration"))
    if "cwd" in system and not isinstance(system["cwd"], str):
        yield Problem("cwd must be a string", path=(*spath, "cwd"))
    if "environment" in system and not isinstance(system["environment"], dict):
        yield Problem("environment must be a mapping", path=(*spath, "environment"))
    if "dependencies" in system:
        deps = system["dependencies"]
        if not isinstance(deps, list):
            yield Problem("attributes.system.dependencies must be a list", path=(*spath, "dependencies"))
        else:
            for i, dep in enumerate(deps):
                dpath = (*spath, "dependencies", i)
                if not isinstance(dep, dict):
                    yield Problem("dependency must be a mapping", path=dpath)
                    continue
                for key in ("scheme", "value"):
                    if not isinstance(dep.get(key), str):
                        yield Problem(f"dependency {key} must be a string", path=(*dpath, key))
