"""Lowering a checked next-generation jobspec into the one model every transformer reads.

- a task becomes a ``submit`` step carrying its own job (resources, command, attributes);
  ``replicas: N`` becomes ``array: 0-(N-1)``, N jobs each with JOBSPEC_ARRAY_INDEX;
- a group becomes a batch script (written by a ``write`` step) and a ``batch`` step with
  the group's resources; the script runs the group's items in order: ``local`` commands
  in the script itself, tasks as jobs in the allocation through ``$JOBSPEC_LAUNCH``,
  nested groups as their own scripts inside the same allocation;
- ``depends_on`` one single job becomes ``after:`` (native on Slurm and Flux, an ordered
  wait on local); on several jobs (or a replicated one) those run with ``wait: true``,
  so what depends on them is submitted only once they have completed;
- a named resource graph becomes a v1 graph (node > slot > core/gpu): the slot the upstream
  leaves implicit is added (one task per slot), ``replicas`` on the top vertex is the slot count.
"""

from __future__ import annotations

import copy
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jobspec.document.nextgen import duration_seconds, group_table, item_name, split_command, topological
from jobspec.document.problems import DocPath

SLOT = "task"  # the label of the slot added to every lowered graph


@dataclass
class Lowered:
    """The v1 document, and where each of its steps came from in the user's file."""

    data: dict[str, Any]
    origins: dict[int, DocPath] = field(default_factory=dict)


def v1_graph(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    """A named next-generation resource as a v1 graph with a slot (see the module docstring)."""
    vertex = copy.deepcopy(dict(resource))
    if _has_slot(vertex):
        return [_clean(vertex)]
    kind = vertex["type"]
    if kind == "node":
        children = [_clean(c) for c in vertex.get("with") or []]
        if "replicas" in vertex:  # "give me that many of these, anywhere": no node count
            return [_slot(int(vertex["replicas"]), children)]
        node = {"type": "node", "count": int(vertex.get("count", 1)), "with": [_slot(1, children)]}
        if vertex.get("exclusive"):
            node["exclusive"] = True
        return [node]
    return [_slot(int(vertex.get("replicas", 1)), [_clean({**vertex, "count": vertex.get("count", 1)})])]


def _slot(count: int, children: list[dict[str, Any]]) -> dict[str, Any]:
    if not any(c["type"] == "core" for c in children):
        children = [{"type": "core", "count": 1}, *children]
    return {"type": "slot", "label": SLOT, "count": count, "with": children}


def _has_slot(vertex: Mapping[str, Any]) -> bool:
    return vertex.get("type") == "slot" or any(_has_slot(c) for c in vertex.get("with") or [])


def _clean(vertex: Mapping[str, Any]) -> dict[str, Any]:
    """A vertex with only what the v1 graph holds (requires/attributes are read elsewhere)."""
    out: dict[str, Any] = {"type": vertex["type"], "count": int(vertex.get("count", vertex.get("replicas", 1)))}
    if vertex.get("type") == "slot":
        out["label"] = SLOT
    if vertex.get("exclusive"):
        out["exclusive"] = True
    if vertex.get("with"):
        out["with"] = [_clean(c) for c in vertex["with"]]
    return out


def requirements(resource: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every ``requires`` entry of a resource graph, from the top down."""
    found = as_requirement_list(resource.get("requires"))
    for child in resource.get("with") or []:
        found += requirements(child)
    return found


def as_requirement_list(requires: Any) -> list[dict[str, Any]]:
    """``requires`` as a list of entries: the upstream's list form as it is; the mapping
    form (``{io.archspec: {cpu.target: amd64}}``) as one ``{name, field, value}`` each."""
    if isinstance(requires, Mapping):
        return [
            {"name": str(subsystem), "field": str(key), "value": value}
            for subsystem, fields in requires.items()
            for key, value in (fields or {}).items()
        ]
    return [dict(r) for r in requires or []]


def system_attributes(*layers: Any) -> dict[str, Any]:
    """Next-generation attributes (duration, cwd, environment), later layers winning,
    as a v1 ``attributes.system``; ``watch`` is returned under the key ``watch``."""
    system: dict[str, Any] = {}
    environment: dict[str, Any] = {}
    for layer in layers:
        if not isinstance(layer, Mapping):
            continue
        if "duration" in layer:
            system["duration"] = duration_seconds(layer["duration"])
        if "cwd" in layer:
            system["cwd"] = layer["cwd"]
        if "watch" in layer:
            system["watch"] = bool(layer["watch"])
        environment.update(layer.get("environment") or {})
    if environment:
        system["environment"] = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in environment.items()}
    return system


class _Lowering:
    def __init__(self, data: Mapping[str, Any], source: str | None) -> None:
        self.data = data
        self.source = Path(source).name if source else "a jobspec"
        self.resources: Mapping[str, Any] = data.get("resources") or {}
        self.requires: Mapping[str, Any] = data.get("requires") or {}
        self.groups = group_table(data)
        self.top_attributes = data.get("attributes")
        self.steps: list[dict[str, Any]] = []
        self.origins: dict[int, DocPath] = {}
        self.scripts: dict[str, str] = {}
        self.step_names: set[str] = set()
        self.group_files: dict[str, str] = {}

    # ------------------------------------------------------------ resources

    def resolve(self, ref: str | None) -> tuple[str, list[str]] | None:
        """The resource name a job uses (the first alternative), and all alternatives."""
        if not ref:
            return None
        names = str(ref).split("|")
        return names[0], names

    def job(self, name: str, ref: str, attributes: Any, requires_ref: Any, job_name: str) -> dict[str, Any]:
        """The fields that make a step's own job: its graph, its attributes, its requirements."""
        resource = self.resources[ref]
        system = system_attributes(self.top_attributes, resource.get("attributes"), attributes)
        watch = system.pop("watch", None)
        system["job"] = {"name": job_name}
        fields: dict[str, Any] = {
            "resources": v1_graph(resource),
            "slot": SLOT,
            "count": {"per_slot": 1},
            "attributes": {"system": system},
        }
        reqs = self.requirements_of(ref, requires_ref)
        if reqs:
            fields["requires"] = reqs
        if watch:
            fields["watch"] = True
        return fields

    def requirements_of(self, ref: str, requires_ref: Any) -> list[dict[str, Any]]:
        """What a job on resources ``ref`` requires: the graph's own, then the named set's
        (of alternatives ``a|b`` there, the first)."""
        reqs = requirements(self.resources[ref])
        if requires_ref:
            set_name = str(requires_ref).split("|")[0]
            reqs += [dict(r, set=set_name) for r in as_requirement_list(self.requires.get(set_name))]
        return reqs

    def alternatives(self, names: list[str], requires_ref: Any) -> list[dict[str, Any]]:
        """Each resource set a job may use, for the transformer to choose from at plan time."""
        return [
            {"name": n, "resources": v1_graph(self.resources[n]), "requires": self.requirements_of(n, requires_ref)}
            for n in names
        ]

    # ------------------------------------------------------------ the top level

    def lower(self) -> Lowered:
        for key, value in (self.data.get("settings") or {}).items():
            self.add({"step": "set", "key": str(key), "value": value}, ("settings", key))
        tasks = list(self.data.get("tasks") or [])
        every_group = [g for g, _ in self.groups.values()]
        every_group += [g for g in self.data.get("groups") or [] if not g.get("name")]
        referenced = {str(t["group"]) for group in every_group for t in group.get("tasks") or [] if t.get("group")}
        referenced |= {str(t["group"]) for t in tasks if t.get("group")}
        # (name, group or task, where, depends_on): groups run on their own come first, as upstream
        entries: list[tuple[str, Mapping[str, Any], DocPath, bool]] = []
        for i, group in enumerate(self.data.get("groups") or []):
            if str(group.get("name")) not in referenced:
                entries.append((str(group.get("name") or f"batch-{i}"), group, ("groups", i), True))
        for i, item in enumerate(tasks):
            if item.get("group"):
                entries.append((item_name(item, i), self.groups[str(item["group"])][0], ("tasks", i), True))
            else:
                entries.append((item_name(item, i), item, ("tasks", i), False))
        deps: dict[str, list[str]] = {}
        for name, obj, path, is_group in entries:
            if path[0] == "groups":
                wanted = list(obj.get("depends_on") or [])
            else:
                wanted = list(tasks[int(path[1])].get("depends_on") or [])
                if is_group:
                    wanted += obj.get("depends_on") or []
            deps[name] = list(dict.fromkeys(str(d) for d in wanted))
        by_name = {entry[0]: entry for entry in entries}
        step_of: dict[str, dict[str, Any]] = {}
        for name in topological(list(by_name), deps):
            _, obj, path, is_group = by_name[name]
            if is_group:
                step = self.group_step(obj, name, path)
            else:
                step = self.task_step(obj, name, path)
            self.link(step, deps[name], step_of)
            step_of[name] = step
        scripts = [{"name": n, "content": c} for n, c in self.scripts.items()]
        first = next((s["resources"] for s in self.steps if "resources" in s), None)
        task: dict[str, Any] = {"slot": SLOT, "count": {"per_slot": 1}, "transform": self.steps}
        if scripts:
            task["scripts"] = scripts
        data: dict[str, Any] = {
            "version": 1,
            "resources": first or [_slot(1, [])],
            "task": task,
        }
        system = system_attributes(self.top_attributes)
        system.pop("watch", None)
        if self.data.get("name"):
            system["job"] = {"name": str(self.data["name"])}
        if system:
            data["attributes"] = {"system": system}
        return Lowered(data, self.origins)

    def link(self, step: dict[str, Any], deps: list[str], step_of: Mapping[str, dict[str, Any]]) -> None:
        """``depends_on`` as after: each job it names (every replica of a replicated task),
        a native dependency where the system has one."""
        earlier = step.get("after")
        names = [earlier] if isinstance(earlier, str) else list(earlier or [])
        names += [step_of[d]["name"] for d in deps if d in step_of and step_of[d]["name"] not in names]
        if names:
            step["after"] = names[0] if len(names) == 1 else names

    def add(self, step: dict[str, Any], origin: DocPath) -> dict[str, Any]:
        self.origins[len(self.steps)] = origin
        self.steps.append(step)
        return step

    def unique(self, name: str) -> str:
        candidate, n = name, 1
        while candidate in self.step_names:
            n += 1
            candidate = f"{name}-{n}"
        self.step_names.add(candidate)
        return candidate

    def task_step(self, item: Mapping[str, Any], name: str, path: DocPath) -> dict[str, Any]:
        for j, extra in enumerate(item.get("steps") or []):
            if extra.get("path"):
                self.add({"step": "copy", "source": extra["path"]}, (*path, "steps", j))
            self.add({"step": "stage"}, (*path, "steps", j))
        resolved = self.resolve(item.get("resources"))
        assert resolved is not None  # checked: a top-level task has resources
        step: dict[str, Any] = {"step": "submit", "name": self.unique(name)}
        step.update(self.job(name, resolved[0], item.get("attributes"), item.get("requires"), name))
        if len(resolved[1]) > 1:
            step["alternatives"] = self.alternatives(resolved[1], item.get("requires"))
        step["command"] = split_command(item["command"])
        replicas = int(item.get("replicas", 1))
        if replicas > 1:
            step["array"] = f"0-{replicas - 1}"
        return self.add(step, path)

    def group_step(self, group: Mapping[str, Any], name: str, path: DocPath) -> dict[str, Any]:
        group_name = str(group.get("name") or name)
        filename = self.write_group(group, group_name, path, inherited=None)
        ref = self.resolve(group.get("resources"))
        assert ref is not None  # checked: a group run at the top level has resources
        step: dict[str, Any] = {"step": "batch", "name": self.unique(name), "filename": filename}
        step.update(self.job(group_name, ref[0], group.get("attributes"), group.get("requires"), group_name))
        if len(ref[1]) > 1:
            step["alternatives"] = self.alternatives(ref[1], group.get("requires"))
        return self.add(step, path)

    # ------------------------------------------------------------ group scripts

    def write_group(self, group: Mapping[str, Any], name: str, path: DocPath, inherited: str | None) -> str:
        """Write the group's script (and those of the groups it runs); its file name."""
        if name in self.group_files:
            return self.group_files[name]
        filename = f"group-{_file_word(name)}.sh"
        while filename in self.scripts:
            filename = filename[:-3] + "_.sh"
        self.group_files[name] = filename
        self.scripts[filename] = ""  # reserved: a group used twice is written once
        ref = self.resolve(group.get("resources"))
        own = ref[0] if ref else inherited
        lines = _SCRIPT_HEAD.format(name=name, source=self.source, resources=own or "its parent's").splitlines()
        items = list(group.get("tasks") or [])
        names = [item_name(t, i, f"{name}-") for i, t in enumerate(items)]
        deps = {n: [str(d) for d in items[i].get("depends_on") or []] for i, n in enumerate(names)}
        index = {n: i for i, n in enumerate(names)}
        body: list[str] = []
        for item_key in topological(names, deps):
            item = items[index[item_key]]
            body += self.group_item(item, item_key, own, (*path, "tasks", index[item_key]))
        lines += ["", "items() {", *(f"    {line}" for line in body or [":  # no items"]), "}", ""]
        lines += _SCRIPT_HELPERS.format().splitlines()
        lines += ["", "items", ""]
        self.scripts[filename] = "\n".join(lines)
        self.add({"step": "write", "filename": filename, "executable": True}, path)
        return filename

    def group_item(self, item: Mapping[str, Any], name: str, inherited: str | None, path: DocPath) -> list[str]:
        if item.get("group"):
            inner, _ = self.groups[str(item["group"])]
            filename = self.write_group(inner, str(item["group"]), path, inherited)
            system = system_attributes(inner.get("attributes"))
            argv = _wrapped(["bash", f'"$(beside {filename})"'], system, quote_first=False)
            return [f"# group {item['group']}, inside this allocation", argv]
        command = split_command(item["command"])
        if item.get("local"):
            return [f"# local: {name}", _wrapped(command, system_attributes(item.get("attributes")))]
        ref = self.resolve(item.get("resources"))
        resource_name = ref[0] if ref else inherited
        assert resource_name is not None
        resource = self.resources[resource_name]
        # the group's own attributes reach its tasks through the batch job's environment
        system = system_attributes(resource.get("attributes") if ref else None, item.get("attributes"))
        from jobspec.document.resources import count_resources

        counts = count_resources(v1_graph(resource), SLOT)
        shape = f"{counts.nodes or 1} {counts.tasks} {counts.cores_per_task} {counts.gpus_per_task}"
        replicas = int(item.get("replicas", 1))
        prefix = f"replicas {replicas} launch {shape}" if replicas > 1 else f"launch {shape}"
        line = _wrapped(command, system, prefix=prefix)
        alternatives = f" (the first of {' | '.join(ref[1])})" if ref and len(ref[1]) > 1 else ""
        return [f"# job {name}: resources {resource_name}{alternatives}", line]


def _file_word(name: str) -> str:
    """A group name as part of a file name: letters, digits, dot, dash and underscore only
    (the name is the user's; the script names the file inside double quotes)."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "group"


def _wrapped(command: list[str], system: Mapping[str, Any], prefix: str = "", quote_first: bool = True) -> str:
    """One script line: the command with its environment, time limit and folder."""
    words = [shlex.quote(w) for w in command] if quote_first else list(command)
    if system.get("environment"):
        words = ["env", *(shlex.quote(f"{k}={v}") for k, v in system["environment"].items()), *words]
    if system.get("duration"):
        words = ["timeout", f"{system['duration']:g}", *words]
    line = " ".join([prefix, *words]) if prefix else " ".join(words)
    if system.get("cwd"):
        line = f"(cd {shlex.quote(str(system['cwd']))} && {line})"
    return line


_SCRIPT_HEAD = r"""#!/bin/bash
# group {name} (resources: {resources}), written by jobspec from {source}
# One allocation; its items run in order: local commands here, jobs in the allocation
# with $JOBSPEC_LAUNCH (srun, flux run, or processes on local), the groups it runs as
# their own scripts. The first that fails stops the group. (The helpers are below.)
set -eu
"""

_SCRIPT_HELPERS = r"""# ---- helpers, written by jobspec
launch() {{  # launch NODES TASKS CORES-PER-TASK GPUS-PER-TASK COMMAND...
    local nodes=$1 tasks=$2 cores=$3 gpus=$4
    shift 4
    if [ -n "${{JOBSPEC_LAUNCH:-}}" ]; then
        local gpu_option=()
        if [ "$gpus" -gt 0 ]; then gpu_option=(--gpus-per-task "$gpus"); fi
        local rank_of='$JOBSPEC_TASK_RANK' count_of='$JOBSPEC_TASK_COUNT'  # each launcher names them its way
        case "$JOBSPEC_LAUNCH" in
            srun*) rank_of='$SLURM_PROCID' count_of='$SLURM_NTASKS' ;;
            flux*) rank_of='$FLUX_TASK_RANK' count_of='$FLUX_JOB_SIZE' ;;
        esac
        $JOBSPEC_LAUNCH -N "$nodes" -n "$tasks" -c "$cores" "${{gpu_option[@]}}" /bin/sh -c \
            "export JOBSPEC_TASK_RANK=\"$rank_of\" JOBSPEC_TASK_COUNT=\"$count_of\"; exec \"\$@\"" task "$@"
    else  # no launcher (Kubernetes: the group is one pod): the tasks run here
        local rank failed=0 pids=()
        for ((rank = 0; rank < tasks; rank++)); do
            JOBSPEC_TASK_RANK=$rank JOBSPEC_TASK_COUNT=$tasks "$@" &
            pids+=($!)
        done
        for pid in "${{pids[@]}}"; do wait "$pid" || failed=1; done
        return $failed
    fi
}}

beside() {{  # beside FILE: a group's script beside this one, else in the stage (Slurm runs a copy)
    local here
    here=$(dirname -- "$0")
    if [ -f "$here/$1" ]; then echo "$here/$1"; else echo "${{JOBSPEC_STAGE:-.}}/$1"; fi
}}

replicas() {{  # replicas N COMMAND...: N copies at once, each with JOBSPEC_ARRAY_INDEX
    local n=$1 i failed=0 pids=()
    shift
    for ((i = 0; i < n; i++)); do
        JOBSPEC_ARRAY_INDEX=$i "$@" &
        pids+=($!)
    done
    for pid in "${{pids[@]}}"; do wait "$pid" || failed=1; done
    return $failed
}}"""


def lower(data: Mapping[str, Any], source: str | None = None) -> Lowered:
    """The v1 document a checked next-generation document stands for (see the module docstring)."""
    return _Lowering(data, source).lower()
