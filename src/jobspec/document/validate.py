"""Check a jobspec against our JSON Schema, then against the rules a schema cannot say.

The schema check is compiled ahead of time (fastjsonschema, by
scripts/generate-schema-check) and collects every error at once; the messages
are rewritten to say what would be right.
Line and column numbers are added only when there is something to report.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from jobspec.document.model import Jobspec
from jobspec.document.problems import DocPath, JobspecError, Problem, did_you_mean, one_of, shown

MAX_COUNT = 1_000_000  # the schema's largest count; also the largest total task count


SCHEMA_FILE = Path(__file__).with_name("schema.json")


@lru_cache(maxsize=1)
def schema_text() -> str:
    return SCHEMA_FILE.read_text()


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """Our document's JSON Schema (Flux RFC 25 extended; see schema.json)."""
    result: dict[str, Any] = json.loads(schema_text())
    return result


def schema_crc32() -> int:
    """Enough to tell a stale generated check from a current one (not a security check)."""
    import zlib

    return zlib.crc32(schema_text().encode())


@lru_cache(maxsize=1)
def _compiled() -> Callable[[Any], Any]:
    """The schema check: compiled ahead of time (scripts/generate-schema-check) when the
    shipped module matches schema.json, else compiled now."""
    from jobspec.document import _schema_check

    if schema_crc32() == _schema_check.SCHEMA_CRC32:
        check: Callable[[Any], Any] = _schema_check.validate
        return check
    return compile_now(schema())


def compile_now(schema: dict[str, Any]) -> Callable[[Any], Any]:
    """A check of ``schema`` compiled now by fastjsonschema (a schema edited since
    scripts/generate-schema-check ran), raising the errors the generated checks raise."""
    import fastjsonschema

    from jobspec.document.schema_errors import JsonSchemaValueException, JsonSchemaValuesException

    compiled = fastjsonschema.compile(schema, fast_fail=False, use_formats=False)

    def ours(e: fastjsonschema.JsonSchemaValueException) -> JsonSchemaValueException:
        return JsonSchemaValueException(e.message, e.value, e.name, e.definition, e.rule)

    def check(data: Any) -> Any:
        try:
            return compiled(data)
        except fastjsonschema.JsonSchemaValuesException as e:
            raise JsonSchemaValuesException([ours(error) for error in e.errors]) from None
        except fastjsonschema.JsonSchemaValueException as e:
            raise JsonSchemaValuesException([ours(e)]) from None

    return check


def validate(jobspec: Jobspec | dict[str, Any], *, raise_error: bool = False) -> list[Problem]:
    """Every problem with the document (not yet its steps: see `jobspec.engine.plan`).

    The rules a schema cannot say are checked too where the schema's complaints leave
    them meaningful (`rule_problems`), so one run reports both kinds."""
    if isinstance(jobspec, dict):
        jobspec = Jobspec.from_data(jobspec)
    if jobspec.early_problems:  # a next-generation document that could not be lowered
        return finish(jobspec, list(jobspec.early_problems), raise_error)
    problems = list(schema_problems(jobspec.data))
    problems += rule_problems(jobspec, damaged=[p.path for p in problems])
    return finish(jobspec, one_per_place(problems), raise_error)


def one_per_place(problems: list[Problem]) -> list[Problem]:
    """The first problem found at each place: the later stages see what the schema saw."""
    seen: set[DocPath] = set()
    kept = []
    for problem in problems:
        if problem.path and problem.path in seen:
            continue
        seen.add(problem.path)
        kept.append(problem)
    return kept


def finish(jobspec: Jobspec, problems: list[Problem], raise_error: bool) -> list[Problem]:
    """Name the source, add line and column numbers, sort; raise if asked."""
    if problems:
        from jobspec.document.positions import add_positions

        if jobspec.origins:
            for problem in problems:
                problem.path = _original_place(jobspec, problem.path)
        for problem in problems:
            problem.source = problem.source or jobspec.source
        add_positions(jobspec.text, problems)
        problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        if raise_error:
            raise JobspecError(problems)
    return problems


# a lowered step's field -> the next-generation field it came from
_ORIGINAL_FIELDS = {"array": "replicas", "after": "depends_on", "alternatives": "resources"}


def _original_place(jobspec: Jobspec, path: DocPath) -> DocPath:
    """A place in a lowered next-generation document, as a place in the file as written."""
    if len(path) >= 3 and path[:2] == ("task", "transform") and isinstance(path[2], int):
        origin = jobspec.origins.get(path[2])
        if origin is not None and origin[:1] == ("settings",):
            return origin
        if origin is not None:
            rest = [_ORIGINAL_FIELDS.get(str(p), p) for p in path[3:4]]
            return (*origin, *rest)
    return path


def schema_problems(data: Any, check: Callable[[Any], Any] | None = None) -> Iterator[Problem]:
    """Every place ``data`` breaks the schema (ours, or the one ``check`` was compiled from)."""
    from jobspec.document.schema_errors import JsonSchemaValueException, JsonSchemaValuesException

    try:
        (check or _compiled())(data)
    except JsonSchemaValuesException as e:
        errors = e.errors
    except JsonSchemaValueException as e:
        errors = [e]
    else:
        return
    seen: set[DocPath] = set()  # one problem per place: the first rule it breaks says enough
    for error in errors:
        for problem in _explain(data, error):
            if problem.path not in seen:
                seen.add(problem.path)
                yield problem


def _real_path(data: Any, parts: list[str]) -> DocPath:
    """fastjsonschema's ['data', 'task', 'transform', '1'] -> ('task', 'transform', 1)."""
    out: list[str | int] = []
    node = data
    for part in parts[1:]:
        key: str | int = part
        if isinstance(node, list):
            key = int(part)
            node = node[key] if key < len(node) else None
        elif isinstance(node, dict):
            node = node.get(part)
        out.append(key)
    return tuple(out)


_TYPE_WORDS = {
    "object": "a mapping",
    "array": "a list",
    "string": "a string",
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true or false",
}

# A better word for a field, by its name: used only when the schema wants the type the
# hint describes (a ``count`` under task.resources is a mapping, not a number).
_HINTS: dict[str, tuple[str, str]] = {
    "duration": ("number", "a number of seconds, e.g. 3600"),
    "command": ("array", 'a list of strings, e.g. ["/bin/bash", "job.sh"]'),
    "count": ("integer", "a positive whole number"),
    "per_slot": ("integer", "a positive whole number"),
    "total": ("integer", "a positive whole number"),
}
RANGE_WORDS = "a positive whole number or a range such as {min: 2, max: 4, operator: '+', operand: 1}"


def _what(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, (dict, list)):
        return "a mapping" if isinstance(value, dict) else "a list"
    return shown(value)


def _explain(data: Any, error: Any) -> Iterator[Problem]:
    path = _real_path(data, error.path)
    rule = error.rule
    value = error.value
    definition = error.definition or {}
    last = path[-1] if path else None
    if rule == "required":
        for key in error.rule_definition:
            if not isinstance(value, dict) or key not in value:
                yield Problem(f"missing required field '{key}'", path=(*path, key))
    elif rule == "additionalProperties":
        allowed = list(definition.get("properties", {}))
        for key in value:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                yield Problem(f"unknown field '{key}'{hint} (known: {one_of(allowed)})", path=(*path, key))
    elif rule == "type":
        wanted = error.rule_definition
        wanted = wanted if isinstance(wanted, list) else [wanted]
        words = " or ".join(_TYPE_WORDS.get(str(w), str(w)) for w in wanted)
        hinted = _HINTS.get(str(last))
        hint = hinted[1] if hinted and hinted[0] in wanted else words
        yield Problem(f"must be {hint}, not {_what(value)}", path=path)
    elif rule == "anyOf" and last == "count":
        if isinstance(value, int) and not isinstance(value, bool) and value < 1:
            yield Problem(f"must be at least 1, not {value}", path=path)
        elif isinstance(value, int) and not isinstance(value, bool) and value > MAX_COUNT:
            yield Problem(f"{value} is more than {MAX_COUNT}, the largest count jobspec accepts", path=path)
        elif isinstance(value, dict):
            yield Problem(
                f"a count range takes min, and max, operator (+, * or ^) and operand together, each a positive "
                f"whole number, e.g. {{min: 2, max: 4, operator: '+', operand: 1}}; not {shown(value)}",
                path=path,
            )
        else:
            yield Problem(f"must be {RANGE_WORDS}, not {_what(value)}", path=path)
    elif rule == "enum":
        choices = [str(c) for c in error.rule_definition]
        if last == "version":
            yield Problem(f"jobspec reads version 1 documents, not {_what(value)}", path=path)
        else:
            hint = did_you_mean(value, choices)
            yield Problem(f"{_what(value)} is not one of {one_of(choices)}{hint}", path=path)
    elif rule == "minimum":
        yield Problem(f"must be at least {error.rule_definition}, not {_what(value)}", path=path)
    elif rule == "maximum":
        yield Problem(
            f"{_what(value)} is more than {error.rule_definition}, the largest count jobspec accepts",
            path=path,
        )
    elif rule in ("minItems", "maxItems") and path == ("resources",):
        yield Problem("must hold exactly one top-level resource vertex (a node or a slot)", path=path)
    elif rule in ("minItems", "maxItems") and path == ("tasks",):
        yield Problem("must hold exactly one task", path=path)
    elif rule in ("minProperties", "maxProperties") and last == "count":
        yield Problem("must have exactly one of per_slot or total", path=path)
    elif rule == "minLength" or rule == "minItems":
        yield Problem("must not be empty", path=path)
    else:  # a rule our schema seldom trips; fastjsonschema's own words
        yield Problem(error.message.replace(error.name, "").strip(), path=path)


# Parts of a vertex whose damage leaves its slot labels and the graph's shape readable
_HARMLESS_IN_A_VERTEX = ("count", "unit", "id", "exclusive")


def rule_problems(jobspec: Jobspec, damaged: list[DocPath] | tuple[DocPath, ...] = ()) -> list[Problem]:
    """The rules a schema cannot say. ``damaged``: the places the schema complained of;
    a rule runs only where those leave its input readable (slot labels need the graph's
    types and labels, not its counts; the task count needs every count)."""

    def hurt(prefix: DocPath, harmless: tuple[str, ...] = ()) -> bool:
        return any(p[: len(prefix)] == prefix and not (harmless and p[-1] in harmless) for p in damaged)

    data = jobspec.data
    problems: list[Problem] = []
    if "task" in data and "tasks" in data:
        problems.append(Problem("has both task and tasks: keep one (task is the usual form)", path=("tasks",)))
    elif "task" not in data and "tasks" not in data:
        problems.append(
            Problem("missing required field 'task' (the command, slot, count and transform steps)", path=("task",))
        )
        return problems
    resources = data.get("resources")
    if not isinstance(resources, list):
        return problems  # the schema said what it must be
    shape: list[Problem] = []
    slot_labels = list(_graph_problems_and_labels(resources, ("resources",), None, shape))
    problems += shape
    task = jobspec.task
    tpath = jobspec.task_path
    labels_readable = not shape and not hurt(("resources",), _HARMLESS_IN_A_VERTEX)
    slot = task.get("slot")
    if labels_readable and isinstance(slot, str) and slot not in slot_labels:
        hint = did_you_mean(slot, slot_labels)
        problems.append(
            Problem(
                f"names no slot in the resources{hint} (slot labels: {one_of(slot_labels)})",
                path=(*tpath, "slot"),
            )
        )
    names: dict[str, int] = {}
    scripts = task.get("scripts")
    for i, script in enumerate(scripts if isinstance(scripts, list) else []):
        name = script.get("name") if isinstance(script, dict) else None
        if not isinstance(name, str):
            continue
        if name in names:
            problems.append(
                Problem(
                    f"script name '{name}' is used twice (also scripts[{names[name]}])",
                    path=(*tpath, "scripts", i, "name"),
                )
            )
        names[name] = i
    constraints = jobspec.system.get("constraints") if not hurt(("attributes",)) else None
    if constraints is not None:
        from jobspec.document.constraints import constraint_problems

        problems += constraint_problems(constraints)
    if problems or damaged:
        return problems  # the counts need a whole, well-formed graph and task
    tasks = jobspec.counts.tasks
    if tasks > MAX_COUNT:
        problems.append(
            Problem(
                f"asks for {tasks} tasks, more than {MAX_COUNT}, the largest task count jobspec accepts",
                path=(*tpath, "count"),
            )
        )
    return problems


# What each vertex may hold (RFC 14's graph, as far as backends can count it): a socket
# outside a slot holds slots, inside one it holds cores; gpus and memory under a node
# beside its slot are the node's, shared by its slots.
_HOLDS: dict[tuple[str | None, bool], tuple[str, ...]] = {
    (None, False): ("node", "slot"),
    ("node", False): ("slot", "socket", "memory", "gpu"),
    ("socket", False): ("slot", "memory", "gpu"),
    ("slot", True): ("core", "gpu", "memory", "socket"),
    ("socket", True): ("core", "gpu", "memory"),
}


def _graph_problems_and_labels(
    vertices: list[dict[str, Any]],
    path: DocPath,
    parent: str | None,
    problems: list[Problem],
    in_slot: bool = False,
) -> Iterator[str]:
    """Check the shape (node > [socket >] slot > core/gpu/memory/socket, node optional)
    and yield slot labels."""
    from jobspec.document.resources import count_max, count_value, memory_mib

    allowed = _HOLDS.get((parent, in_slot), ())
    for i, vertex in enumerate(vertices):
        vpath = (*path, i)
        kind = vertex.get("type") if isinstance(vertex, dict) else None
        if kind not in ("node", "slot", "socket", "core", "gpu", "memory"):
            continue  # not a vertex the schema accepts: it said so
        assert isinstance(vertex, dict)
        if kind not in allowed:
            where = "at the top" if parent is None else f"inside a {parent}"
            expected = " or ".join(allowed) if allowed else "nothing"
            problems.append(Problem(f"a {kind} cannot stand {where} (expected {expected})", path=(*vpath, "type")))
            continue
        if "label" in vertex and kind != "slot":
            problems.append(Problem("only a slot takes a label", path=(*vpath, "label")))
        try:
            high, low = count_max(vertex.get("count")), count_value(vertex.get("count"))
        except (TypeError, ValueError):
            high, low = None, 0  # a count the schema refused: it said so
        if high is not None and high < low:
            problems.append(Problem(f"max {high} is less than min {low}", path=(*vpath, "count")))
        children = vertex.get("with") or []
        if not isinstance(children, list):
            continue  # the schema said what it must be
        if kind == "slot":
            if "label" not in vertex:
                problems.append(Problem("a slot needs a label (the task names it in task.slot)", path=vpath))
            else:
                yield vertex["label"]
            if not _holds(vertex, "core"):
                problems.append(Problem("a slot needs at least one core vertex under it", path=vpath))
        elif kind == "node" and _slots_below(vertex) != 1:
            problems.append(Problem("a node holds exactly one slot vertex under it", path=(*vpath, "with")))
        elif kind in ("core", "gpu", "memory") and children:
            problems.append(Problem(f"a {kind} holds nothing: remove its with list", path=(*vpath, "with")))
            continue
        if kind == "memory":
            try:
                memory_mib(vertex, vpath)
            except JobspecError as e:
                problems.extend(e.problems)
        yield from _graph_problems_and_labels(children, (*vpath, "with"), kind, problems, in_slot or kind == "slot")


def _vertices_under(vertex: dict[str, Any]) -> list[dict[str, Any]]:
    children = vertex.get("with")
    return [c for c in children if isinstance(c, dict)] if isinstance(children, list) else []


def _holds(vertex: dict[str, Any], kind: str) -> bool:
    return any(c.get("type") == kind or _holds(c, kind) for c in _vertices_under(vertex))


def _slots_below(vertex: dict[str, Any]) -> int:
    return sum(1 if c.get("type") == "slot" else _slots_below(c) for c in _vertices_under(vertex))
