"""The next-generation jobspec (compspec/jobspec 0.1.x): telling it apart, and checking it.

The upstream's second form names its resource graphs (``resources`` is a mapping),
lists named ``tasks`` and ``groups``, and links them by name (``resources: build``,
``group: inner``, ``depends_on: [build]``). It is checked here, every problem at once
and each at its place in the file the user wrote, then lowered into the one model
every transformer reads (`jobspec.document.nextgen_lower`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from jobspec.document.model import is_nextgen
from jobspec.document.problems import DocPath, Problem, did_you_mean, one_of

__all__ = ["is_nextgen", "problems", "schema"]

SCHEMA_FILE = Path(__file__).with_name("nextgen_schema.json")

# the resource vertices a next-generation graph may hold, and what each may hold
_INSIDE: Mapping[str | None, tuple[str, ...]] = {
    None: ("node", "slot", "core", "gpu"),
    "node": ("slot", "core", "gpu"),
    "slot": ("core", "gpu"),
}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of the next-generation form (nextgen_schema.json)."""
    result: dict[str, Any] = json.loads(SCHEMA_FILE.read_text())
    return result


def schema_crc32() -> int:
    """Enough to tell a stale generated check from a current one."""
    import zlib

    return zlib.crc32(SCHEMA_FILE.read_bytes())


@lru_cache(maxsize=1)
def _compiled() -> Callable[[Any], Any]:
    """The schema check: compiled ahead of time (scripts/generate-schema-check) when the
    shipped module matches nextgen_schema.json, else compiled now."""
    from jobspec.document import _nextgen_schema_check

    if schema_crc32() == _nextgen_schema_check.SCHEMA_CRC32:
        check: Callable[[Any], Any] = _nextgen_schema_check.validate
        return check
    from jobspec.document.validate import compile_now

    return compile_now(schema())


def duration_seconds(value: Any) -> float | None:
    """``300``, ``"300s"``, ``"5m"``, ``"1.5h"``, ``"2d"`` in seconds; None if unreadable."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if match is None:
        return None
    return float(match.group(1)) * _UNITS[match.group(2)]


def split_command(command: str | list[str]) -> list[str]:
    """A task's command as an argument list: a string is split as a shell would split words
    (no expansion), a list is taken as it is. ValueError for unbalanced quotes."""
    if isinstance(command, list):
        return list(command)
    import shlex

    return shlex.split(command)


@dataclass
class Level:
    """One list of tasks (the document's, or a group's), for the rules that hold per list."""

    path: DocPath  # where the list is: ("tasks",) or ("groups", 0, "tasks")
    items: list[dict[str, Any]]
    group: str | None  # the group that runs this list (None: the top level)
    names: dict[str, int] = field(default_factory=dict)  # item name -> index


def item_name(item: Mapping[str, Any], index: int, prefix: str = "") -> str:
    """What an item is called in dependencies and job names (the upstream's defaults)."""
    if item.get("name"):
        return str(item["name"])
    if item.get("group"):
        return str(item["group"])
    return f"{prefix}task-{index}"


def group_table(data: Mapping[str, Any]) -> dict[str, tuple[dict[str, Any], DocPath]]:
    """Every named group definition (top level, and nested under a group's ``groups``)."""
    table: dict[str, tuple[dict[str, Any], DocPath]] = {}
    stack: list[tuple[list[Any], DocPath]] = [(data.get("groups") or [], ("groups",))]
    while stack:
        groups, path = stack.pop()
        for i, group in enumerate(groups if isinstance(groups, list) else []):
            if isinstance(group, dict):
                if group.get("name"):
                    table.setdefault(str(group["name"]), (group, (*path, i)))
                stack.append((group.get("groups") or [], (*path, i, "groups")))
    return table


def problems(data: Mapping[str, Any]) -> list[Problem]:
    """Every problem with a next-generation document (the schema first, then the rules)."""
    from jobspec.document.validate import one_per_place, schema_problems

    found = list(schema_problems(data, _compiled()))
    for check in ("check_resources", "check_groups", "check_tasks"):
        try:
            found += getattr(_Rules(data), check)()
        except (TypeError, KeyError, AttributeError, ValueError, IndexError):
            if not found:
                raise
            # a rule that trips over what the schema already reported: those problems stand
    return one_per_place(found)


class _Rules:
    """The rules a schema cannot say: names that name nothing, cycles, shapes."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.resources: Mapping[str, Any] = data.get("resources") or {}
        self.requires: Mapping[str, Any] = data.get("requires") or {}
        self.groups = group_table(data)

    def check(self) -> Iterator[Problem]:
        yield from self.check_resources()
        yield from self.check_groups()
        yield from self.check_tasks()

    def check_resources(self) -> list[Problem]:
        return [
            p for name, graph in self.resources.items() for p in self._graph(graph, ("resources", name), None, True)
        ]

    def check_tasks(self) -> list[Problem]:
        return list(self._level(Level(("tasks",), list(self.data.get("tasks") or []), None)))

    def check_groups(self) -> list[Problem]:
        return list(self._groups())

    def _groups(self) -> Iterator[Problem]:
        yield from self._group_names()
        referenced = {str(i["group"]) for lv in self._levels() for i in lv.items if i.get("group")}
        for i, group in enumerate(self.data.get("groups") or []):
            gpath: DocPath = ("groups", i)
            name = group.get("name")
            if name not in referenced and not group.get("resources"):
                yield Problem("a group run on its own needs resources (the allocation its tasks share)", path=gpath)
            if name not in referenced and group.get("depends_on"):
                yield from self._depends_on_outside(group, gpath)
            yield from self._group_body(group, gpath)
        for _name, (group, gpath) in self.groups.items():
            if gpath[0] == "groups" and len(gpath) > 2:  # a nested definition
                yield from self._group_body(group, gpath)
        yield from self._containment()

    def _levels(self) -> Iterator[Level]:
        yield Level(("tasks",), list(self.data.get("tasks") or []), None)
        for name, (group, gpath) in self.groups.items():
            yield Level((*gpath, "tasks"), list(group.get("tasks") or []), name)
        for i, group in enumerate(self.data.get("groups") or []):
            if not group.get("name"):
                yield Level(("groups", i, "tasks"), list(group.get("tasks") or []), f"batch-{i}")

    def _group_names(self) -> Iterator[Problem]:
        seen: dict[str, DocPath] = {}
        stack: list[tuple[list[Any], DocPath]] = [(self.data.get("groups") or [], ("groups",))]
        while stack:
            groups, path = stack.pop()
            for i, group in enumerate(groups):
                gpath = (*path, i)
                name = group.get("name")
                if name is None:
                    if len(path) > 1:
                        yield Problem("a group defined inside a group needs a name (a task runs it with group:)", gpath)
                elif name in seen:
                    yield Problem(
                        f"there is another group named '{name}': a group name names one group", (*gpath, "name")
                    )
                else:
                    seen[name] = gpath
                stack.append((group.get("groups") or [], (*gpath, "groups")))

    def _group_body(self, group: Mapping[str, Any], gpath: DocPath) -> Iterator[Problem]:
        if group.get("resources"):
            yield from self._resource_ref(str(group["resources"]), (*gpath, "resources"))
        if group.get("requires"):
            yield from self._requires_ref(str(group["requires"]), (*gpath, "requires"))
        yield from self._attributes(group.get("attributes"), (*gpath, "attributes"))
        yield from self._level(Level((*gpath, "tasks"), list(group.get("tasks") or []), str(group.get("name"))))

    def _depends_on_outside(self, group: Mapping[str, Any], gpath: DocPath) -> Iterator[Problem]:
        names = [item_name(t, i) for i, t in enumerate(self.data.get("tasks") or [])]
        for j, dep in enumerate(group.get("depends_on") or []):
            if dep not in names:
                yield Problem(
                    f"names no task at the top level{did_you_mean(dep, names)} (tasks: {one_of(names) or 'none'})",
                    (*gpath, "depends_on", j),
                )

    def _level(self, level: Level) -> Iterator[Problem]:
        in_group = level.group is not None
        for i, item in enumerate(level.items):
            ipath = (*level.path, i)
            name = item_name(item, i)
            if name in level.names:
                where = "this group" if in_group else "the top-level tasks"
                yield Problem(f"another item of {where} is called '{name}': give each a name of its own", ipath)
            level.names.setdefault(name, i)
            yield from self._item(item, ipath, in_group)
        yield from self._dependencies(level)

    def _item(self, item: Mapping[str, Any], ipath: DocPath, in_group: bool) -> Iterator[Problem]:
        if "group" in item:
            for key in ("command", "local", "resources", "replicas", "steps", "requires", "attributes"):
                if key in item:
                    yield Problem(
                        f"an item that runs a group takes no {key}: give it to the group's definition",
                        (*ipath, key),
                    )
            group = str(item["group"])
            if group not in self.groups:
                yield Problem(
                    f"names no group{did_you_mean(group, self.groups)} (groups: {one_of(self.groups) or 'none'})",
                    (*ipath, "group"),
                )
            elif not in_group and not self.groups[group][0].get("resources"):
                yield Problem(f"group '{group}' has no resources: a group run at the top level needs them", ipath)
            return
        if "command" not in item:
            yield Problem("missing required field 'command' (or group: to run a group here)", (*ipath, "command"))
        else:
            try:
                split_command(item["command"])
            except ValueError as e:
                yield Problem(f"cannot be split into words: {e}", (*ipath, "command"))
        if item.get("local"):
            if not in_group:
                yield Problem(
                    "local: true runs a command in a group's batch script; at the top level there is no "
                    "allocation to run it in (drop local, or move the task into a group)",
                    (*ipath, "local"),
                )
            for key in ("resources", "replicas", "steps"):
                if key in item:
                    yield Problem(f"a local command runs in the batch script itself: it takes no {key}", (*ipath, key))
        elif not in_group and not item.get("resources"):
            yield Problem(
                "a task at the top level needs resources (a name from resources:); only a task "
                "inside a group may use its group's",
                ipath,
            )
        if item.get("resources"):
            yield from self._resource_ref(str(item["resources"]), (*ipath, "resources"))
        if item.get("requires"):
            yield from self._requires_ref(str(item["requires"]), (*ipath, "requires"))
        yield from self._attributes(item.get("attributes"), (*ipath, "attributes"))
        if in_group:
            for j in range(len(item.get("steps") or [])):
                yield Problem(
                    "a step runs before a job is submitted from this machine: inside a group there is none",
                    (*ipath, "steps", j),
                )

    def _resource_ref(self, ref: str, path: DocPath) -> Iterator[Problem]:
        if "&" in ref:
            yield Problem("'a&b' (both resource sets at once) is not supported: name one, or alternatives a|b", path)
            return
        for name in ref.split("|"):
            if name not in self.resources:
                yield Problem(
                    f"'{name}' names no resources{did_you_mean(name, self.resources)} "
                    f"(resources: {one_of(self.resources) or 'none'})",
                    path,
                )

    def _requires_ref(self, ref: str, path: DocPath) -> Iterator[Problem]:
        for name in ref.split("|"):
            if name not in self.requires:
                yield Problem(
                    f"'{name}' names no requirement set{did_you_mean(name, self.requires)} "
                    f"(requires: {one_of(self.requires) or 'none'})",
                    path,
                )

    def _attributes(self, attributes: Any, path: DocPath) -> Iterator[Problem]:
        has_duration = isinstance(attributes, dict) and "duration" in attributes
        if has_duration and duration_seconds(attributes["duration"]) is None:
            yield Problem(
                "must be a number of seconds, or one with a unit: 300, '300s', '5m', '2h', '1d'",
                (*path, "duration"),
            )

    def _graph(
        self, vertex: Mapping[str, Any], path: DocPath, parent: str | None, top: bool = False
    ) -> Iterator[Problem]:
        kind = vertex["type"]
        allowed = _INSIDE.get(parent, ())
        if kind not in allowed:
            where = "at the top" if parent is None else f"inside a {parent}"
            yield Problem(
                f"a {kind} cannot stand {where} (expected {' or '.join(allowed) or 'nothing'})", (*path, "type")
            )
            return
        if "count" in vertex and "replicas" in vertex:
            yield Problem("give count or replicas, not both", (*path, "replicas"))
        if "replicas" in vertex and not top:
            yield Problem("replicas belongs on the top vertex of a named resource (count here)", (*path, "replicas"))
        if "label" in vertex and kind != "slot":
            yield Problem("only a slot takes a label", (*path, "label"))
        yield from self._attributes(vertex.get("attributes"), (*path, "attributes"))
        for i, child in enumerate(vertex.get("with") or []):
            yield from self._graph(child, (*path, "with", i), kind)

    def _dependencies(self, level: Level) -> Iterator[Problem]:
        graph: dict[str, list[str]] = {}
        for i, item in enumerate(level.items):
            name = item_name(item, i)
            deps = [str(d) for d in item.get("depends_on") or []]
            graph.setdefault(name, [])
            for j, dep in enumerate(deps):
                dpath = (*level.path, i, "depends_on", j)
                if dep not in level.names:
                    where = f"group '{level.group}'" if level.group else "the top-level tasks"
                    known = [n for n in level.names if n != name]
                    yield Problem(
                        f"names no task or group item in {where}{did_you_mean(dep, known)} "
                        f"(there: {one_of(known) or 'none'}); depends_on names an item of the same list",
                        dpath,
                    )
                elif dep == name:
                    yield Problem("a task cannot depend on itself", dpath)
                else:
                    graph[name].append(dep)
        cycle = find_cycle(graph)
        if cycle:
            first = cycle[0]
            index = level.names[first]
            yield Problem(
                f"the dependencies go round in a cycle ({' -> '.join([*cycle, first])}): no order can run them",
                (*level.path, index, "depends_on"),
            )

    def _containment(self) -> Iterator[Problem]:
        graph = {
            name: [str(t["group"]) for t in group.get("tasks") or [] if t.get("group") in self.groups]
            for name, (group, _) in self.groups.items()
        }
        cycle = find_cycle(graph)
        if cycle:
            first = cycle[0]
            group, gpath = self.groups[first]
            inner = cycle[1] if len(cycle) > 1 else first
            index = next(i for i, t in enumerate(group.get("tasks") or []) if t.get("group") == inner)
            yield Problem(
                f"group '{first}' contains itself ({' > '.join([*cycle, first])}): a group cannot run inside itself",
                (*gpath, "tasks", index, "group"),
            )


def find_cycle(graph: Mapping[str, list[str]]) -> list[str]:
    """One cycle of ``graph`` (name -> names it points at) as a list of names, or []."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    for start in graph:
        if state.get(start):
            continue
        path: list[str] = []
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph.get(start, ())))]
        state[start] = 1
        path.append(start)
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(child) == 1:
                return path[path.index(child) :]
            elif not state.get(child):
                state[child] = 1
                path.append(child)
                stack.append((child, iter(graph.get(child, ()))))
    return []


def topological(names: list[str], deps: Mapping[str, list[str]]) -> list[str]:
    """``names`` in an order where each comes after what it depends on, otherwise as written."""
    done: set[str] = set()
    order: list[str] = []

    def visit(name: str) -> None:
        if name in done:
            return
        done.add(name)
        for dep in deps.get(name, ()):
            visit(dep)
        order.append(name)

    for name in names:
        visit(name)
    return order
