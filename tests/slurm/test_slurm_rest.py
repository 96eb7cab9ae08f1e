"""The REST interface (slurmrestd) against the real test cluster: the same jobspec gives
the same job as the command line; the auth step's token stays private; faults are
told in one clear line.

Most of test_slurm_cluster.py also runs through the REST API (its `interface` fixture);
this file holds what only the REST API has.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from slurm_support import SHAPES, SUBMIT_AND_WAIT, TASK, WEIRD, graph, jobspec_doc, run_slurm, show, write_doc
from support import jobspec_cli

from jobspec import run
from jobspec.engine.run import Reporter
from jobspec.transformers.slurm import client as slurm_client
from jobspec.transformers.slurm import rest
from jobspec.transformers.slurm.rest_mapping import rest_failure
from jobspec.transformers.slurm.state import Token
from jobspec.transformers.slurm.transformer import SlurmTransformer

pytestmark = [pytest.mark.slurm, pytest.mark.usefixtures("slurm")]

REST = [{"step": "set", "key": "slurm.interface", "value": "rest"}, {"step": "auth"}]
CLI = [{"step": "set", "key": "slurm.interface", "value": "cli"}]
JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")  # what any JWT looks like


def through(interface: str, transform: list[dict[str, Any]], stage: Path) -> list[dict[str, Any]]:
    """``transform`` run through one interface, in its own staging directory."""
    return [*(REST if interface == "rest" else CLI), {"step": "set", "key": "stage", "value": str(stage)}, *transform]


# ---------------------------------------------------------------- the same job either way

# What must match: the allocation, the layout, the limits, where it ran and wrote.
COMPARED = (
    "NumNodes",
    "NumTasks",
    "CPUs/Task",
    "TimeLimit",
    "WorkDir",
    "NtasksPerN:B:S:C",
    "MinCPUsNode",
    "OverSubscribe",
    "Partition",
    "Requeue",
    "Nice",
    "JobState",
    "ExitCode",
    "StdOut",
    "StdErr",
    "Comment",
)
BATCH = (
    "#!/bin/bash\n"
    "#SBATCH --comment=from-the-script\n"
    'echo "$JOBSPEC_NODES nodes, $JOBSPEC_TASKS tasks, $JOBSPEC_CORES_PER_TASK cores, $GREETING|$(pwd)"\n'
    # srun inside the job takes its layout from what sbatch exported (SLURM_CPUS_PER_TASK, ...)
    "srun sh -c 'echo \"task $SLURM_PROCID of $SLURM_NTASKS, $SLURM_CPUS_PER_TASK cpus\"' | sort\n"
    "ulimit -c; umask\n"
)
TABLE: dict[str, tuple[list[dict[str, Any]], dict[str, int] | None, dict[str, Any] | None, str]] = {
    **{name: (*shape, "submit") for name, shape in SHAPES.items()},
    "a batch script holding the allocation": (graph(2, 2, 2), None, {"duration": 61}, "batch"),
    "an exclusive node": (
        [
            {
                "type": "node",
                "count": 1,
                "exclusive": True,
                "with": [{"type": "slot", "label": "s", "count": 2, "with": [{"type": "core", "count": 1}]}],
            }
        ],
        None,
        None,
        "submit",
    ),
}


def one_job(interface: str, tmp_path: Path, case: str) -> tuple[dict[str, str], str]:
    """Run the case through one interface: what scontrol recorded and what the job wrote,
    with the run's own staging directory and job id written as <stage> and <id>."""
    resources, count, system, kind = TABLE[case]
    workdir = tmp_path / "work dir é"
    workdir.mkdir(exist_ok=True)
    if system and system.get("cwd"):
        system = {**system, "cwd": str(workdir)}
    stage = tmp_path / f"stage {interface}"
    if kind == "batch":
        transform = [{"step": "write", "filename": "b.sh"}, {"step": "batch", "filename": "b.sh", "wait": True}]
        scripts = {"b.sh": BATCH}
    else:
        transform, scripts = SUBMIT_AND_WAIT, {"task.sh": TASK}
    doc = jobspec_doc(resources, through(interface, transform, stage), scripts, count, system)
    result, _ = run_slurm(write_doc(tmp_path, doc, f"{interface}.yaml"))
    assert result.ok, result.error
    [job_id] = result.job_ids
    assert ("rest" in result.steps[-1].details) == (interface == "rest")

    def same(text: str) -> str:
        return text.replace(str(stage), "<stage>").replace(job_id, "<id>")

    fields = show(job_id)
    if fields["TimeLimit"] == "365-00:00:00" and fields["Scheduler"] == "Backfill":
        fields["TimeLimit"] = "UNLIMITED"  # how Slurm shows no limit on a job its backfill scheduler started
    recorded = {key: same(fields.get(key, "<absent>")) for key in COMPARED}
    recorded["JobName"] = fields["JobName"].removesuffix(interface)
    output = Path(stage, f"slurm-{job_id}.out").read_text(encoding="utf-8")
    # tasks name their node: which node is the scheduler's choice, how many is the job's
    lines = sorted(re.sub(r"^n\d ", "<node> ", line) for line in output.splitlines())
    return recorded, same("\n".join(lines))


@pytest.mark.parametrize("case", list(TABLE))
def test_rest_and_command_line_give_the_same_job(case: str, tmp_path: Path) -> None:
    cli_fields, cli_output = one_job("cli", tmp_path, case)
    rest_fields, rest_output = one_job("rest", tmp_path, case)
    assert rest_fields == cli_fields
    assert rest_output == cli_output
    assert cli_fields["JobState"] == "COMPLETED" and cli_output


def test_sbatch_lines_reach_slurm_through_rest(tmp_path: Path) -> None:
    """slurmrestd does not read #SBATCH lines: jobspec reads them for it."""
    script = "#!/bin/sh\n#SBATCH --comment='two words' --nice=7\n#SBATCH -t 3\necho hi\n"
    transform = [{"step": "write", "filename": "b.sh"}, {"step": "batch", "filename": "b.sh", "wait": True}]
    result, _ = run_slurm(
        write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), through("rest", transform, tmp_path / "st"), {"b.sh": script}))
    )
    assert result.ok, result.error
    fields = show(result.job_ids[0])
    assert (fields["Comment"], fields["Nice"], fields["TimeLimit"]) == ("two words", "7", "00:03:00")


# ---------------------------------------------------------------- the token


def test_the_token_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    transform = through("rest", SUBMIT_AND_WAIT, tmp_path / "st")
    path = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), transform, {"task.sh": TASK}))

    # from the command line: no JWT in anything it prints, with or without --json
    for args in (["--json"], []):
        done = jobspec_cli("run", "-t", "slurm", *args, str(path))
        assert done.returncode == 0, done.stderr
        assert "token for root, valid 600 s" in done.stdout + done.stderr
        assert not JWT.search(done.stdout + done.stderr)
    dry = jobspec_cli("run", "-t", "slurm", "--dry-run", str(path))
    assert "would obtain a token for Slurm's REST API with `scontrol token lifespan=600`" in dry.stderr
    assert not JWT.search(dry.stdout + dry.stderr)

    # from Python: the very token obtained is in no result, report, log or job environment
    seen: list[Token] = []
    real = slurm_client.obtain_token

    def spy(lifespan: int) -> Token:
        seen.append(real(lifespan))
        return seen[-1]

    monkeypatch.setattr(slurm_client, "obtain_token", spy)
    caplog.set_level(logging.DEBUG)
    steps, output = io.StringIO(), io.StringIO()
    result = run(path, "slurm", reporter=Reporter(stream=steps, output=output, color=False))
    assert result.ok, result.error
    [token] = seen
    assert JWT.fullmatch(token.value.rsplit(".", 1)[0]) and token.user == "root"
    auth = result.steps[1]
    assert (auth.summary, auth.details) == ("token for root, valid 600 s", {"user": "root", "lifespan": 600})
    everything = [result.to_json(), repr(result), steps.getvalue(), output.getvalue(), caplog.text]
    everything.append(Path(result.steps[-1].details["stdout"]).read_text())
    assert not any(token.value in text for text in everything)
    assert not any(token.value[-20:] in text for text in everything)  # not even its signature


def test_rest_without_a_token_says_to_add_an_auth_step(tmp_path: Path) -> None:
    transform = [{"step": "set", "key": "slurm.interface", "value": "rest"}, *SUBMIT_AND_WAIT]
    path = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), transform, {"task.sh": TASK}))
    done = jobspec_cli("run", "-t", "slurm", str(path))
    assert done.returncode == 1
    url = os.environ["JOBSPEC_SLURMRESTD_URL"]
    assert (
        f"step 3 (submit) failed: Slurm's REST API ({url}) needs a token: add an auth step before this step "
        "(- step: auth), or export SLURM_JWT (from `scontrol token`)"
    ) in done.stderr
    assert "steps completed: 1 (set), 2 (write); jobs submitted: none" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_token_slurm_does_not_accept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # (not through SLURM_JWT: Slurm's own commands would then use that token instead of munge, and fail)
    bad = Token("root", "eyJnot.a.token", 600, time.monotonic())
    monkeypatch.setattr(slurm_client, "obtain_token", lambda lifespan: bad)
    path = write_doc(
        tmp_path, jobspec_doc(graph(1, 1, 1), through("rest", SUBMIT_AND_WAIT, tmp_path / "st"), {"task.sh": TASK})
    )
    steps = io.StringIO()
    result = run(path, "slurm", reporter=Reporter(stream=steps, output=steps, color=False))
    url = os.environ["JOBSPEC_SLURMRESTD_URL"]
    assert result.error == (
        f"step 5 (submit) failed: Slurm's REST API at {url} could not use the token (Zero Bytes were transmitted "
        "or received): it is expired, or not for this user; obtain a new one with an auth step"
    )
    assert "eyJnot.a.token" not in result.to_json() + steps.getvalue()


def test_slurmrestd_answers_401_without_a_token(slurm: dict[str, str]) -> None:
    """jobspec never sends a request without a token (it stops first, as above); what
    slurmrestd says then is read as a missing token all the same."""
    url = slurm["JOBSPEC_SLURMRESTD_URL"]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(f"{url}/slurm/v0.0.38/ping", timeout=10)
    with caught.value as answer:
        status, body = answer.code, answer.read().decode()
    assert (status, body) == (401, "Authentication failure")
    assert rest_failure(status, body, url).startswith(
        f"Slurm's REST API at {url} needs a token it accepts (401 Authentication failure): add an auth step"
    )


def test_an_expiring_token_is_renewed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A token within 30 s of its end is replaced (same lifespan) before the next request."""
    calls: list[int] = []
    real = slurm_client.obtain_token

    def counted(lifespan: int) -> Token:
        calls.append(lifespan)
        return real(lifespan)

    monkeypatch.setattr(slurm_client, "obtain_token", counted)
    transform = [
        {"step": "set", "key": "slurm.interface", "value": "rest"},
        {"step": "auth", "lifespan": 30},  # already within the margin: renewed at each use
        {"step": "write", "filename": "task.sh"},
        {"step": "submit", "filename": "task.sh"},
        {"step": "submit", "filename": "task.sh", "wait": True},
    ]
    result, _ = run_slurm(write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"task.sh": TASK})))
    assert result.ok, result.error
    assert calls == [30, 30, 30] and len(result.job_ids) == 2


def test_a_transformer_reuses_its_token_across_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """One Transformer submitting many jobspecs runs `scontrol token` once, not once per run."""
    calls: list[int] = []
    real = slurm_client.obtain_token

    def counted(lifespan: int) -> Token:
        calls.append(lifespan)
        return real(lifespan)

    monkeypatch.setattr(slurm_client, "obtain_token", counted)
    transform = through(
        "rest", [{"step": "write", "filename": "task.sh"}, {"step": "submit", "filename": "task.sh"}], tmp_path / "st"
    )
    path = write_doc(tmp_path, jobspec_doc(graph(0, 1, 1), transform, {"task.sh": TASK}))
    transformer = SlurmTransformer()
    quiet = Reporter(stream=io.StringIO(), output=io.StringIO(), color=False)
    first, second = run(path, transformer, reporter=quiet), run(path, transformer, reporter=quiet)
    assert first.ok and second.ok, (first.error, second.error)
    assert calls == [600]
    assert first.steps[1].summary == "token for root, valid 600 s"
    assert re.fullmatch(
        r"token for root, valid 5\d\d s \(obtained earlier by this transformer\)", second.steps[1].summary
    )
    assert second.steps[1].details["reused"] is True
    assert "eyJ" not in repr(transformer.tokens) + repr(vars(transformer))  # kept, never shown


def test_auth_is_harmless_with_the_command_line(
    tmp_path: Path, slurm: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    transform = [{"step": "auth", "lifespan": 60}, *SUBMIT_AND_WAIT]
    path = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), transform, {"task.sh": TASK}))
    result, _ = run_slurm(path)
    assert result.ok and result.steps[0].summary == "token for root, valid 60 s"
    assert "sbatch" in result.steps[2].details  # the command line, with its own munge authentication

    # a cluster that gives no token (here: Slurm gone after the run began) fails nothing on the command line
    transformer = SlurmTransformer()
    transformer.ensure_ready()
    conf = Path(slurm["SLURM_CONF"]).read_text()
    dead = re.sub(r"SlurmctldPort=\d+", "SlurmctldPort=16999", conf)  # (any cluster: JOBSPEC_SLURM_PORT_OFFSET)
    assert dead != conf
    (tmp_path / "dead.conf").write_text(dead)
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "dead.conf"))
    auth_only = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), [{"step": "auth"}], {}), "auth.yaml")
    result = run(auth_only, transformer, reporter=Reporter(stream=io.StringIO(), output=io.StringIO()))
    assert result.ok, result.error
    assert result.steps[0].summary.startswith("no token (Slurm did not answer: ")
    assert result.steps[0].summary.endswith("; the command line needs none")
    rest_auth = write_doc(tmp_path, jobspec_doc(graph(1, 1, 1), REST, {}), "rest-auth.yaml")
    result = run(rest_auth, transformer, reporter=Reporter(stream=io.StringIO(), output=io.StringIO()))
    assert result.error is not None and result.error.startswith("step 2 (auth) failed: Slurm did not answer: ")


# ---------------------------------------------------------------- faults


def test_a_refused_job_shows_slurm_s_own_message(tmp_path: Path) -> None:
    transform = [
        {"step": "write", "filename": "task.sh"},
        {"step": "submit", "filename": "task.sh"},
        {"step": "set", "key": "slurm.partition", "value": "nope"},
        {"step": "submit", "filename": "task.sh"},
    ]
    path = write_doc(
        tmp_path, jobspec_doc(graph(1, 1, 1), through("rest", transform, tmp_path / "st"), {"task.sh": TASK})
    )
    done = jobspec_cli("run", "-t", "slurm", str(path))
    assert done.returncode == 1
    assert "step 7 (submit) failed: Slurm refused the job: Invalid partition name specified" in done.stderr
    first = done.stdout.split("=> step submit ")[1].split()[0]
    assert f"steps completed: 1 (set), 2 (auth), 3 (set), 4 (write), 5 (submit), 6 (set); jobs submitted: {first}" in (
        done.stderr
    )
    too_big = write_doc(
        tmp_path, jobspec_doc(graph(5, 1, 1), through("rest", SUBMIT_AND_WAIT, tmp_path / "st"), {"task.sh": TASK})
    )
    done = jobspec_cli("run", "-t", "slurm", str(too_big))
    assert done.returncode == 1 and "Slurm refused the job: Node count specification invalid" in done.stderr


def test_an_option_slurm_cannot_read_is_named(tmp_path: Path) -> None:
    transform = [{"step": "set", "key": "slurm.options", "value": ["--gres=fpga:1"]}, *SUBMIT_AND_WAIT]
    path = write_doc(
        tmp_path, jobspec_doc(graph(1, 1, 1), through("rest", transform, tmp_path / "st"), {"task.sh": TASK})
    )
    result, _ = run_slurm(path)
    # slurmrestd says only "Failure during parsing" (its log has "Invalid generic resource"): still one line
    assert result.error == "step 6 (submit) failed: Slurm's REST API could not read the job: Failure during parsing"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_rest_api_down_is_one_clear_line(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    transform = [{"step": "set", "key": "slurm.rest_url", "value": url}, *SUBMIT_AND_WAIT]
    path = write_doc(
        tmp_path, jobspec_doc(graph(1, 1, 1), through("rest", transform, tmp_path / "st"), {"task.sh": TASK})
    )
    # an address the document names is used only where the user allows it
    done = jobspec_cli("run", "-t", "slurm", "--json", str(path), env={"JOBSPEC_SLURM_REST_URLS": f"http://x {url}"})
    assert done.returncode == 1
    result = json.loads(done.stdout)
    assert result["error"] == f"step 6 (submit) failed: Slurm's REST API did not answer at {url}: connection refused"
    assert [s["status"] for s in result["steps"]] == ["ok", "ok", "ok", "ok", "ok", "failed"]
    assert result["job_ids"] == []
    assert "Traceback" not in done.stderr
    with pytest.raises(rest.RestError, match=r"did not answer at http://no-such-host\.invalid:6820: unknown host"):
        rest.call("http://no-such-host.invalid:6820", "/", user="root", token="x", timeout=5)


def test_dry_run_shows_the_rest_job(tmp_path: Path) -> None:
    system = {"duration": 60, "environment": {"GREETING": WEIRD}}
    doc = jobspec_doc(
        graph(2, 1, 2), through("rest", SUBMIT_AND_WAIT, tmp_path / "st"), {"task.sh": TASK}, None, system
    )
    done = jobspec_cli("run", "-t", "slurm", "--dry-run", str(write_doc(tmp_path, doc)))
    assert done.returncode == 0, done.stderr
    assert "/slurm/v0.0.38/job/submit the job {" in done.stderr
    assert '"nodes": 2, "tasks": 2, "tasks_per_node": 1, "cpus_per_task": 2, "time_limit": 1}' in done.stderr
    assert '  "nodes": 2,\n  "tasks": 2,\n' in done.stdout  # the job as it would be posted, on stdout
    # the environment is not printed (it is this process's, and the jobspec's)
    assert "echo pwned" not in done.stdout + done.stderr
    assert not JWT.search(done.stdout + done.stderr)
