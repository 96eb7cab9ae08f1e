"""Each pod asks for its task's share of every core and byte the graph names, and whole
gpus; what Kubernetes cannot ask for is refused before anything is created."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from k8s_support import api_server_problems, iter_jobs, schema_problems

from jobspec import count_resources
from jobspec.document.problems import JobspecError
from jobspec.transformers.kubernetes.transformer import KubernetesTransformer


def slot(count: int, *inside: dict[str, Any]) -> dict[str, Any]:
    return {"type": "slot", "label": "default", "count": count, "with": list(inside)}


def node(count: int, *inside: dict[str, Any]) -> dict[str, Any]:
    return {"type": "node", "count": count, "with": list(inside)}


def core(count: Any) -> dict[str, Any]:
    return {"type": "core", "count": count}


def gpu(count: int) -> dict[str, Any]:
    return {"type": "gpu", "count": count}


def jobspec(
    resources: list[dict[str, Any]],
    *,
    count: dict[str, int] | None = None,
    transform: list[dict[str, Any]] | None = None,
    scripts: dict[str, str] | None = None,
) -> dict[str, Any]:
    scripts = scripts or {"job.sh": "#!/bin/sh\necho hi\n"}
    transform = transform or [{"step": "write", "filename": "job.sh"}, {"step": "submit", "filename": "job.sh"}]
    task = {
        "slot": "default",
        "count": count or {"per_slot": 1},
        "transform": transform,
        "scripts": [{"name": n, "content": c} for n, c in scripts.items()],
    }
    return {"version": 1, "resources": resources, "task": task}


def memory(count: int, unit: str = "MB") -> dict[str, Any]:
    return {"type": "memory", "count": count, "unit": unit}


def pod_resources(data: dict[str, Any]) -> list[tuple[int, dict[str, str]]]:
    documents = KubernetesTransformer().manifests(data)
    assert schema_problems(documents) == [] and api_server_problems(documents) == []
    out = []
    for job in iter_jobs(documents):
        resources = job["spec"]["template"]["spec"]["containers"][0]["resources"]
        assert resources["requests"] == resources["limits"]
        out.append((job["spec"]["completions"], resources["requests"]))
    return out


def millis(quantity: str) -> int:
    return int(quantity[:-1]) if quantity.endswith("m") else int(quantity) * 1000


@pytest.mark.parametrize(
    ("resources", "count", "pods", "requests"),
    [
        # total 5 over 4 slots of 2 cores: 8 cores among 5 pods, 1600m each (not 1 each)
        ([slot(4, core(2))], {"total": 5}, 5, {"cpu": "1600m"}),
        # 3 tasks in a slot of 4 cores
        ([slot(1, core(4))], {"per_slot": 3}, 3, {"cpu": "1334m"}),
        # memory a slot, and the node's own, shared out
        ([node(2, memory(1024), slot(2, core(1), memory(512)))], None, 4, {"cpu": "1", "memory": "1024Mi"}),
        # whole gpus a task
        ([slot(2, core(2), gpu(4))], {"per_slot": 2}, 4, {"cpu": "1", "nvidia.com/gpu": "2"}),
    ],
)
def test_pods_hold_every_core_and_byte(
    resources: list[dict[str, Any]], count: dict[str, int] | None, pods: int, requests: dict[str, str]
) -> None:
    [(got_pods, got)] = pod_resources(jobspec(resources, count=count))
    assert (got_pods, got) == (pods, requests)
    counts = count_resources(resources, "default", count)
    assert got_pods * millis(got["cpu"]) >= counts.cores * 1000
    assert got_pods * int(got.get("memory", "0Mi")[:-2]) >= counts.memory
    assert got_pods * int(got.get("nvidia.com/gpu", "0")) == counts.gpus


def test_a_batch_pod_holds_the_whole_request() -> None:
    transform = [{"step": "write", "filename": "b.sh"}, {"step": "batch", "filename": "b.sh"}]
    data = jobspec([node(2, slot(2, core(1), gpu(1), memory(100)))], transform=transform, scripts={"b.sh": "echo"})
    data["task"]["count"] = {"per_slot": 2}  # gpus shared by tasks: fine in one pod
    assert pod_resources(data) == [(1, {"cpu": "4", "memory": "400Mi", "nvidia.com/gpu": "4"})]


@pytest.mark.parametrize(
    ("resources", "count", "place", "fragment"),
    [
        ([slot(2, core(2), gpu(1))], {"per_slot": 2}, "task.count", "cannot be given out whole to its 4 tasks"),
        (
            [slot(1, core({"min": 1, "max": 2, "operator": "+", "operand": 1}))],
            None,
            "resources[0].with[0].count",
            "not a count range",
        ),
        (
            [node(1, {"type": "socket", "count": 2, "with": [slot(1, core(1))]})],
            None,
            "resources",
            "no request for sockets",
        ),
    ],
)
def test_what_kubernetes_cannot_ask_for_is_refused(
    resources: list[dict[str, Any]], count: dict[str, int] | None, place: str, fragment: str
) -> None:
    with pytest.raises(JobspecError) as e:
        KubernetesTransformer().manifests(jobspec(resources, count=count))
    assert any(str(p).startswith(f"{place}: ") and fragment in str(p) for p in e.value.problems), e.value.problems


def test_constraints_become_node_affinity() -> None:
    data = jobspec([slot(1, core(1))])
    data["attributes"] = {
        "system": {
            "constraints": {
                "properties": ["example.com/gpu", "^spot"],
                "or": [{"properties": ["zone=a"]}, {"hostlist": ["n[1-2]"]}],
                "not": [{"hostlist": ["n3"]}],
            }
        }
    }
    documents = KubernetesTransformer().manifests(data)
    assert schema_problems(documents) == [] and api_server_problems(documents) == []
    [job] = list(iter_jobs(documents))
    affinity = job["spec"]["template"]["spec"]["affinity"]
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    common = [
        {"key": "kubernetes.io/hostname", "operator": "NotIn", "values": ["n3"]},
        {"key": "example.com/gpu", "operator": "Exists"},
        {"key": "spot", "operator": "DoesNotExist"},
    ]
    alternatives = [
        {"key": "zone", "operator": "In", "values": ["a"]},
        {"key": "kubernetes.io/hostname", "operator": "In", "values": ["n1", "n2"]},
    ]
    assert len(terms) == 2
    for term, alternative in zip(terms, alternatives, strict=True):
        assert sorted(map(str, term["matchExpressions"])) == sorted(map(str, [*common, alternative]))


@pytest.mark.parametrize(
    ("constraint", "place", "fragment"),
    [
        ({"ranks": ["0"]}, "attributes.system.constraints.ranks", "broker ranks are Flux's"),
        ({"properties": ["bad:key"]}, "attributes.system.constraints.properties[0]", "not a Kubernetes node label"),
    ],
)
def test_constraints_kubernetes_cannot_say_are_refused(constraint: dict[str, Any], place: str, fragment: str) -> None:
    data = jobspec([slot(1, core(1))])
    data["attributes"] = {"system": {"constraints": constraint}}
    with pytest.raises(JobspecError) as e:
        KubernetesTransformer().manifests(data)
    assert any(str(p).startswith(f"{place}: ") and fragment in str(p) for p in e.value.problems), e.value.problems


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, int]]:
    slots = draw(st.integers(1, 4))
    per_slot = draw(st.integers(1, 3))
    inside = [core(draw(st.integers(1, 8)))]
    gpus = draw(st.integers(0, 2)) * per_slot  # whole gpus a task: what Kubernetes can give
    if gpus:
        inside.append(gpu(gpus))
    mem = draw(st.sampled_from([0, 100, 1000, 4096]))
    if mem:
        inside.append(memory(mem))
    nodes = draw(st.integers(0, 3))
    resources = [node(nodes, slot(slots, *inside))] if nodes else [slot(slots, *inside)]
    return resources, {"per_slot": per_slot}


@settings(max_examples=25, deadline=None)
@given(case=graphs())
def test_random_graphs_pods_hold_every_core_gpu_and_byte(case: tuple[list[dict[str, Any]], dict[str, int]]) -> None:
    resources, count = case
    counts = count_resources(resources, "default", count)
    [(pods, got)] = pod_resources(jobspec(resources, count=count))
    assert pods == counts.tasks
    total_millis = pods * millis(got["cpu"])
    assert counts.cores * 1000 <= total_millis < counts.cores * 1000 + pods  # exact, but for rounding up to 1m
    assert pods * int(got.get("memory", "0Mi")[:-2]) >= counts.memory
    assert pods * int(got.get("nvidia.com/gpu", "0")) == counts.gpus
