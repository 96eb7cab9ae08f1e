"""The REST API's side of the Slurm transformer, without a cluster: the JSON job made
from the same request as the sbatch command line, the reading of slurmrestd's
answers, the token's record, and the plan-time checks of the REST interface.

The answers under records/ are what the real slurmrestd 22.05 (openapi v0.0.38) of
the test cluster sent back.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from slurm_support import RECORDS, node_graph

from jobspec.document.problems import JobspecError
from jobspec.document.resources import ResourceCounts, count_resources
from jobspec.engine.plan import plan
from jobspec.transformers.slurm.options import (
    DEFAULT_REST_URL,
    SlurmOptions,
    resolve_interface,
    resolve_rest_url,
    url_problem,
)
from jobspec.transformers.slurm.parse import SbatchOutputError, parse_token
from jobspec.transformers.slurm.request import JobRequest, sbatch_argv
from jobspec.transformers.slurm.rest_mapping import (
    REST_FIELDS,
    RLIMIT_NAMES,
    RestMappingError,
    parse_rest_submit,
    parse_sbatch_args,
    propagated_rlimits,
    rest_failure,
    rest_fields,
    rest_job,
    rest_pairs_problem,
)
from jobspec.transformers.slurm.state import Token
from jobspec.transformers.slurm.transformer import SlurmTransformer

WEIRD = 'it\'s "q" $(echo pwned) `x` a  b\nline2 é 50%j \\n'
URL = "http://slurm:6820"


def answer(name: str) -> Any:
    return json.loads((RECORDS / f"rest-{name}.json").read_text(encoding="utf-8"))


def request(counts: ResourceCounts | None = None, **changes: Any) -> JobRequest:
    fields: dict[str, Any] = {
        "job_name": WEIRD,
        "workdir": "/work dir",
        "stage": "/st 100%",
        "duration": 90,
        "after": ("41",),
        "partition": "small",
        "account": "acct",
        "qos": "normal",
        "environment": {"GREETING": WEIRD, "JOBSPEC_STAGE": "/st 100%"},
        **changes,
    }
    return JobRequest(counts or count_resources(node_graph(2, 1, 2), "s"), **fields)


# ---------------------------------------------------------------- the job


def test_rest_job_is_the_job_sbatch_gets() -> None:
    job = rest_job(request(options=("--comment=" + WEIRD, "--time=5")), {"PATH": "/bin"})
    environment = job.pop("environment")
    assert job == {
        "name": WEIRD,
        "current_working_directory": "/work dir",
        "standard_output": "/st 100%%/slurm-%j.out",  # Slurm expands %j (and %% to %) itself
        "standard_error": "/st 100%%/slurm-%j.err",
        "nodes": 2,  # a number: the [min, max] list the OpenAPI text shows is dropped by 22.05
        "tasks": 2,
        "tasks_per_node": 1,
        "cpus_per_task": 2,
        "time_limit": 5,  # the user's --time=5 overrides jobspec's 2, as on sbatch's command line
        "dependency": "afterok:41",
        "kill_on_invalid_dependency": True,
        "partition": "small",
        "account": "acct",
        "qos": "normal",
        "comment": WEIRD,
    }
    assert environment == {
        "PATH": "/bin",
        "GREETING": WEIRD,
        "JOBSPEC_STAGE": "/st 100%",
        "SLURM_CPUS_PER_TASK": "2",  # as sbatch exports them, for srun inside the job
        "SLURM_NTASKS_PER_NODE": "1",
    }


SHAPES: list[tuple[list[dict[str, object]], dict[str, int] | None]] = [
    (node_graph(2, 2, 2), None),
    (node_graph(0, 3, 2), None),
    (node_graph(2, 1, 4), {"per_slot": 2}),
    (node_graph(2, 2, 1), {"total": 3}),
    (node_graph(4, 1, 1), {"total": 1}),
    (node_graph(1, 2, 2, gpus=1), None),
]


@pytest.mark.parametrize(("graph", "count"), SHAPES)
@pytest.mark.parametrize("exclusive", [False, True])
def test_the_argv_read_back_as_sbatch_reads_it_is_the_rest_job(
    graph: list[dict[str, object]], count: dict[str, int] | None, exclusive: bool
) -> None:
    """The two interfaces cannot drift: every option on sbatch's command line has a REST
    field, and parsing the command line gives exactly the REST job."""
    counts = count_resources(graph, "s", count)  # type: ignore[arg-type]
    if exclusive:
        counts = ResourceCounts(**{**counts.__dict__, "exclusive": True})
    req = request(counts, key="run.7", options=("-p", "debug", "--nice"))
    argv = sbatch_argv(req)
    assert argv[:2] == ["sbatch", "--parsable"]
    # (--export-file carries the jobspec's environment, which the REST job's "environment" holds)
    assert argv[2:].count("--export-file=<fd>") == 1
    from_argv = rest_fields(parse_sbatch_args([a for a in argv[2:] if a != "--export-file=<fd>"]))
    job = rest_job(req, {})
    del job["environment"]
    assert from_argv == job
    assert {name for name, _ in req.pairs()} <= set(REST_FIELDS)
    if counts.gpus_per_task:
        assert job["gpus_per_task"] == "1"  # text, as sbatch's --gpus-per-task=1
    if exclusive:
        assert job["exclusive"] == "exclusive"  # what a bare --exclusive is; true is refused
    assert (job["partition"], job["nice"], job["comment"]) == ("debug", 100, "jobspec-submit-key=run.7")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--comment", "two words"], {"comment": "two words"}),
        (["--comment=a=b"], {"comment": "a=b"}),
        (["-p", "small", "-N2", "-t", "1:30:00"], {"partition": "small", "nodes": 2, "time_limit": "1:30:00"}),
        (
            ["--nodes=2-4", "--mem=4G", "--mem-per-cpu=100"],
            {"nodes": "2-4", "memory_per_node": "4G", "memory_per_cpu": 100},
        ),
        (["--exclusive=user"], {"exclusive": "user"}),
        (["--oversubscribe"], {"exclusive": "oversubscribe"}),
        (["-s"], {"exclusive": "oversubscribe"}),
        (["--exclusive", "--oversubscribe"], {"exclusive": "oversubscribe"}),  # the last one wins, as in sbatch
        (["--hold", "--requeue", "--no-requeue"], {"hold": True, "requeue": True, "no_requeue": True}),
        (["--no-kill"], {"no_kill": "set"}),
        (["-k"], {"no_kill": "set"}),
        (["--no-kill=off"], {"no_kill": "off"}),
        (["--kill-on-invalid-dep=no"], {"kill_on_invalid_dependency": False}),
        (["--get-user-env"], {"get_user_environment": ""}),
        (["--nice=-5"], {"nice": "-5"}),
        (["--hint=nomultithread"], {"cpu_binding_hint": "nomultithread"}),
        (["--signal=USR1@60"], {"signal": "USR1@60"}),
        (["--export=ALL"], {}),
        ([], {}),
    ],
)
def test_passthrough_options_become_rest_fields(args: list[str], expected: dict[str, Any]) -> None:
    assert rest_fields(parse_sbatch_args(args)) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--wrap=hostname"], "--wrap has no field in Slurm's REST API (v0.0.38); use the command line"),
        (["--wait"], "--wait has no field"),
        (["-W"], "-W has no field"),
        (["--part=debug"], "--part has no field"),  # sbatch's abbreviations are not guessed at
        (["--export=NONE"], "--export=NONE: the REST API sends the job's environment whole"),
        (["small"], "'small' is not an option"),
        (["--hold=yes"], "--hold takes no value"),
        (["--comment"], "--comment needs a value"),
        (["-p"], "--partition needs a value"),
    ],
)
def test_options_the_rest_api_cannot_carry_are_refused_not_dropped(args: list[str], message: str) -> None:
    with pytest.raises(RestMappingError) as caught:
        rest_fields(parse_sbatch_args(args))
    assert message in str(caught.value)
    assert message in (rest_pairs_problem(args) or "")


def test_sbatch_directives_are_read_for_the_rest_api_with_sbatch_s_precedence() -> None:
    script = (
        "#!/bin/bash\n"
        "#SBATCH --comment='kept words' --nice=3  # a note\n"
        "#SBATCH -t 60 --qos=low\n"
        "echo hi\n"
        "#SBATCH --comment=ignored-after-the-first-command\n"
    )
    req = request(qos=None, duration=None, after=(), partition=None, account=None, options=("--nice=4",))
    job = rest_job(req, {}, script)
    # the script's lines first, then jobspec's options, then slurm.options
    assert (job["comment"], job["time_limit"], job["qos"], job["nice"]) == ("kept words", 60, "low", 4)
    with_duration = rest_job(request(duration=120), {}, script)
    assert with_duration["time_limit"] == 2  # jobspec's duration beats the #SBATCH line, as with sbatch
    assert "#SBATCH" in (rest_pairs_problem((), "#!/bin/sh\n#SBATCH --wrap=x\n") or "")
    assert rest_pairs_problem((), "#!/bin/sh\n#SBATCH --comment 'unclosed\n") is not None


def test_the_environment_is_what_sbatch_would_export() -> None:
    base = {"PATH": "/bin", "SLURM_JWT": "secret-token", "GREETING": "base", "SLURM_UMASK": "0077"}
    submitter = {"SLURM_SUBMIT_DIR": "/home/u", "SLURM_RLIMIT_CORE": "0", "SLURM_UMASK": "0077"}
    req = request(count_resources(node_graph(0, 3, 2), "s"))
    environment = rest_job(req, base, "", submitter)["environment"]
    assert "SLURM_JWT" not in environment  # the REST API's token never reaches a job
    assert environment["GREETING"] == WEIRD  # the jobspec's variables over this process's
    assert (environment["PATH"], environment["SLURM_SUBMIT_DIR"], environment["SLURM_RLIMIT_CORE"]) == (
        "/bin",
        "/home/u",
        "0",
    )
    assert environment["SLURM_CPUS_PER_TASK"] == "2" and "SLURM_NTASKS_PER_NODE" not in environment


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ("ClusterName=x\n", list(RLIMIT_NAMES)),
        ("PropagateResourceLimits=ALL\n", list(RLIMIT_NAMES)),
        ("PropagateResourceLimits=NONE\n", []),
        ("propagateresourcelimits=core,NOFILE\n", ["CORE", "NOFILE"]),
        ("PropagateResourceLimits_Except=MEMLOCK\n", [n for n in RLIMIT_NAMES if n != "MEMLOCK"]),
        ("#PropagateResourceLimits=NONE\n", list(RLIMIT_NAMES)),
    ],
)
def test_propagated_limits_follow_slurm_conf(conf: str, expected: list[str]) -> None:
    assert propagated_rlimits(conf) == expected


# ---------------------------------------------------------------- slurmrestd's answers


def test_a_submission_s_job_id_and_warnings() -> None:
    assert parse_rest_submit(answer("submitted")) == ("961", [])
    assert parse_rest_submit(answer("held")) == ("962", ["Job is in held state, pending scheduler release"])
    with pytest.raises(SbatchOutputError, match="no job id"):
        parse_rest_submit({"errors": []})


def test_refusals_are_told_in_slurm_s_words() -> None:
    assert rest_failure(500, answer("bad-partition"), URL) == (
        "Slurm refused the job: Invalid partition name specified"
    )
    assert rest_failure(500, answer("too-many-nodes"), URL) == (
        "Slurm refused the job: Node count specification invalid"
    )
    assert rest_failure(400, answer("no-environment"), URL) == (
        "Slurm's REST API could not read the job: environment must be set; Failure during parsing"
    )
    assert rest_failure(400, answer("bad-key"), URL) == (
        'Slurm\'s REST API could not read the job: Unknown key "bogus_key"; Failure during parsing'
    )


def test_token_trouble_is_told_as_such() -> None:
    # slurmrestd's words for a bad or expired token mislead ("Zero Bytes were transmitted or received")
    message = rest_failure(500, answer("bad-token"), URL)
    assert message.startswith(f"Slurm's REST API at {URL} could not use the token (Zero Bytes were transmitted")
    assert "expired, or not for this user" in message and "auth step" in message
    message = rest_failure(401, "Authentication failure", URL)
    assert message == (
        f"Slurm's REST API at {URL} needs a token it accepts (401 Authentication failure): "
        "add an auth step before this step, or export SLURM_JWT"
    )
    assert "has no v0.0.38 (404)" in rest_failure(404, "", URL)
    down = {"errors": [{"error_code": 1007, "error": "Unable to contact slurm controller (connect failure)"}]}
    assert rest_failure(500, down, URL) == (
        "Slurm did not answer: Unable to contact slurm controller (connect failure)"
    )


def test_the_token_is_read_from_scontrol_and_hidden_in_reprs() -> None:
    assert parse_token("SLURM_JWT=eyJ.abc.def\n") == "eyJ.abc.def"
    assert parse_token("") is None and parse_token("SLURM_JWT=\n") is None
    token = Token("root", "eyJ.secret.value", 600, 0.0)
    assert "secret" not in repr(token) and "secret" not in str({"slurm.token": token})


# ---------------------------------------------------------------- choosing the interface


def test_interface_and_address_resolution(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("JOBSPEC_SLURM_INTERFACE", "JOBSPEC_SLURMRESTD_URL", "SLURMRESTD_URL"):
        monkeypatch.delenv(name, raising=False)
    assert resolve_interface({}, SlurmOptions()) == "cli"
    assert resolve_rest_url({}, SlurmOptions()) == DEFAULT_REST_URL == "http://127.0.0.1:6820"
    monkeypatch.setenv("SLURMRESTD_URL", "http://b:1/")
    assert resolve_rest_url({}, SlurmOptions()) == "http://b:1"
    monkeypatch.setenv("JOBSPEC_SLURMRESTD_URL", "http://a:1")
    monkeypatch.setenv("JOBSPEC_SLURM_INTERFACE", "rest")
    assert (resolve_interface({}, SlurmOptions()), resolve_rest_url({}, SlurmOptions())) == ("rest", "http://a:1")
    options = SlurmOptions(interface="cli", rest_url="https://c")
    assert (resolve_interface({}, options), resolve_rest_url({}, options)) == ("cli", "https://c")
    settings = {"slurm.interface": "REST", "slurm.rest_url": "http://d:2"}
    assert (resolve_interface(settings, options), resolve_rest_url(settings, options)) == ("rest", "http://d:2")
    assert url_problem("http://127.0.0.1:6820") is None
    assert "not an http:// or https:// address" in (url_problem("unix:/run/slurmrestd.sock") or "")
    assert url_problem("http://") is not None


def doc(transform: list[dict[str, Any]], script: str = "#!/bin/sh\necho hi\n") -> dict[str, Any]:
    return {
        "version": 1,
        "resources": node_graph(1, 1, 1),
        "task": {
            "slot": "s",
            "count": {"per_slot": 1},
            "transform": transform,
            "scripts": [{"name": "t.sh", "content": script}],
        },
    }


def problems(document: dict[str, Any], transformer: SlurmTransformer | None = None) -> list[str]:
    try:
        plan(document, transformer or SlurmTransformer())
    except JobspecError as e:
        return [p.message for p in e.problems]
    return []


def test_plan_time_checks_of_the_rest_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JOBSPEC_SLURM_INTERFACE", raising=False)
    write = {"step": "write", "filename": "t.sh"}
    batch = {"step": "batch", "filename": "t.sh"}
    rest = {"step": "set", "key": "slurm.interface", "value": "rest"}
    assert problems(doc([rest, {"step": "auth", "lifespan": 60}, write, batch])) == []
    assert problems(doc([{"step": "set", "key": "slurm.interface", "value": "grpc"}, write, batch])) == [
        "slurm.interface is 'grpc': it takes cli or rest"
    ]
    wrap = {"step": "set", "key": "slurm.options", "value": ["--wrap=hostname"]}
    assert problems(doc([wrap, write, batch])) == []  # the command line takes what sbatch takes
    assert problems(doc([rest, wrap, write, batch])) == [
        "slurm.options: --wrap has no field in Slurm's REST API (v0.0.38); use the command line for it "
        "(slurm.interface cli)"
    ]
    directive = "#!/bin/sh\n#SBATCH --wait\necho hi\n"
    assert problems(doc([rest, write, batch], directive)) == [
        "#SBATCH: --wait has no field in Slurm's REST API (v0.0.38); use the command line for it (slurm.interface cli)"
    ]
    address = {"step": "set", "key": "slurm.rest_url", "value": "slurm:6820"}
    assert "is not an http:// or https:// address" in problems(doc([rest, address, write, batch]))[0]
    as_option = SlurmTransformer(interface="rest")
    assert problems(doc([wrap, write, batch]), as_option)[0].startswith("slurm.options: --wrap has no field")


def test_the_auth_step_declares_its_fields() -> None:
    assert problems(doc([{"step": "auth", "lifespan": 0}])) == ["lifespan must be at least 1 second, not 0"]
    assert problems(doc([{"step": "auth", "lifespan": "long"}])) == ["must be a number, not 'long'"]
    assert problems(doc([{"step": "auth", "lifespan": True}])) == ["must be a number, not True"]
    assert problems(doc([{"step": "auth", "token": "x"}]))[0].startswith("step auth takes no field 'token'")
