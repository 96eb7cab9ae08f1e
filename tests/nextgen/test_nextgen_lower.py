"""Lowering the next-generation form into the one model: graphs, jobs, dependencies,
groups' scripts, attributes, and messages that point into the file as written."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from jobspec import JobspecError, load, plan
from jobspec.document.nextgen_lower import v1_graph
from jobspec.document.resources import count_resources


def _load(text: str) -> Any:
    return load(yaml.safe_load("version: 1\n" + text))


def _counts(resource: dict[str, Any]) -> tuple[int | None, int, int, int]:
    c = count_resources(v1_graph(resource), "task")
    return c.nodes, c.tasks, c.cores_per_task, c.gpus_per_task


@pytest.mark.parametrize(
    ("resource", "counts"),
    [
        ({"type": "node", "count": 4, "with": [{"type": "core", "count": 4}]}, (4, 4, 4, 0)),
        ({"type": "node", "replicas": 4, "with": [{"type": "core", "count": 4}]}, (None, 4, 4, 0)),
        ({"type": "node", "count": 1}, (1, 1, 1, 0)),
        ({"type": "node", "count": 2, "with": [{"type": "gpu", "count": 1}]}, (2, 2, 1, 1)),
        ({"type": "core", "count": 3}, (None, 1, 3, 0)),
        ({"type": "gpu", "count": 2}, (None, 1, 1, 2)),
        (
            {
                "type": "node",
                "count": 2,
                "with": [{"type": "slot", "count": 3, "with": [{"type": "core", "count": 2}]}],
            },
            (2, 6, 2, 0),
        ),
    ],
)
def test_named_graphs_count_as_a_user_would_expect(resource: dict[str, Any], counts: tuple) -> None:
    assert _counts(resource) == counts


RES = "resources:\n  one: {type: node, count: 1}\n"


def test_each_dependency_is_an_after_of_its_own() -> None:
    js = _load(
        RES + "tasks:\n- {name: a, resources: one, command: [x]}\n- {name: b, resources: one, command: [x]}\n"
        "- {name: c, resources: one, command: [x], depends_on: [a]}\n"
        "- {name: d, resources: one, command: [x], depends_on: [a, b]}\n"
    )
    steps = {s["name"]: s for s in js.transform}
    assert steps["c"]["after"] == "a"
    assert steps["d"]["after"] == ["a", "b"]
    assert not steps["a"].get("wait") and not steps["b"].get("wait")  # native dependencies: nobody waits


def test_dependencies_put_tasks_in_order_and_a_replicated_one_is_after_every_replica() -> None:
    js = _load(
        RES + "tasks:\n- {name: late, resources: one, command: [x], depends_on: [early]}\n"
        "- {name: early, resources: one, command: [x], replicas: 2}\n"
    )
    assert [s["name"] for s in js.transform] == ["early", "late"]
    early, late = js.transform
    assert early["array"] == "0-1" and not early.get("wait") and late["after"] == "early"


def test_a_group_is_its_script_and_a_batch_job() -> None:
    js = _load(
        "resources:\n  one: {type: node, count: 1}\n  two: {type: node, count: 2, with: [{type: core, count: 3}]}\n"
        "groups:\n- name: 'odd name$(x)'\n  resources: two\n  attributes: {duration: 5m}\n  tasks:\n"
        "  - {local: true, command: 'echo \"hi there\"'}\n"
        "  - {name: b, command: [work], depends_on: [a], attributes: {environment: {K: v}, cwd: /tmp}}\n"
        "  - {name: a, command: [first], resources: one, replicas: 3}\n"
        "  - {group: inner}\n"
        "- name: inner\n  tasks:\n  - {command: [inside]}\n"
    )
    kinds = [(s["step"], s.get("filename")) for s in js.transform]
    assert kinds == [
        ("write", "group-inner.sh"),
        ("write", "group-odd_name__x_.sh"),
        ("batch", "group-odd_name__x_.sh"),
    ]
    batch = js.transform[-1]
    assert batch["attributes"]["system"]["duration"] == 300
    script = js.scripts["group-odd_name__x_.sh"]["content"]
    assert script.rstrip().endswith("\nitems")  # the items run after the helpers are defined
    body = script[script.index("items() {") : script.index("\n}\n")].splitlines()[1:]
    assert [line.strip() for line in body if not line.strip().startswith("#")] == [
        "echo 'hi there'",
        "replicas 3 launch 1 1 1 0 first",  # a before b: b depends on it
        "(cd /tmp && launch 2 2 3 0 env K=v work)",  # no resources: the group's
        'bash "$(beside group-inner.sh)"',
    ]
    assert "\n    launch 2 2 3 0 inside\n}" in js.scripts["group-inner.sh"]["content"]


def test_attributes_layer_document_resource_group_task() -> None:
    js = _load(
        "attributes: {environment: {A: doc, B: doc, C: doc}, duration: 60}\n"
        "resources:\n  r: {type: node, count: 1, attributes: {environment: {B: res}}}\n"
        "tasks:\n- {name: t, resources: r, command: [x], attributes: {environment: {C: task}, duration: 1h}}\n"
    )
    system = js.transform[0]["attributes"]["system"]
    assert system["environment"] == {"A": "doc", "B": "res", "C": "task"}
    assert system["duration"] == 3600
    assert system["job"] == {"name": "t"}


def test_plan_problems_point_into_the_file_as_written(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "version: 1\nsettings:\n  stag: /tmp/x\nresources:\n  r: {type: node, count: 1}\n"
        "tasks:\n- {name: t, resources: r, command: [x]}\n"
    )
    with pytest.raises(JobspecError) as caught:
        plan(load(path), "local")
    [problem] = caught.value.problems
    assert (problem.line, problem.path) == (3, ("settings", "stag"))
    assert "did you mean 'stage'" in problem.message


def test_watch_and_stage_steps_reach_the_job(tmp_path: Path) -> None:
    (tmp_path / "inputs").mkdir()
    path = tmp_path / "w.yaml"
    path.write_text(
        "version: 1\nresources:\n  r: {type: node, count: 1, attributes: {watch: true}}\n"
        "tasks:\n- name: t\n  resources: r\n  command: [ls]\n  steps: [{name: stage, path: inputs}]\n"
    )
    js = load(path)
    assert [s["step"] for s in js.transform] == ["copy", "stage", "submit"]
    assert js.transform[0]["source"] == "inputs"
    assert js.transform[2]["watch"] is True
    out = plan(js, "local")
    assert [p.step.label for p in out.steps] == ["copy", "stage", "submit"]
