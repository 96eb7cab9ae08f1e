"""The Kubernetes transformer's translation, proven without a server: for a table of
resource shapes, attributes and steps (every example among them, the original 0.0.12
ones and the project's) the manifests pass the published OpenAPI schemas of a pinned
Kubernetes version strictly (kubernetes-validate) and the rules the API server adds
on top (k8s_support), and say what the jobspec asked for."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from k8s_support import (
    PINNED_KUBERNETES,
    PROJECT_EXAMPLES,
    SEED_EXAMPLES,
    api_server_problems,
    container_view,
    expand,
    iter_jobs,
    schema_problems,
)
from support import ROOT

from jobspec.document.problems import JobspecError
from jobspec.engine.run import Reporter
from jobspec.transformers.kubernetes import manifests as mf
from jobspec.transformers.kubernetes.transformer import KubernetesTransformer


def jobspec(
    resources: list[dict[str, Any]],
    *,
    count: dict[str, int] | None = None,
    transform: list[dict[str, Any]] | None = None,
    scripts: dict[str, str] | None = None,
    command: list[str] | None = None,
    attributes: dict[str, Any] | None = None,
    slot: str = "default",
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "slot": slot,
        "count": count or {"per_slot": 1},
        "transform": transform
        or [{"step": "write", "filename": "job.sh", "executable": True}, {"step": "submit", "filename": "job.sh"}],
        "scripts": [{"name": n, "content": c} for n, c in (scripts or {"job.sh": "#!/bin/bash\necho hi\n"}).items()],
    }
    if command:
        task["command"] = command
    data: dict[str, Any] = {"version": 1, "resources": resources, "task": task}
    if attributes:
        data["attributes"] = attributes
    return data


def slot(count: int, *inside: dict[str, Any], label: str = "default") -> dict[str, Any]:
    vertex: dict[str, Any] = {"type": "slot", "label": label, "count": count}
    if inside:
        vertex["with"] = list(inside)
    return vertex


def node(count: int, *inside: dict[str, Any]) -> dict[str, Any]:
    return {"type": "node", "count": count, "with": list(inside)}


def core(count: int) -> dict[str, Any]:
    return {"type": "core", "count": count}


def gpu(count: int) -> dict[str, Any]:
    return {"type": "gpu", "count": count}


WEIRD = 'it\'s "quoted" $(whoami) ${HOME} $$ `date`\nsecond line ünïcødé ✓ \\ $'

# name -> (jobspec, expected per Job in order: (pods, cpu, gpus))
SHAPES: dict[str, tuple[dict[str, Any], list[tuple[int, int, int]]]] = {
    "4 nodes, a slot of 4 cores each": (jobspec([node(4, slot(1, core(4)))]), [(4, 4, 0)]),
    "slots only, no node": (jobspec([slot(2, core(1))]), [(2, 1, 0)]),
    "gpus per slot": (jobspec([node(2, slot(2, core(2), gpu(1)))]), [(4, 2, 1)]),
    "total tasks share the cores": (jobspec([slot(1, core(8))], count={"total": 4}), [(4, 2, 0)]),
    "many one-core slots on many nodes": (jobspec([node(3, slot(2, core(1)))]), [(6, 1, 0)]),
    "two tasks per slot, gpus shared out": (
        jobspec([node(2, slot(3, core(2), gpu(2)))], count={"per_slot": 2}),
        [(12, 1, 1)],
    ),
    "two tasks per slot": (jobspec([slot(2, core(4), gpu(2))], count={"per_slot": 2}), [(4, 2, 1)]),
    "command only, no script": (
        jobspec([slot(1, core(1))], transform=[{"step": "submit"}], command=["echo", WEIRD], scripts={}),
        [(1, 1, 0)],
    ),
    "batch holds the whole request": (
        jobspec(
            [node(2, slot(2, core(3), gpu(1)))],
            transform=[{"step": "write", "filename": "b.sh"}, {"step": "batch", "filename": "b.sh", "wait": True}],
            scripts={"b.sh": "#!/bin/sh\necho batch\n"},
        ),
        [(1, 12, 4)],
    ),
    "every attribute, odd values": (
        jobspec(
            [slot(2, core(1))],
            attributes={
                "system": {
                    "duration": 0.5,
                    "cwd": "/tmp/a dir/ü",
                    "environment": {"GREETING": WEIRD, "EMPTY": "", "dotted.name": "x", "MIXED_Case-1": "$(X)"},
                    "job": {"name": "My_Job: Ünïcode ✓ " + "x" * 80},
                }
            },
        ),
        [(2, 1, 0)],
    ),
    "named steps, after, settings": (
        jobspec(
            [slot(2, core(2))],
            transform=[
                {"step": "set", "key": "kubernetes.image", "value": "registry.example.com:5000/team/tool:1.2"},
                {"step": "set", "key": "kubernetes.namespace", "value": "research"},
                {"step": "set", "key": "stage", "value": "/scratch/stage"},
                {"step": "auth"},
                {"step": "write", "filename": "a.sh", "executable": True},
                {"step": "write", "filename": "sub dir/b_c.sh"},
                {"step": "stage"},
                {"step": "submit", "name": "First_Step", "filename": "a.sh", "wait": True},
                {"step": "submit", "name": "second", "filename": "sub dir/b_c.sh", "after": "First_Step"},
                {"step": "unset", "key": "kubernetes.image"},
                {"step": "batch", "name": "3rd", "filename": "a.sh", "after": "second", "watch": True},
            ],
            scripts={"a.sh": "#!/bin/bash\necho a\n", "sub dir/b_c.sh": "echo b\n"},
        ),
        [(2, 2, 0), (2, 2, 0), (1, 4, 0)],
    ),
    "RFC 25 tasks list": (
        {
            "version": 1,
            "resources": [node(1, slot(2, core(1)))],
            "tasks": [
                {
                    "command": ["hostname"],
                    "slot": "default",
                    "count": {"per_slot": 1},
                    "transform": [{"step": "submit"}],
                }
            ],
            "attributes": {"system": {"duration": 3600}},
        },
        [(2, 1, 0)],
    ),
}


def example_ids(paths: list[Path]) -> list[str]:
    return [p.name for p in paths]


def documents_of(source: Any) -> list[dict[str, Any]]:
    return KubernetesTransformer().manifests(source)


def check_documents(documents: list[dict[str, Any]]) -> None:
    assert documents, "no manifests"
    assert schema_problems(documents) == []
    assert api_server_problems(documents) == []
    # and they survive YAML as kubectl reads it, and JSON as the client sends it
    assert list(yaml.safe_load_all(mf.to_yaml(documents))) == documents
    assert json.loads(json.dumps(documents)) == documents


@pytest.mark.parametrize("shape", list(SHAPES), ids=list(SHAPES))
def test_shapes_validate_and_ask_for_what_the_jobspec_asks(shape: str) -> None:
    data, expected = SHAPES[shape]
    documents = documents_of(data)
    check_documents(documents)
    jobs = list(iter_jobs(documents))
    assert len(jobs) == len(expected)
    for job, (pods, cpu, gpus) in zip(jobs, expected, strict=True):
        spec = job["spec"]
        assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == ("Indexed", pods, pods)
        assert (spec["backoffLimit"], spec["template"]["spec"]["restartPolicy"]) == (0, "Never")
        resources = spec["template"]["spec"]["containers"][0]["resources"]
        want = {"cpu": str(cpu), **({"nvidia.com/gpu": str(gpus)} if gpus else {})}
        assert resources == {"requests": want, "limits": want}


@pytest.mark.parametrize("path", SEED_EXAMPLES + PROJECT_EXAMPLES, ids=example_ids(SEED_EXAMPLES + PROJECT_EXAMPLES))
def test_every_example_validates(path: Path) -> None:
    documents = documents_of(path)
    check_documents(documents)
    jobspec_steps = yaml.safe_load(path.read_text())["task"]["transform"]
    assert len(list(iter_jobs(documents))) == sum(1 for s in jobspec_steps if s["step"] in ("submit", "batch"))


@pytest.mark.usefixtures("shared")  # its original examples
def test_the_examples_are_all_there() -> None:
    assert len(SEED_EXAMPLES) == 4 and len(PROJECT_EXAMPLES) >= 2


@pytest.mark.usefixtures("shared")  # its original examples
@pytest.mark.parametrize("version", ["oldest", "latest"])
def test_examples_hold_for_older_and_newer_schemas_too(version: str) -> None:
    utils = pytest.importorskip("kubernetes_validate.utils", reason="kubernetes-validate is not installed")
    chosen = utils.all_versions()[0] if version == "oldest" else utils.latest_version()
    for path in SEED_EXAMPLES + PROJECT_EXAMPLES:
        assert schema_problems(documents_of(path), chosen) == [], (path.name, chosen)


@pytest.mark.usefixtures("shared")  # its original examples
def test_the_schema_check_is_strict() -> None:
    """The oracle itself: an unknown field and a wrong type are caught."""
    documents = documents_of(SEED_EXAMPLES[0])
    job = next(iter_jobs(documents))
    job["spec"]["template"]["spec"]["containers"][0]["commnad"] = ["x"]
    job["spec"]["completions"] = "4"
    found = schema_problems([job])
    assert found and any("commnad" in p or "completions" in p for p in found)
    job = next(iter_jobs(documents_of(SEED_EXAMPLES[0])))
    job["spec"]["template"]["spec"]["restartPolicy"] = "Always"
    job["metadata"]["name"] = "Bad_Name"
    assert len(api_server_problems([job])) >= 2


# ---------------------------------------------------------------------------- what the pods get


def test_rank_and_count_come_from_the_completion_index() -> None:
    job = next(iter_jobs(documents_of(SHAPES["4 nodes, a slot of 4 cores each"][0])))
    for index in range(4):
        _argv, env = container_view(job, index, "team-a")
        assert env["JOBSPEC_TASK_RANK"] == env["FLUX_TASK_RANK"] == str(index)
        assert env["JOBSPEC_TASK_COUNT"] == "4"
        assert env["JOBSPEC_JOB_ID"] == f"k8s:team-a/{job['metadata']['name']}"
        assert env["JOBSPEC_STAGE"] == "/jobspec"


def test_literal_values_reach_the_pod_unchanged() -> None:
    """Quotes, $(), newlines and non-ASCII in command, environment and names: what the
    container receives after Kubernetes' expansion is exactly what was written."""
    data = SHAPES["every attribute, odd values"][0]
    data = {**data, "task": {**data["task"], "command": ["printf", "%s", WEIRD, "$(GREETING)"]}}
    data["task"]["transform"] = [{"step": "submit"}]
    job = next(iter_jobs(documents_of(data)))
    argv, env = container_view(job, 1, "default")
    assert argv == ["printf", "%s", WEIRD, "$(GREETING)"]
    assert env["GREETING"] == WEIRD
    assert env["MIXED_Case-1"] == "$(X)"
    assert env["EMPTY"] == ""
    assert env["JOBSPEC_JOB_NAME"] == "My_Job: Ünïcode ✓ " + "x" * 80
    assert job["metadata"]["annotations"]["jobspec/name"] == "My_Job: Ünïcode ✓ " + "x" * 80
    # workingDir is not expanded by Kubernetes, so it is passed as written
    assert job["spec"]["template"]["spec"]["containers"][0]["workingDir"] == "/tmp/a dir/ü"


def test_expansion_oracle_matches_kubernetes_examples() -> None:
    """The cases of Kubernetes' own expansion tests (third_party/forked/golang/expansion)."""
    env = {"VAR_A": "A", "VAR_B": "B", "VAR_EMPTY": ""}
    cases = {
        "$(VAR_A)": "A",
        "___$(VAR_B)___": "___B___",
        "$(VAR_A)-$(VAR_A)": "A-A",
        "$(VAR_EMPTY)": "",
        "$(VAR_DNE)": "$(VAR_DNE)",
        "$$(VAR_A)": "$(VAR_A)",
        "$$$$(VAR_A)": "$$(VAR_A)",
        "$(VAR_A": "$(VAR_A",
        "$": "$",
        "$VAR_A": "$VAR_A",
        "foo$$": "foo$",
        "$$$(VAR_A)": "$A",
    }
    for text, want in cases.items():
        assert expand(text, env) == want, text
    for text in ["plain", WEIRD, "$", "$$", "$(", "$()", "a$b$$c$(d)$$(e)"]:
        assert expand(mf.literal(text), env) == text


def test_duration_becomes_a_whole_deadline() -> None:
    jobs = {
        d: next(iter_jobs(documents_of(jobspec([slot(1, core(1))], attributes={"system": {"duration": d}}))))
        for d in (0.5, 59.2, 3600)
    }
    assert {d: j["spec"]["activeDeadlineSeconds"] for d, j in jobs.items()} == {0.5: 1, 59.2: 60, 3600: 3600}
    job = next(iter_jobs(documents_of(jobspec([slot(1, core(1))]))))
    assert "activeDeadlineSeconds" not in job["spec"]


def test_labels_tie_jobs_and_pods_to_the_run_and_step() -> None:
    documents = documents_of(SHAPES["named steps, after, settings"][0])
    config_map, *jobs = documents
    run = config_map["metadata"]["name"]
    assert config_map["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "jobspec", "jobspec/run": run}
    for job, step in zip(jobs, ("8", "9", "11"), strict=True):
        for meta in (job["metadata"], job["spec"]["template"]["metadata"]):
            assert meta["labels"]["jobspec/run"] == run and meta["labels"]["jobspec/step"] == step
        assert job["metadata"]["namespace"] == "research"
    assert [j["spec"]["template"]["spec"]["containers"][0]["image"] for j in jobs] == [
        "registry.example.com:5000/team/tool:1.2",
        "registry.example.com:5000/team/tool:1.2",
        mf.DEFAULT_IMAGE,
    ]
    assert jobs[0]["spec"]["template"]["spec"]["containers"][0]["command"] == ["/bin/bash", "/scratch/stage/a.sh"]
    assert jobs[1]["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "/bin/sh",
        "/scratch/stage/sub dir/b_c.sh",
    ]
    assert [j["metadata"]["annotations"].get("jobspec/step-name") for j in jobs] == ["First_Step", "second", "3rd"]


def test_batch_pod_gets_the_allocation_in_its_environment() -> None:
    job = next(iter_jobs(documents_of(SHAPES["batch holds the whole request"][0])))
    _argv, env = container_view(job, 0, "default")
    assert (env["JOBSPEC_NODES"], env["JOBSPEC_TASKS"], env["JOBSPEC_CORES_PER_TASK"]) == ("2", "4", "3")
    assert env["JOBSPEC_TASK_COUNT"] == "1"


def test_user_environment_cannot_shadow_jobspecs_own() -> None:
    data = jobspec([slot(2, core(1))], attributes={"system": {"environment": {"JOBSPEC_TASK_RANK": "9", "A": "1"}}})
    job = next(iter_jobs(documents_of(data)))
    names = [e["name"] for e in job["spec"]["template"]["spec"]["containers"][0]["env"]]
    assert names.count("JOBSPEC_TASK_RANK") == 1 and "A" in names
    assert container_view(job, 1, "default")[1]["JOBSPEC_TASK_RANK"] == "1"


# ---------------------------------------------------------------------------- files in the ConfigMap


def test_files_keep_their_layout_and_executable_bits(tmp_path: Path) -> None:
    tree = tmp_path / "inputs"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin" / "tool_x").write_text("#!/bin/sh\necho tool\n")
    (tree / "bin" / "tool_x").chmod(0o755)
    (tree / "data.bin").write_bytes(bytes(range(256)))
    (tree / ".hidden").write_text("h")
    (tree / "ünï code.txt").write_text("text")
    data = jobspec(
        [slot(1, core(1))],
        transform=[
            {"step": "copy", "source": str(tree), "destination": "in"},
            {"step": "write", "filename": "job.sh", "executable": True},
            {"step": "submit", "filename": "job.sh"},
        ],
    )
    documents = documents_of(data)
    check_documents(documents)
    config_map, job = documents
    items = {i["path"]: i for i in job["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"]}
    assert set(items) == {"in/bin/tool_x", "in/data.bin", "in/.hidden", "in/ünï code.txt", "job.sh"}
    assert {p: i["mode"] for p, i in items.items()} == {
        "in/bin/tool_x": 0o755,
        "in/data.bin": 0o644,
        "in/.hidden": 0o644,
        "in/ünï code.txt": 0o644,
        "job.sh": 0o755,
    }
    assert items["in/bin/tool_x"]["key"] == "in_2Fbin_2Ftool_5Fx"
    import base64

    assert base64.b64decode(config_map["binaryData"][items["in/data.bin"]["key"]]) == bytes(range(256))
    assert config_map["data"][items["in/bin/tool_x"]["key"]] == "#!/bin/sh\necho tool\n"
    mount = job["spec"]["template"]["spec"]["containers"][0]["volumeMounts"][0]
    assert (mount["mountPath"], mount["readOnly"]) == ("/jobspec", True)


def test_config_map_keys_are_one_to_one() -> None:
    from hypothesis import given
    from hypothesis import strategies as st

    seen: dict[str, str] = {}

    @given(st.text(min_size=1, max_size=40))
    def check(path: str) -> None:
        key = mf.config_map_key(path)
        assert key and all(c.isascii() and (c.isalnum() or c in "-._") for c in key)
        assert not key.startswith(".")
        if key in seen:
            assert seen[key] == path
        seen[key] = path

    check()
    assert mf.config_map_key("a/b") != mf.config_map_key("a_b") != mf.config_map_key("a_2Fb")


@pytest.mark.usefixtures("shared")  # its original examples
def test_a_file_added_after_a_job_grows_the_config_map() -> None:
    """The original 0.0.12 flux-receive example writes job.sh after the first submit: the
    first Job mounts install.sh only; the ConfigMap is applied again with both before
    the second."""
    path = next(p for p in SEED_EXAMPLES if p.name == "flux-receive-jobspec.yaml")
    documents = documents_of(path)
    assert [d["kind"] for d in documents] == ["ConfigMap", "Job", "ConfigMap", "Job"]
    first, second = documents[0], documents[2]
    assert set(first["data"]) == {"install.sh"} and set(second["data"]) == {"install.sh", "job.sh"}
    mounted = [
        [i["path"] for i in d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"]] for d in documents[1::2]
    ]
    assert mounted == [["install.sh"], ["install.sh", "job.sh"]]


def test_a_file_changed_after_a_job_gets_a_new_key(tmp_path: Path) -> None:
    (tmp_path / "a.sh").write_text("echo new\n")
    data = jobspec(
        [slot(1, core(1))],
        transform=[
            {"step": "write", "filename": "a.sh"},
            {"step": "submit", "filename": "a.sh"},
            {"step": "copy", "source": str(tmp_path / "a.sh"), "destination": "a.sh"},
            {"step": "submit", "filename": "a.sh"},
        ],
        scripts={"a.sh": "echo old\n"},
    )
    documents = documents_of(data)
    check_documents(documents)
    assert documents[2]["data"] == {"a.sh": "echo old\n", "a.sh_v2": "echo new\n"}
    keys = [d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["items"][0]["key"] for d in iter_jobs(documents)]
    assert keys == ["a.sh", "a.sh_v2"]


def test_too_many_bytes_for_a_config_map_are_refused_before_anything_runs(tmp_path: Path) -> None:
    big = tmp_path / "big"
    big.mkdir()
    for i in range(3):
        (big / f"part{i}").write_bytes(b"x" * 400_000)
    data = jobspec(
        [slot(1, core(1))],
        transform=[
            {"step": "write", "filename": "job.sh"},
            {"step": "copy", "source": str(big)},
            {"step": "submit", "filename": "job.sh"},
        ],
    )
    with pytest.raises(JobspecError) as caught:
        KubernetesTransformer().run(data, reporter=Reporter(stream=io.StringIO(), color=False))
    text = str(caught.value)
    assert "more than a ConfigMap holds (1.00 MiB)" in text and "transform[1]" in text


def test_no_files_no_config_map() -> None:
    documents = documents_of(SHAPES["command only, no script"][0])
    assert [d["kind"] for d in documents] == ["Job"]
    assert "volumes" not in documents[0]["spec"]["template"]["spec"]


# ---------------------------------------------------------------------------- names


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        ("hello-world", "hello-world"),
        ("Hello_World", "hello-world"),
        ("UPPER", "upper"),
        ("a__b..c  d", "a-b-c-d"),
        ("Ünïcødé ✓", "unic-de"),
        ("--edge--", "edge"),
        ("✓✓✓", "job"),
        ("", "job"),
        ("x" * 100, "x" * 63),
        ("a" * 62 + "_b", "a" * 62),
    ],
)
def test_names_become_dns_labels_predictably(written: str, expected: str) -> None:
    assert mf.dns_label(written) == expected
    assert mf.dns_label(written) == mf.dns_label(written)  # no randomness
    assert mf.is_dns_label(mf.dns_label(written))


@pytest.mark.parametrize("tasks", [1, 10, 100_000])
@pytest.mark.parametrize("written", ["short", "My_Very_Long_Jobspec_Name_" * 4, "Ünï"])
def test_job_names_leave_room_for_pod_host_names(written: str, tasks: int) -> None:
    names = mf.RunNames(written, "ab1c2")
    for step_name in (None, "Install_Step_With_A_Long_Name"):
        job = names.job(41, step_name, tasks)
        assert mf.is_dns_label(job) and mf.is_dns_label(f"{job}-{tasks - 1}")
        assert "-ab1c2-42" in job
    assert mf.is_dns_label(names.run) and names.run.endswith("-ab1c2")


def test_the_name_mapping_is_shown() -> None:
    data = SHAPES["every attribute, odd values"][0]
    out = io.StringIO()
    result = KubernetesTransformer().run(data, dry_run=True, reporter=Reporter(stream=out, color=False))
    assert result.ok
    text = out.getvalue()
    long = "My_Job: Ünïcode ✓ " + "x" * 80
    assert f"names made valid for Kubernetes: {long!r} -> {mf.dns_label(long)!r}" in text
    named = SHAPES["named steps, after, settings"][0]
    out = io.StringIO()
    KubernetesTransformer().run(named, dry_run=True, reporter=Reporter(stream=out, color=False))
    assert "'First_Step' -> 'first-step'" in out.getvalue()


# ---------------------------------------------------------------------------- bad input, refused at plan time


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"attributes": {"system": {"environment": {"1BAD": "x"}}}}, "'1BAD' is not a name Kubernetes accepts"),
        ({"attributes": {"system": {"environment": {"HAS SPACE": "x"}}}}, "'HAS SPACE' is not a name"),
        ({"set": ("kubernetes.image", "")}, "kubernetes.image is empty"),
        ({"set": ("kubernetes.image", "Ubuntu:22.04")}, "is not a container image reference"),
        ({"set": ("kubernetes.image", "ubuntu 22.04")}, "is not a container image reference"),
        ({"set": ("kubernetes.namespace", "Team_A")}, "is not a Kubernetes namespace name"),
        ({"set": ("stage", "relative/dir")}, "must be an absolute path"),
        ({"set": ("kubernetes.kubeconfig", "/no/such/kubeconfig")}, "no such file"),
        ({"set": ("kubernetes.colour", "blue")}, "unknown setting 'kubernetes.colour'"),
        ({"count": {"total": 100_001}}, "at most 100000 pods"),
    ],
)
def test_bad_input_is_refused_with_its_place(change: dict[str, Any], message: str) -> None:
    data = jobspec([slot(1, core(1))])
    if "attributes" in change:
        data["attributes"] = change["attributes"]
    if "set" in change:
        key, value = change["set"]
        data["task"]["transform"].insert(0, {"step": "set", "key": key, "value": value})
    if "count" in change:
        data["task"]["count"] = change["count"]
    with pytest.raises(JobspecError) as caught:
        documents_of(data)
    assert message in str(caught.value)


def test_auth_never_echoes_what_may_be_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.c2VjcmV0"
    data = jobspec([slot(1, core(1))])
    data["task"]["transform"].insert(0, {"step": "auth", "token_env": secret})
    with pytest.raises(JobspecError) as caught:
        documents_of(data)
    assert "not the token itself" in str(caught.value) and secret not in str(caught.value)
    data["task"]["transform"][0] = {"step": "auth", "token_env": "MY_K8S_TOKEN"}
    monkeypatch.delenv("MY_K8S_TOKEN", raising=False)
    with pytest.raises(JobspecError, match="MY_K8S_TOKEN is not set"):
        documents_of(data)
    data["task"]["transform"][0] = {"step": "auth", "tokn_env": "X"}
    with pytest.raises(JobspecError, match="takes no field 'tokn_env'"):
        documents_of(data)


def test_unknown_steps_name_the_known_ones() -> None:
    data = jobspec([slot(1, core(1))], transform=[{"step": "launch"}])
    with pytest.raises(JobspecError) as caught:
        documents_of(data)
    for step in ("auth", "batch", "copy", "stage", "submit", "write"):
        assert step in str(caught.value)


# ---------------------------------------------------------------------------- job ids


def test_job_ids() -> None:
    from jobspec.plugin import JobLookupError
    from jobspec.transformers.kubernetes.ids import parse_job_id

    owns = KubernetesTransformer.owns_job_id
    assert owns("k8s:default/hello-k3x9q-2") and owns("k8s:team-a/x")
    for other in ("local-19ab-123456", "ƒ2ab", "12345", "k8s:Default/x", "k8s:default/", "k8s:/x", "k8s:a/b/c"):
        assert not owns(other), other
    assert parse_job_id("k8s:team-a/job-1") == ("team-a", "job-1")
    with pytest.raises(JobLookupError, match="k8s:<namespace>/<job name>"):
        parse_job_id("k8s:default")


def test_job_outcomes() -> None:
    from jobspec.transformers.kubernetes.outcome import job_outcome

    def job(conditions: list[dict[str, str]], **status: Any) -> dict[str, Any]:
        return {"spec": {"completions": 2, "activeDeadlineSeconds": 60}, "status": {"conditions": conditions, **status}}

    def pod(index: int, code: int) -> dict[str, Any]:
        return {
            "metadata": {"annotations": {mf.COMPLETION_INDEX: str(index)}},
            "status": {"containerStatuses": [{"state": {"terminated": {"exitCode": code}}}]},
        }

    done = job_outcome(job([{"type": "Complete", "status": "True"}], succeeded=2), [pod(0, 0), pod(1, 0)])
    assert (done.state, done.exit_code, done.details["task_exit_codes"]) == ("completed", 0, [0, 0])
    failed = job_outcome(
        job([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}], failed=1), [pod(0, 0), pod(1, 7)]
    )
    assert (failed.state, failed.exit_code, failed.reason) == ("failed", 7, "1 task failed")
    late = job_outcome(job([{"type": "Failed", "status": "True", "reason": "DeadlineExceeded"}]))
    assert (late.state, late.reason) == ("failed", "time limit of 60 s reached")
    not_yet = job_outcome(job([{"type": "FailureTarget", "status": "True"}], active=1))
    assert not_yet.state == "running"
    assert job_outcome(job([])).state == "pending"


# ---------------------------------------------------------------------------- the dry run, as a user pipes it

REGISTERED_CLI = (
    "import sys; from jobspec.transformers.registry import get_transformer_registry as registry; "
    "from jobspec.transformers.kubernetes.transformer import KubernetesTransformer; "
    "registry().register(KubernetesTransformer); from jobspec.cli.main import main; sys.exit(main(sys.argv[1:]))"
)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The real command line, with the transformer registered (the registry's built-in
    table does not list it yet)."""
    env = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    return subprocess.run(
        [sys.executable, "-c", REGISTERED_CLI, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


@pytest.mark.parametrize("path", SEED_EXAMPLES + PROJECT_EXAMPLES, ids=example_ids(SEED_EXAMPLES + PROJECT_EXAMPLES))
def test_dry_run_prints_yaml_for_kubectl_apply(path: Path) -> None:
    """`jobspec run -t kubernetes --dry-run F | kubectl apply -f -`: stdout holds the
    manifests and nothing else; the words go to stderr."""
    done = cli("run", "-t", "kubernetes", "--dry-run", str(path))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0].startswith("jobspec: transformer kubernetes") and "dry run" in lines[0]
    assert "=> " not in done.stdout and "jobspec: " not in done.stdout
    documents = list(yaml.safe_load_all(done.stdout))
    assert documents and all(d and d.get("apiVersion") and d.get("kind") for d in documents)
    check_documents(documents)
    assert len(list(iter_jobs(documents))) == sum(
        1 for line in lines if line.startswith(("=> step submit", "=> step batch"))
    )


def test_dry_run_changes_nothing_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No staging directory, no state, no server: nothing but text."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where a staging directory would be made
    result = KubernetesTransformer().run(PROJECT_EXAMPLES[0], dry_run=True, reporter=Reporter(stream=io.StringIO()))
    assert result.ok and result.stage is None
    assert list(tmp_path.iterdir()) == []


def test_pinned_version_is_what_the_schemas_say() -> None:
    kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="kubernetes-validate is not installed")
    assert kubernetes_validate.validate(documents_of(PROJECT_EXAMPLES[0])[-1], PINNED_KUBERNETES, strict=True) == "1.30"


# ---------------------------------------------------------------------------- the client is optional


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "KUBECONFIG"}, **env},
        timeout=60,
    )


def test_the_kubernetes_client_is_imported_only_to_talk_to_a_server() -> None:
    done = python(
        "import io, sys\n"
        "from jobspec.engine.run import Reporter\n"
        "from jobspec.transformers.kubernetes.transformer import KubernetesTransformer\n"
        f"r = KubernetesTransformer().run({str(PROJECT_EXAMPLES[0])!r}, dry_run=True,\n"
        "    reporter=Reporter(stream=io.StringIO()))\n"
        "assert r.ok, r.error\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('kubernetes', 'urllib3', 'pydantic')))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_without_the_client_a_run_says_what_to_install(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("{}")
    done = python(
        "import io, sys\n"
        "sys.modules['kubernetes'] = None  # as if not installed\n"
        "from jobspec.engine.run import Reporter\n"
        "from jobspec.transformers.kubernetes.transformer import KubernetesTransformer\n"
        "from jobspec.plugin import TransformerUnavailable\n"
        "try:\n"
        f"    KubernetesTransformer().run({str(PROJECT_EXAMPLES[0])!r}, reporter=Reporter(stream=io.StringIO()))\n"
        "except TransformerUnavailable as e:\n"  # before the first step, not at the first job
        "    print(e)\n",
        KUBECONFIG=str(kubeconfig),
    )
    assert done.returncode == 0, done.stderr
    assert "pip install 'kubernetes>=29'" in done.stdout


def test_without_credentials_nothing_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from jobspec.plugin import TransformerUnavailable

    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(TransformerUnavailable, match=r"no KUBECONFIG, ~/\.kube/config or in-cluster service account"):
        KubernetesTransformer().run(PROJECT_EXAMPLES[0], reporter=Reporter(stream=io.StringIO()))


def test_the_registry_can_load_it_by_its_module_path() -> None:
    from jobspec.transformers.registry import Entry

    entry = Entry("kubernetes", "jobspec.transformers.kubernetes.transformer:KubernetesTransformer", "builtin")
    assert entry.load() is KubernetesTransformer
    assert sorted(KubernetesTransformer.steps) == ["auth", "batch", "copy", "set", "stage", "submit", "unset", "write"]
