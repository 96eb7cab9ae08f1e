"""`jobspec show FILE`: the resource graph as a tree with the counts every backend uses,
and the jobs the steps submit as a tree of what waits for what (``after:``).

The counts are `Jobspec.counts` as they are: whatever fields they have are shown, so a
count added there (memory, say) appears here without a change.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

EXIT_OK = 0


def add_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a jobspec (YAML or JSON; - for standard input)")
    parser.add_argument("--json", action="store_true", help="print the graph, the counts and the jobs as JSON")
    parser.set_defaults(handler=cmd_show)


def cmd_show(args: argparse.Namespace) -> int:
    from jobspec.document.load import load, load_stream

    jobspec = load_stream(sys.stdin.buffer) if args.file == "-" else load(args.file, check=False)
    from jobspec.document.validate import validate

    validate(jobspec, raise_error=True)
    counts = {k: v for k, v in jobspec.counts.to_dict().items() if v is not None}
    jobs = job_steps(jobspec.transform)
    if args.json:
        import json

        print(json.dumps({"resources": jobspec.resources, "counts": counts, "jobs": jobs}, indent=2))
        return EXIT_OK
    slot = jobspec.task.get("slot")
    # a next-generation document's jobs each ask for their own (shown with each job below)
    print("resources (the first job's; each job asks for its own)" if jobspec.form == "nextgen" else "resources")

    def below(vertex: dict[str, Any]) -> list[tuple[str, Any]]:
        return [(vertex_line(v, slot), v) for v in vertex.get("with") or [] if isinstance(v, dict)]

    print("\n".join(tree(below({"with": jobspec.resources}), below)))
    print("counts (those that are zero or empty left out)")
    asked = {k: v for k, v in counts.items() if v or k in ALWAYS_SHOWN}
    width = max(len(k) for k in asked)
    for key, value in asked.items():
        print(f"  {key:<{width}}  {shown_value(value)}")
    if jobs:
        print("jobs (submit and batch steps; under each, the jobs that start after it)")
        names = {j["name"] for j in jobs if j["name"]}
        roots = [(job_line(j), j) for j in jobs if not names.intersection(j["after"])]
        print("\n".join(tree(roots, lambda j: children_of(j, jobs))))
    return EXIT_OK


ALWAYS_SHOWN = ("nodes", "slots", "tasks", "cores_per_task")


def job_steps(transform: list[Any]) -> list[dict[str, Any]]:
    """Each submit or batch step: its place, kind, name, script, what it waits for, array."""
    jobs = []
    for index, step in enumerate(transform):
        if isinstance(step, dict) and step.get("step") in ("submit", "batch"):
            jobs.append(
                {
                    "index": index,
                    "step": step["step"],
                    "name": step.get("name"),
                    "filename": step.get("filename"),
                    "after": _names(step.get("after")),
                    "array": step.get("array"),
                    "waits": bool(step.get("wait") or step.get("watch")),
                    "command": step.get("command"),
                    "counts": _own_counts(step),
                }
            )
    return jobs


def _own_counts(step: dict[str, Any]) -> dict[str, Any] | None:
    """The counts of a step's own job (a next-generation task or group), if it has one."""
    if not isinstance(step.get("resources"), list):
        return None
    from jobspec.document.problems import JobspecError
    from jobspec.document.resources import count_resources

    try:
        counts = count_resources(step["resources"], step.get("slot"), step.get("count"))
    except (JobspecError, TypeError, ValueError, KeyError):
        return None
    return {k: v for k, v in counts.to_dict().items() if v is not None}


def children_of(job: dict[str, Any], jobs: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    if job["name"] is None:
        return []
    return [(job_line(j), j) for j in jobs if job["name"] in j["after"]]


def _names(after: Any) -> list[str]:
    """``after:`` as a list of step names (it may name one, or several)."""
    if isinstance(after, str):
        return [after]
    return [a for a in after if isinstance(a, str)] if isinstance(after, list) else []


def job_line(job: dict[str, Any]) -> str:
    what = job["filename"]
    if what is None and isinstance(job.get("command"), list):
        import shlex

        what = shlex.join(map(str, job["command"]))
        what = f"`{what[:77]}...`" if len(what) > 80 else f"`{what}`"
    line = f"{job['name'] or '(unnamed)'}: {job['step']} {what or '(the task command)'}"
    extras = [f"step {job['index'] + 1}"]
    counts = job.get("counts")
    if counts:
        nodes = f"{counts['nodes']} node(s), " if counts.get("nodes") else ""
        gpus = f" + {counts['gpus_per_task']} gpu" if counts.get("gpus_per_task") else ""
        extras.append(f"{nodes}{counts['tasks']} task(s) x {counts['cores_per_task']} core(s){gpus}")
    if job["array"] is not None:
        extras.append(f"array {job['array']}")
    if len(job["after"]) > 1:  # shown under each of them
        extras.append(f"after {' and '.join(job['after'])}")
    if job["waits"]:
        extras.append("waits for it")
    return f"{line}  [{', '.join(extras)}]"


def vertex_line(vertex: dict[str, Any], slot: str | None) -> str:
    line = f"{vertex.get('type')} x{shown_value(vertex.get('count', 1))}"
    if "unit" in vertex:
        line += f" {vertex['unit']}"
    if "label" in vertex:
        line += f" '{vertex['label']}'"
        if vertex["label"] == slot:
            line += "  <- the task's slot"
    if vertex.get("exclusive"):
        line += "  (exclusive)"
    return line


def shown_value(value: Any) -> str:
    """A count as a user writes it: 4, a range 2-8 or 2+, true/false."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        low, high = value.get("min", 1), value.get("max")
        return f"{low}-{high}" if high is not None else f"{low}+"
    return str(value)


def tree(items: list[tuple[str, Any]], children: Any, prefix: str = "  ") -> list[str]:
    """Lines of a tree drawn with box characters: each item is (its line, what `children`
    turns into the items below it)."""
    lines = []
    for i, (line, below) in enumerate(items):
        last = i == len(items) - 1
        lines.append(f"{prefix}{'└── ' if last else '├── '}{line}")
        lines += tree(children(below), children, prefix + ("    " if last else "│   "))
    return lines
