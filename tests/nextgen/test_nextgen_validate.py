"""Checking the next-generation form: the upstream's examples, the specification's own
documents (short snippets written here), and bad input refused with every problem at once."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import yaml
from nextgen_support import UPSTREAM, upstream_examples
from support import jobspec_cli

from jobspec import JobspecError, load, plan
from jobspec.document.validate import validate
from jobspec.engine.run import Reporter, execute

BACKENDS = ["local", "slurm", "flux", "kubernetes"]
# upstream examples jobspec refuses, and why (the README says the same)
REFUSED = {"machine-learning.yaml": "'cores' is not one of core, gpu, node, slot; did you mean 'core'?"}


def _needs_upstream() -> None:
    if not UPSTREAM.is_dir():
        pytest.skip(f"the upstream's examples are not here: expected {UPSTREAM}")


def _ids() -> list[str]:
    return [str(p.relative_to(UPSTREAM)) for p in upstream_examples()] if UPSTREAM.is_dir() else []


@pytest.mark.parametrize("name", _ids() or ["(none)"])
def test_each_upstream_example_validates_or_is_refused_with_its_reason(name: str) -> None:
    _needs_upstream()
    done = jobspec_cli("validate", str(UPSTREAM / name))
    reason = REFUSED.get(Path(name).name)
    if reason is None:
        assert done.returncode == 0, done.stdout + done.stderr
        assert "valid" in done.stdout
    else:
        assert done.returncode == 2
        assert reason in done.stderr + done.stdout
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_each_accepted_upstream_example_plans_and_dry_runs_on_every_backend(backend: str) -> None:
    _needs_upstream()
    accepted = [p for p in upstream_examples() if p.name not in REFUSED]
    assert len(accepted) == 7
    for path in accepted:
        jobspec = load(path)
        stream = io.StringIO()
        result = execute(plan(jobspec, backend), Reporter(stream=stream, color=False), dry_run=True)
        assert result.ok, (path, result.error)
        text = stream.getvalue()
        # every job, with what it asks for
        jobs = [s for s in jobspec.transform if s["step"] in ("submit", "batch")]
        assert text.count("     job ") + text.count("     batch job ") == len(jobs), text


def test_a_typo_in_a_resource_type_says_what_was_meant_with_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "typo.yaml"
    path.write_text(
        "version: 1\nresources:\n  r:\n    type: node\n    count: 1\n    with:\n    - type: cores\n      count: 4\n"
        "tasks:\n- command: [hostname]\n  resources: r\n"
    )
    with pytest.raises(JobspecError) as caught:
        load(path)
    [problem] = caught.value.problems
    assert (problem.line, problem.column) == (7, 13)
    assert "did you mean 'core'?" in problem.message


BAD = """\
version: 1
resources:
  one: {type: node, count: 1}
tasks:
- name: a
  resources: one
  command: [hostname]
  depends_on: [b]
- name: b
  resources: one
  command: [hostname]
  depends_on: [a]
- name: c
  resources: nothing
  command: [hostname]
  depends_on: [zzz]
- name: d
  resources: one
  command: [hostname]
  replicas: 0
groups:
- name: loop
  resources: one
  tasks:
  - group: loop
"""


def test_bad_input_every_problem_at_once_each_at_its_place(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD)
    done = jobspec_cli("run", "-t", "local", str(path))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    expected = [
        f"{path}:8:15: tasks[0].depends_on: the dependencies go round in a cycle (a -> b -> a)",
        f"{path}:14:14: tasks[2].resources: 'nothing' names no resources",
        f"{path}:16:16: tasks[2].depends_on[0]: names no task or group item in the top-level tasks",
        f"{path}:20:13: tasks[3].replicas: must be at least 1, not 0",
        f"{path}:25:12: groups[0].tasks[0].group: group 'loop' contains itself (loop > loop)",
    ]
    assert lines[0] == "jobspec: 5 problems:"
    for want in expected:
        assert any(line.strip().startswith(want) for line in lines), (want, done.stderr)
    assert not list(tmp_path.glob("jobspec-*")), "nothing is written"


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        # the specification's "tasks a la carte" example, as written (no resources on the tasks)
        (
            "tasks:\n- name: setup\n  command: [bash, -c, 'echo hi']\n"
            "- depends_on: [setup]\n  command: [/bin/bash, job.sh]\n",
            "a task at the top level needs resources",
        ),
        # its environment section puts environment on the resource, not under attributes
        (
            "resources:\n  spack:\n    count: 1\n    type: node\n    environment:\n      pasta: labasta\n"
            "tasks:\n- command: [spack, install, singularity]\n  resources: spack\n",
            "unknown field 'environment'",
        ),
        # its first example writes one with: as a mapping
        (
            "resources:\n  ior-run:\n    count: 1\n    type: node\n    with:\n      count: 4\n      type: gpu\n"
            "tasks:\n- command: [ior]\n  resources: ior-run\n",
            "must be a list",
        ),
        (
            "resources:\n  r: {type: node, count: 1}\ntasks:\n- command: [x]\n  resources: r\n  local: true\n",
            "local: true runs a command in a group's batch script",
        ),
        (
            "resources:\n  r: {type: node, count: 1}\ntasks:\n- command: [x]\n  resources: r\n  requires: sofware\n"
            "requires:\n  software: [{name: spack, field: type, value: lammps}]\n",
            "'sofware' names no requirement set; did you mean 'software'?",
        ),
    ],
)
def test_documents_of_the_specification_refused_with_a_reason(snippet: str, message: str) -> None:
    problems = validate({"version": 1, **yaml.safe_load(snippet)})
    assert any(message in p.message for p in problems), [str(p) for p in problems]


@pytest.mark.parametrize(
    "snippet",
    [
        # four copies of a task on four nodes of four cores (the specification's first resources example)
        "resources:\n  hello-world:\n    count: 4\n    type: node\n    with:\n    - count: 4\n      type: core\n"
        "tasks:\n- command: [echo, hello, world]\n  replicas: 4\n  resources: hello-world\n",
        # the same with replicas on the resource: four slots of four cores, anywhere
        "resources:\n  hello-world:\n    type: node\n    replicas: 4\n    with:\n    - count: 4\n      type: core\n"
        "tasks:\n- command: [echo, hello, world]\n  replicas: 4\n  resources: hello-world\n",
        # a duration with a unit, and a cwd
        "resources:\n  spack:\n    count: 1\n    type: node\n    attributes:\n      duration: 300s\n      cwd: /tmp\n"
        "tasks:\n- command: [spack, install, singularity]\n  resources: spack\n",
        # the services example: local commands around jobs inside a group
        "resources:\n  ml-group: {type: node, count: 1, with: [{count: 4, type: core}]}\n"
        "  single-node: {count: 1, type: node}\n"
        "groups:\n- name: ml-work\n  resources: ml-group\n  tasks:\n  - name: start\n    local: true\n"
        "    command: kubectl apply -f ./database.yaml\n  - name: train\n    depends_on: [start]\n    replicas: 100\n"
        "    resources: single-node\n    command: [bash, -c, ml-train]\n  - name: delete\n    depends_on: [train]\n"
        "    local: true\n    command: kubectl delete -f ./database.yaml\n",
    ],
)
def test_documents_of_the_specification_accepted(snippet: str) -> None:
    problems = validate({"version": 1, **yaml.safe_load(snippet)})
    assert problems == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_refused_example_is_refused_on_every_backend_and_runs_once_fixed(backend: str) -> None:
    _needs_upstream()
    path = UPSTREAM / "machine-learning.yaml"
    with pytest.raises(JobspecError) as caught:
        plan(load(path), backend)
    assert all("did you mean 'core'?" in p.message for p in caught.value.problems)
    fixed = yaml.safe_load(path.read_text().replace("type: cores", "type: core"))
    stream = io.StringIO()  # the words and the scripts both: a terminal shows them together
    result = execute(plan(load(fixed), backend), Reporter(stream=stream, artifacts=stream, color=False), dry_run=True)
    assert result.ok, result.error
    text = stream.getvalue()
    # the group mini-mummi runs train (a nested group) then test (20 replicas) in its allocation
    assert "replicas 20 launch 2 2 4 0 bash -c 'echo Running machine learning test'" in text
    assert 'bash "$(beside group-train.sh)"' in text
    assert "batch job mini-mummi: 8 nodes, 8 tasks, each 4 cores and 2 gpus" in text


@pytest.mark.parametrize(
    "text",
    [
        # a group referenced only from an unnamed group: run there, with that group's resources
        "resources:\n  r: {type: node, count: 1}\ngroups:\n- resources: r\n  tasks: [{group: inner}]\n"
        "- name: inner\n  tasks: [{command: [x]}]\n",
        "groups: 2\nresources:\n  r: {type: node, count: 1}\n",
        "resources: [task-1]\ntasks: 2\n",  # not the next-generation form: v1, damaged
    ],
)
def test_damaged_or_unusual_documents_get_problems_or_plans_never_a_crash(text: str) -> None:
    try:
        plan(load(yaml.safe_load("version: 1\n" + text)), "local")
    except JobspecError as e:
        assert e.problems
