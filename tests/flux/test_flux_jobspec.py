"""The Flux jobspecs the transformer builds, against Flux's own schemas (RFC 25 version 1,
RFC 14, RFC 26), our `validate --flux` checker (flux-core's V1 rules), and the core's
resource counting. No Flux needed: this is half one of the proof (issue 4)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any

import pytest
from flux_support import (
    PARENT_ID,
    STAGE,
    document,
    errors,
    example_jobspecs,
    expected_counts,
    flux_counts,
    job_of_step,
    jobs_of,
    node,
    read_yaml,
    rfc_examples,
    slot,
    spec14,
    spec25,
    spec25_flux,
    spec26,
    spec26_rfc_text,
)
from hypothesis import given, settings
from hypothesis import strategies as st

from jobspec import load
from jobspec.document.model import Jobspec
from jobspec.document.resources import count_resources
from jobspec.transformers.flux.jobspec_v1 import (
    BATCH_COMMAND,
    SCRIPT_MODE,
    TASK_WRAPPER,
    FluxJob,
    batch_job,
    dependency,
    submit_job,
    task_count,
    to_jobspec,
    v1_problems,
)
from jobspec.transformers.flux.rfc25 import validate_flux

BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/home/user", "LC_ALL": "en_US.UTF-8"}


def check_against_flux(jobspec: Jobspec, job: FluxJob) -> dict[str, Any]:
    """Every oracle on the jobspec built for ``job``; returns it."""
    spec = to_jobspec(job, BASE_ENV)
    assert json.loads(json.dumps(spec)) == spec  # plain JSON all through
    strict = errors(spec25(), spec)
    node_exclusive = spec["resources"][0]["type"] == "node" and "exclusive" in spec["resources"][0]
    if node_exclusive:
        # the one known gap: RFC 25's schema has no exclusive on a node, flux-core writes it there
        assert strict and all("exclusive" in e for e in strict), strict
    else:
        assert strict == []
    assert errors(spec25_flux(), spec) == []
    assert [str(p) for p in validate_flux(spec)] == []
    assert errors(spec14(), spec) == []
    if "dependencies" in spec["attributes"]["system"]:
        assert errors(spec26_rfc_text(), spec["attributes"]["system"]["dependencies"]) == []
    assert flux_counts(spec) == expected_counts(jobspec, job.kind)
    # the core's own counting reads the built graph the same way
    task = spec["tasks"][0]
    recount = count_resources(spec["resources"], task["slot"], task["count"])
    core = jobspec.counts
    assert (recount.nodes, recount.slots, recount.cores_per_slot, recount.gpus_per_slot, recount.exclusive) == (
        core.nodes,
        core.slots,
        core.cores_per_slot,
        core.gpus_per_slot,
        core.exclusive,
    )
    if job.kind == "submit":
        assert recount.tasks == core.tasks
    return spec


# ---------------------------------------------------------------- the oracles themselves


def test_the_oracles_accept_the_rfc_examples() -> None:
    for path in rfc_examples("spec_25"):
        assert errors(spec25(), read_yaml(path)) == [], path
        assert errors(spec14(), read_yaml(path)) == [], path
    for path in rfc_examples("spec_14"):
        assert errors(spec14(), read_yaml(path)) == [], path
    for path in rfc_examples("spec_26"):
        assert errors(spec26(), read_yaml(path)) == [], path
        assert errors(spec26_rfc_text(), read_yaml(path)) == [], path


def test_the_oracles_reject_what_flux_rejects() -> None:
    good = read_yaml(rfc_examples("spec_25")[0])
    for breaker in (
        lambda d: d["tasks"][0]["count"].update(per_slot=2),
        lambda d: d["resources"].append(copy.deepcopy(d["resources"][0])),
        lambda d: d["resources"][0].update(type="socket"),
        lambda d: d["tasks"][0].update(attributes={}),
        lambda d: d.update(version=2),
    ):
        bad = copy.deepcopy(good)
        breaker(bad)
        assert errors(spec25(), bad) and errors(spec25_flux(), bad)
    assert errors(spec26_rfc_text(), [{"scheme": "afterok"}])
    assert errors(spec26_rfc_text(), [{"scheme": "afterok", "value": "x", "type": "sideways"}])


# ---------------------------------------------------------------- a table of shapes

SHAPES: dict[str, tuple[list[dict[str, Any]], dict[str, int] | None]] = {
    "node>slot>core": ([node(4, slot(1, 4))], None),
    "node>slot>core, 2 slots a node": ([node(2, slot(2, 1))], None),
    "slot>core": ([slot(3, 2)], None),
    "slot>core+gpu": ([slot(2, 4, gpus=1)], None),
    "node>slot>core+gpu": ([node(4, slot(4, 1, gpus=1))], None),
    "per_slot 2 (becomes total)": ([node(2, slot(2, 4))], {"per_slot": 2}),
    "per_slot 3 on slots": ([slot(2, 6)], {"per_slot": 3}),
    "total below the slot count": ([node(2, slot(2, 4))], {"total": 3}),
    "total above the slot count": ([slot(4, 1)], {"total": 6}),
    "exclusive node": ([node(2, slot(1, 1), exclusive=True)], None),
    "exclusive slot": ([slot(2, 2, exclusive=True)], None),
    "units kept": ([{"type": "node", "count": 1, "unit": "", "with": [slot(1, 2)]}], None),
    "one of everything": ([node(1, slot(1, 1))], None),
}


@pytest.mark.parametrize("name", SHAPES)
@pytest.mark.parametrize("kind", ["submit", "batch"])
def test_every_shape_validates_and_counts_agree(name: str, kind: str) -> None:
    resources, count = SHAPES[name]
    js = document(resources, count)
    if kind == "submit":
        job = submit_job(js, ["/bin/bash", f"{STAGE}/job.sh"], stage=STAGE, filename="job.sh")
    else:
        job = batch_job(js, "#!/bin/bash\necho hi\n", stage=STAGE, filename="job.sh")
    spec = check_against_flux(js, job)
    # the graph is the user's, as written
    assert spec["resources"] == resources


def test_per_slot_above_one_becomes_the_same_total() -> None:
    js = document([node(2, slot(2, 4))], {"per_slot": 3})
    assert js.counts.tasks == 12
    assert task_count(js) == {"total": 12}
    assert task_count(document([slot(2, 4)], {"per_slot": 1})) == {"per_slot": 1}
    assert task_count(document([slot(2, 4)], {"total": 5})) == {"total": 5}


ATTRIBUTES: dict[str, dict[str, Any]] = {
    "none": {},
    "duration": {"system": {"duration": 90}},
    "fractional duration": {"system": {"duration": 1.5}},
    "environment": {"system": {"environment": {"LC_ALL": "C", "N": 3, "FLAG": True, "COST": "$5"}}},
    "cwd": {"system": {"cwd": "/scratch/run"}},
    "job name": {"system": {"job": {"name": "my-run"}}},
    "queue and user": {
        "system": {"queue": "debug", "shell": {"options": {"cpu-affinity": "per-task"}}},
        "user": {"a": 1},
    },
    "user dependencies": {"system": {"dependencies": [{"scheme": "begin-time", "value": "1700000000.0"}]}},
}


@pytest.mark.parametrize("name", ATTRIBUTES)
@pytest.mark.parametrize("watch", [False, True])
def test_attributes_reach_the_flux_jobspec(name: str, watch: bool) -> None:
    attributes = ATTRIBUTES[name]
    js = document([node(2, slot(1, 2))], None, attributes or None)
    job = submit_job(js, ["/bin/bash", f"{STAGE}/job.sh"], stage=STAGE, filename="job.sh", watch=watch)
    spec = check_against_flux(js, job)
    system = spec["attributes"]["system"]
    given = attributes.get("system", {})
    assert system["duration"] == float(given.get("duration", 0))  # V1 requires it; 0 is unlimited
    assert system["cwd"] == given.get("cwd", STAGE)
    env = system["environment"]
    for key, value in (given.get("environment") or {}).items():
        assert env[key] == str(value)
    assert env["JOBSPEC_STAGE"] == STAGE
    assert env["PATH"] == BASE_ENV["PATH"]  # the submitting environment, as flux submit passes it
    assert all(isinstance(v, str) for v in env.values())
    assert system["job"]["name"] == (given.get("job") or {}).get("name", "job.sh")
    output = system.get("shell", {}).get("options", {}).get("output")
    if watch:
        assert output is None  # kept in the KVS, streamed
    else:
        assert output == {
            "stdout": {"type": "file", "path": f"{STAGE}/flux-{{{{id.dec}}}}.out"},
            "stderr": {"type": "file", "path": f"{STAGE}/flux-{{{{id.dec}}}}.err"},
        }
    if name == "queue and user":
        assert system["queue"] == "debug"
        assert system["shell"]["options"]["cpu-affinity"] == "per-task"
        assert spec["attributes"]["user"] == {"a": 1}
    if name == "user dependencies":
        assert system["dependencies"] == given["dependencies"]


def test_the_jobspec_environment_wins_over_the_submitting_one() -> None:
    js = document([slot(1, 1)], None, {"system": {"environment": {"PATH": "/opt/bin"}}})
    job = submit_job(js, ["/bin/true"], stage=STAGE)
    assert to_jobspec(job, BASE_ENV)["attributes"]["system"]["environment"]["PATH"] == "/opt/bin"


def test_the_task_runs_the_script_in_the_stage_with_jobspec_ranks() -> None:
    js = document([node(2, slot(1, 1))])
    job = job_of_step(js, {"step": "submit", "filename": "job.sh"})
    command = to_jobspec(job)["tasks"][0]["command"]
    assert command == [*TASK_WRAPPER, "/bin/bash", f"{STAGE}/job.sh"]
    js = load({**js.data, "task": {**js.data["task"], "command": ["hostname", "-s"]}})
    job = job_of_step(js, {"step": "submit"})
    assert to_jobspec(job)["tasks"][0]["command"] == [*TASK_WRAPPER, "hostname", "-s"]


# ---------------------------------------------------------------- every example, every job step


@pytest.mark.parametrize("path", example_jobspecs(), ids=lambda p: Path(p).name)
def test_every_example_builds_valid_flux_jobspecs(path: Path) -> None:
    js = load(path)
    jobs = list(jobs_of(js))
    assert jobs, "every example has a job step"
    for _index, options, job in jobs:
        spec = check_against_flux(js, job)
        system = spec["attributes"]["system"]
        assert spec["resources"] == js.resources
        assert spec["tasks"][0]["slot"] == js.task["slot"]
        assert system["duration"] == float(js.duration or 0)
        if options["step"] == "batch":
            assert spec["tasks"][0]["command"] == list(BATCH_COMMAND)
            script = system["files"]["script"]
            assert script["mode"] == SCRIPT_MODE == 0o100700 == 33216
            assert script["encoding"] == "utf-8"
            assert script["data"].startswith("#!")
            assert script["data"].endswith(js.scripts[options["filename"]]["content"])
            assert system["shell"]["options"]["per-resource"] == {"type": "node"}
            assert system["job"]["name"] == options["filename"]
        else:
            assert spec["tasks"][0]["command"][: len(TASK_WRAPPER)] == list(TASK_WRAPPER)
            if options.get("filename"):
                assert f"{STAGE}/{options['filename']}" in spec["tasks"][0]["command"]
        if options.get("after"):
            assert system["dependencies"] == [{"scheme": "afterok", "value": PARENT_ID}]
        else:
            assert "dependencies" not in system


@pytest.mark.usefixtures("shared")  # its original examples
def test_original_hello_world_is_what_flux_submit_would_ask_for() -> None:
    """The original 0.0.12 hello-world example, resource by resource (RFC 25 use case 1.1's shape)."""
    original = next(p for p in example_jobspecs() if p.name == "hello-world-jobspec.yaml")
    js = load(original)
    (_, _, job) = next(jobs_of(js))
    spec = to_jobspec(job)
    assert spec["resources"] == [
        {
            "count": 4,
            "type": "node",
            "with": [{"count": 1, "label": "hello-world", "type": "slot", "with": [{"count": 4, "type": "core"}]}],
        }
    ]
    assert spec["tasks"][0]["count"] == {"per_slot": 1}
    assert flux_counts(spec) == {"nodes": 4, "slots": 4, "cores": 16, "gpus": 0, "tasks": 4, "exclusive": False}


# ---------------------------------------------------------------- dependencies (RFC 26)


def test_after_becomes_an_afterok_dependency() -> None:
    entry = dependency(PARENT_ID)
    assert entry == {"scheme": "afterok", "value": PARENT_ID}  # what flux submit --dependency writes
    assert errors(spec26_rfc_text(), [entry]) == []
    js = document([slot(1, 1)])
    spec = to_jobspec(submit_job(js, ["/bin/true"], stage=STAGE, after=(PARENT_ID,)))
    assert errors(spec14(), spec) == []


def test_spec26_schema_differs_from_the_rfc_text_only_in_type_and_scope() -> None:
    """The local spec_26 schema (an early draft) demands type and scope of every
    dependency; the RFC text asks them only of the string and fluid schemes, and
    flux-core writes afterok without them. Our entry breaks that schema in exactly
    those two keys and nothing else."""
    found = errors(spec26(), [dependency(PARENT_ID)])
    assert sorted(found) == ["0: 'scope' is a required property", "0: 'type' is a required property"]
    found = errors(spec14(_spec26_raw()), _with_dep())
    assert found and all("'type'" in e or "'scope'" in e for e in found)


def _spec26_raw() -> dict[str, Any]:
    from flux_support import RFC

    data: dict[str, Any] = json.loads((RFC / "spec_26" / "schema.json").read_text())
    return data


def _with_dep() -> dict[str, Any]:
    return to_jobspec(submit_job(document([slot(1, 1)]), ["/bin/true"], stage=STAGE, after=(PARENT_ID,)))


# ---------------------------------------------------------------- batch


def test_batch_is_built_the_way_flux_batch_builds_it() -> None:
    js = document([node(2, slot(2, 3))], {"per_slot": 4})
    job = batch_job(js, "#!/bin/bash\nflux run -n4 hostname\n", stage=STAGE, filename="batch.sh")
    spec = check_against_flux(js, job)
    system = spec["attributes"]["system"]
    assert spec["tasks"] == [
        {"command": ["flux", "broker", "{{tmpdir}}/script"], "slot": "task", "count": {"per_slot": 1}}
    ]
    assert system["files"] == {
        "script": {"mode": 33216, "data": "#!/bin/bash\nflux run -n4 hostname\n", "encoding": "utf-8"}
    }
    options = system["shell"]["options"]
    assert options["per-resource"] == {"type": "node"} and options["exit-timeout"] == "none"
    env = system["environment"]
    assert (env["JOBSPEC_NODES"], env["JOBSPEC_TASKS"], env["JOBSPEC_CORES_PER_TASK"]) == ("2", "16", "1")


def test_batch_script_without_a_shebang_runs_with_sh() -> None:
    js = document([slot(1, 1)])
    job = batch_job(js, "echo no shebang\n", stage=STAGE, filename="b.sh")
    assert job.wrapped
    assert to_jobspec(job)["attributes"]["system"]["files"]["script"]["data"] == "#!/bin/sh\necho no shebang\n"


# ---------------------------------------------------------------- what V1 cannot carry


def test_v1_refuses_what_it_cannot_carry_instead_of_dropping_it() -> None:
    js = document([node(2, {**slot(1, 1), "id": "3"}, id="x")])
    found = [(p.message, p.path) for p in v1_problems(js)]
    assert [path for _, path in found] == [("resources", 0, "id"), ("resources", 0, "with", 0, "id")]
    two_cores = {"type": "slot", "count": 1, "label": "task", "with": [{"type": "core", "count": 1}] * 2}
    assert [p.path for p in v1_problems(document([two_cores]))] == [("resources", 0, "with")]
    data = document([slot(1, 1)]).data
    data["task"]["attributes"] = {"environment": {"A": "1"}}
    assert [p.path for p in v1_problems(load(data))] == [("task", "attributes")]
    for path in example_jobspecs():
        assert v1_problems(load(path)) == [], path


def test_fewer_tasks_than_nodes_are_refused_for_a_submit_not_a_batch() -> None:
    js = document([node(3, slot(1, 1))], {"total": 2})
    [problem] = v1_problems(js, submits=True)
    assert problem.path == ("task", "count", "total")
    assert "2 task(s) on 3 nodes fails to start" in problem.message
    assert v1_problems(js) == []  # a batch job's task is one broker a node: it has a task on each
    assert v1_problems(document([node(3, slot(1, 1))], {"total": 3}), submits=True) == []
    assert v1_problems(document([slot(4, 1)], {"total": 1}), submits=True) == []  # Flux chooses the nodes


def test_each_constraint_mapping_reaches_flux_with_one_operator() -> None:
    """flux-core's scheduler reads one operator a mapping: several become their ``and``."""
    constraint = {
        "properties": ["ib"],
        "or": [{"ranks": ["0-1"], "not": [{"hostlist": ["n1"]}]}, {"ranks": ["3"]}],
    }
    js = document([node(2, slot(1, 1))], None, {"system": {"constraints": constraint}})
    job = submit_job(js, ["/bin/true"], stage=STAGE)
    spec = check_against_flux(js, job)
    assert spec["attributes"]["system"]["constraints"] == {
        "and": [
            {"properties": ["ib"]},
            {"or": [{"and": [{"ranks": ["0-1"]}, {"not": [{"hostlist": ["n1"]}]}]}, {"ranks": ["3"]}]},
        ]
    }
    assert js.system["constraints"] == constraint  # the document is left as written
    one = document([node(1, slot(1, 1))], None, {"system": {"constraints": {"hostlist": ["n[1-2]"]}}})
    assert to_jobspec(submit_job(one, ["/bin/true"], stage=STAGE))["attributes"]["system"]["constraints"] == {
        "hostlist": ["n[1-2]"]
    }


def test_submit_key_is_kept_for_a_resumed_run() -> None:
    js = document([slot(1, 1)], None, {"user": {"mine": True}})
    spec = to_jobspec(submit_job(js, ["/bin/true"], stage=STAGE, key="run-1.4"))
    assert spec["attributes"]["user"] == {"mine": True, "jobspec": {"submit_key": "run-1.4"}}
    assert errors(spec25(), spec) == []


def test_building_changes_nothing_in_the_document() -> None:
    js = document([node(2, slot(1, 1))], None, {"system": {"shell": {"options": {"a": 1}}}})
    before = copy.deepcopy(js.data)
    for _ in range(2):
        spec = to_jobspec(submit_job(js, ["/bin/true"], stage=STAGE, after=(PARENT_ID,)), dict(os.environ))
        spec["resources"][0]["count"] = 99
        spec["attributes"]["system"]["shell"]["options"]["b"] = 2
    assert js.data == before


# ---------------------------------------------------------------- any graph V1 allows


@st.composite
def graphs(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, int]]:
    cores = draw(st.integers(1, 16))
    gpus = draw(st.integers(0, 4))
    slot_count = draw(st.integers(1, 8))
    the_slot = slot(slot_count, cores, gpus, label=draw(st.sampled_from(["task", "default", "hello-world"])))
    if draw(st.booleans()):
        the_slot["exclusive"] = draw(st.booleans())
    if draw(st.booleans()):
        nodes = draw(st.integers(1, 8))
        extra = {"exclusive": draw(st.booleans())} if draw(st.booleans()) else {}
        resources = [node(nodes, the_slot, **extra)]
        slots = nodes * slot_count
    else:
        resources = [the_slot]
        slots = slot_count
    if draw(st.booleans()):
        count = {"per_slot": draw(st.integers(1, 4))}
    else:
        count = {"total": draw(st.integers(1, 4 * slots))}
    return resources, count


@settings(max_examples=300, deadline=None)
@given(graphs(), st.booleans(), st.booleans(), st.one_of(st.none(), st.integers(0, 10**6)))
def test_any_v1_graph_validates_and_counts_agree(
    graph: tuple[list[dict[str, Any]], dict[str, int]], batch: bool, after: bool, duration: int | None
) -> None:
    resources, count = graph
    attributes = {"system": {"duration": duration}} if duration is not None else None
    js = document(resources, count, attributes)
    parent = (PARENT_ID,) if after else ()
    if batch:
        job = batch_job(js, "#!/bin/sh\ntrue\n", stage=STAGE, filename="job.sh", after=parent)
    else:
        job = submit_job(js, ["/bin/true"], stage=STAGE, filename="job.sh", after=parent)
    check_against_flux(js, job)
