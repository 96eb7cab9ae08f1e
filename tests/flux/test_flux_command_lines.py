"""The flux command lines (`command_lines`): only options flux-core documents, with values it accepts, and
the by-hand ``flux submit`` / ``flux batch`` asking for the same job as our jobspec.

The option tables below are transcribed from flux-core's manual pages
(doc/man1/flux-submit.rst, flux-batch.rst and the common/*.rst they include:
job-param-common, job-param-pertask, job-param-perres, job-param-batch,
job-param-additional, job-standard-io, job-dependencies, job-environment,
job-other-options, job-other-run; flux-job.rst; flux-archive.rst;
flux-filemap.rst; flux-exec.rst). `flux_submit_jobspec` follows flux-core's
own code (flux/cli/base.py jobspec_create and flux/job/Jobspec.py from_command /
from_batch_command) to turn a parsed command line into the jobspec Flux would get.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import string
import subprocess
from pathlib import Path
from typing import Any

import pytest
from flux_support import PARENT_ID, STAGE, document, errors, example_jobspecs, jobs_of, node, slot, spec25_flux

from jobspec import load
from jobspec.transformers.flux import command_lines, jobids
from jobspec.transformers.flux.jobspec_v1 import TASK_SHELL, FluxJob, batch_job, submit_job, to_jobspec

BASE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/home/u", "PRICE": "$5"}

# ---------------------------------------------------------------- documented options


def _documented_parser(prog: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=f"flux {prog}", add_help=False, exit_on_error=False, allow_abbrev=False)
    if prog == "submit":
        # job-param-common, job-param-pertask, job-param-perres
        p.add_argument("-N", "--nodes")
        p.add_argument("-x", "--exclusive", action="store_true")
        p.add_argument("-n", "--ntasks")
        p.add_argument("-c", "--cores-per-task")
        p.add_argument("-g", "--gpus-per-task")
        p.add_argument("--cores")
        p.add_argument("--tasks-per-node")
        p.add_argument("--tasks-per-core")
        p.add_argument("--gpus-per-node")
        # job-other-run
        for opt in ("--taskmap", "--cc", "--bcc", "--log", "--log-stderr", "--wait-event"):
            p.add_argument(opt)
        for flag in ("--quiet", "--wait", "--watch", "--progress", "--jps"):
            p.add_argument(flag, action="store_true")
    else:
        # job-param-batch and job-other-batch (the parts used here)
        p.add_argument("-n", "--nslots")
        p.add_argument("-c", "--cores-per-slot")
        p.add_argument("-g", "--gpus-per-slot")
        p.add_argument("-N", "--nodes")
        p.add_argument("--exclusive", action="store_true")
        p.add_argument("--wrap", action="store_true")
    # job-param-additional
    p.add_argument("-q", "--queue")
    p.add_argument("-t", "--time-limit")
    p.add_argument("--job-name")
    p.add_argument("--flags", action="append")
    # job-standard-io
    p.add_argument("--input")
    p.add_argument("--output")
    p.add_argument("--error")
    p.add_argument("-u", "--unbuffered", action="store_true")
    p.add_argument("-l", "--label-io", action="store_true")
    # job-constraints, job-dependencies, job-environment, rlimits
    p.add_argument("--requires", action="append")
    p.add_argument("--dependency", action="append")
    p.add_argument("--env", action="append")
    p.add_argument("--env-remove", action="append")
    p.add_argument("--env-file", action="append")
    p.add_argument("--rlimit", action="append")
    # job-other-options
    p.add_argument("--cwd")
    p.add_argument("--urgency")
    p.add_argument("-v", "--verbose", action="count")
    p.add_argument("-o", "--setopt", action="append")
    p.add_argument("-S", "--setattr", action="append")
    p.add_argument("--add-file", action="append")
    p.add_argument("--begin-time")
    p.add_argument("--signal")
    p.add_argument("--dry-run", action="store_true")
    p.add_argument("--debug", action="store_true")
    p.add_argument("command", nargs=argparse.REMAINDER)
    return p


DEPENDENCY_SCHEMES = ("after", "afterany", "afterok", "afternotok", "afterexcept", "singleton", "begin-time")
MUSTACHE = re.compile(r"\{\{([^}]*)\}\}")
OUTPUT_TAGS = {"id", "jobid", "id.dec", "id.f58", "id.hex", "id.dothex", "id.words", "jobid.dec", "name"}
FSD = re.compile(r"^\d+(\.\d+)?[smhd]?$")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def parse_documented(argv: list[str]) -> argparse.Namespace:
    """Parse a flux submit/batch argv with the documented options only, and check
    each value is one the manual pages accept."""
    assert argv[0] == "flux" and argv[1] in ("submit", "batch")
    try:
        args = _documented_parser(argv[1]).parse_args(argv[2:])
    except (argparse.ArgumentError, SystemExit) as e:  # pragma: no cover - shows which option
        raise AssertionError(f"undocumented option or bad use in {argv}: {e}") from None
    for name in ("nodes", "ntasks", "cores_per_task", "gpus_per_task", "nslots", "cores_per_slot", "gpus_per_slot"):
        value = getattr(args, name, None)
        if value is not None:
            assert value.isdigit() and int(value) >= 1, (name, value)
    if args.time_limit is not None:
        assert FSD.match(args.time_limit), args.time_limit
    if args.exclusive:
        assert args.nodes, "--exclusive needs --nodes (job-param-common)"
    for rule in args.env or []:
        name, sep, value = rule.partition("=")
        assert sep and ENV_NAME.match(name), rule
        string.Template(value).substitute({})  # flux expands $VAR: every $ must be escaped as $$
    for uri in args.dependency or []:
        scheme, _, value = uri.partition(":")
        assert scheme in DEPENDENCY_SCHEMES and value, uri
    for template in (args.output, args.error):
        if template is not None and template not in ("kvs", "none"):
            assert set(MUSTACHE.findall(template)) <= OUTPUT_TAGS, template
    if args.cwd is not None:
        assert os.path.isabs(args.cwd)
    for keyval in args.setattr or []:
        key, sep, _ = keyval.partition("=")
        assert sep and key.startswith(("system.", "user.", ".")), keyval
    assert args.command, "a command (submit) or a script (batch)"
    assert not args.command[0].startswith("-")
    return args


# ---------------------------------------------------------------- flux-core's reading of them


def _fsd_seconds(text: str) -> float:
    """flux-core: a bare number is minutes; else FSD."""
    try:
        return float(text) * 60
    except ValueError:
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        return float(text[:-1]) * units[text[-1]]


def _from_command(ntasks: int, cores: int, gpus: int | None, nodes: int | None, exclusive: bool) -> dict[str, Any]:
    children: list[dict[str, Any]] = [{"type": "core", "count": cores}]
    if gpus:
        children.append({"type": "gpu", "count": gpus})
    if nodes is not None:
        slot_ = {"type": "slot", "count": math.ceil(ntasks / nodes), "with": children, "label": "task"}
        root: dict[str, Any] = {"type": "node", "count": nodes, "with": [slot_]}
        if exclusive:
            root["exclusive"] = True
        count = {"per_slot": 1} if ntasks % nodes == 0 else {"total": ntasks}
        return {"resources": [root], "count": count}
    return {
        "resources": [{"type": "slot", "count": ntasks, "with": children, "label": "task"}],
        "count": {"per_slot": 1},
    }


def flux_submit_jobspec(argv: list[str], base_env: dict[str, str], script_text: str | None = None) -> dict[str, Any]:
    """The jobspec flux submit / flux batch makes of ``argv`` (flux-core's logic)."""
    args = parse_documented(argv)
    nodes = int(args.nodes) if args.nodes else None
    if argv[1] == "submit":
        ntasks = int(args.ntasks) if args.ntasks else (nodes or 1)
        exclusive = args.exclusive or (not args.ntasks and nodes is not None)
        built = _from_command(
            ntasks,
            int(args.cores_per_task or 1),
            int(args.gpus_per_task) if args.gpus_per_task else None,
            nodes,
            exclusive,
        )
        command = list(args.command)
        shell_options: dict[str, Any] = {}
    else:
        nslots = int(args.nslots) if args.nslots else nodes
        assert nslots, "flux batch: Number of slots to allocate must be specified"
        exclusive = args.exclusive or (not args.nslots and nodes is not None)
        built = _from_command(
            nslots,
            int(args.cores_per_slot or 1),
            int(args.gpus_per_slot) if args.gpus_per_slot else None,
            nodes,
            exclusive,
        )
        command = ["flux", "broker", "{{tmpdir}}/script", *args.command[1:]]
        shell_options = {"per-resource": {"type": "node"}, "mpi": "none", "exit-timeout": "none", "pmi": "simple"}
    env = dict(base_env)
    env_expand: dict[str, str] = {}
    for rule in args.env or []:
        name, _, value = rule.partition("=")
        if "{{" in value:  # flux/job/_utils.py get_filtered_environment: the job shell renders it
            env_expand[name] = value
            continue
        env[name] = string.Template(value).substitute({**os.environ, **env})
    if env_expand:
        shell_options["env-expand"] = env_expand
    system: dict[str, Any] = {
        "duration": _fsd_seconds(args.time_limit) if args.time_limit else 0,
        "environment": env,
        "cwd": args.cwd,
    }
    if args.dependency:
        system["dependencies"] = [dict(zip(("scheme", "value"), d.split(":", 1), strict=True)) for d in args.dependency]
    if args.job_name:
        system["job"] = {"name": args.job_name}
    output: dict[str, Any] = {}
    stdout = args.output if args.output is not None else ("flux-{{id}}.out" if argv[1] == "batch" else None)
    if stdout not in (None, "kvs", "none"):
        output["stdout"] = {"type": "file", "path": stdout}
    if args.error is not None:
        output["stderr"] = {"type": "file", "path": args.error}
    if output:
        shell_options["output"] = output
    if shell_options:
        system["shell"] = {"options": shell_options}
    if argv[1] == "batch":
        assert script_text is not None and script_text.startswith("#!")
        system["files"] = {"script": {"mode": 0o100700, "data": script_text, "encoding": "utf-8"}}
    spec: dict[str, Any] = {
        "resources": built["resources"],
        "tasks": [{"command": command, "slot": "task", "count": built["count"]}],
        "attributes": {"system": system},
        "version": 1,
    }
    import json

    for keyval in args.setattr or []:
        key, _, raw = keyval.partition("=")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        parts = key.lstrip(".").split(".")
        target = spec["attributes"]
        for part in parts[:-1]:
            target = target.setdefault(part, {})
        target[parts[-1]] = value
    return spec


def _relabel(value: Any, label: str) -> Any:
    if isinstance(value, dict):
        out = {k: _relabel(v, label) for k, v in value.items()}
        if out.get("type") == "slot":
            out["label"] = label
        return out
    if isinstance(value, list):
        return [_relabel(v, label) for v in value]
    return value


def assert_same_job(job: FluxJob) -> None:
    ours = to_jobspec(job, BASE_ENV)
    theirs = flux_submit_jobspec(command_lines.by_hand(job), BASE_ENV, job.script)
    ours = _relabel(ours, "task")
    ours["tasks"][0]["slot"] = "task"
    assert theirs == ours


# ---------------------------------------------------------------- tests


@pytest.mark.parametrize("path", example_jobspecs(), ids=lambda p: Path(p).name)
def test_every_example_by_hand_uses_documented_options_and_is_the_same_job(path: Path) -> None:
    js = load(path)
    for _, _, job in jobs_of(js):
        assert command_lines.same_job(job)
        assert_same_job(job)


SAME = {
    "node>slot>core": ([node(4, slot(1, 4))], None),
    "two slots a node": ([node(2, slot(2, 1))], None),
    "slot>core": ([slot(3, 2)], None),
    "gpus": ([node(2, slot(2, 2, gpus=1))], None),
    "slot gpus": ([slot(2, 4, gpus=2)], None),
    "total spread unevenly": ([node(2, slot(2, 4))], {"total": 3}),
    "exclusive node": ([node(2, slot(1, 2), exclusive=True)], None),
}
NOT_SAME = {
    "per_slot 2": ([node(2, slot(2, 4))], {"per_slot": 2}),
    "total below slots, no node": ([slot(4, 1)], {"total": 2}),
    "exclusive slot": ([slot(2, 2, exclusive=True)], None),
}
ATTRS = {
    "system": {
        "duration": 90.5,
        "cwd": "/scratch/x",
        "environment": {"COST": "$5 and ${HOME}", "EMPTY": "", "SPACES": "a b"},
        "queue": "debug",
        "shell": {"options": {"cpu-affinity": "per-task"}},
    },
    "user": {"project": "p1", "tags": ["a", "b"]},
}


@pytest.mark.parametrize("name", SAME)
@pytest.mark.parametrize("kind", ["submit", "batch"])
@pytest.mark.parametrize("watch", [False, True])
@pytest.mark.parametrize("attrs", [False, True])
def test_by_hand_is_the_same_job(name: str, kind: str, watch: bool, attrs: bool) -> None:
    resources, count = SAME[name]
    js = document(resources, count, ATTRS if attrs else None)
    if kind == "submit":
        job = submit_job(
            js, ["/bin/bash", f"{STAGE}/job.sh"], stage=STAGE, filename="job.sh", watch=watch, after=(PARENT_ID,)
        )
    else:
        job = batch_job(js, "#!/bin/bash\necho hi\n", stage=STAGE, filename="job.sh", watch=watch, after=(PARENT_ID,))
    assert command_lines.same_job(job)
    assert_same_job(job)


@pytest.mark.parametrize("name", NOT_SAME)
def test_when_flux_submit_cannot_say_the_graph_it_says_so(name: str) -> None:
    resources, count = NOT_SAME[name]
    js = document(resources, count)
    job = submit_job(js, ["/bin/true"], stage=STAGE)
    assert not command_lines.same_job(job)
    theirs = flux_submit_jobspec(command_lines.by_hand(job), BASE_ENV)
    assert errors(spec25_flux(), theirs) == []
    ours = to_jobspec(job, BASE_ENV)
    # still the same number of tasks and no fewer cores: the closest flux submit can say
    from flux_support import flux_counts

    assert flux_counts(theirs)["tasks"] == flux_counts(ours)["tasks"]
    assert flux_counts(theirs)["cores"] <= flux_counts(ours)["cores"]


def test_batch_without_shebang_is_not_quite_the_same_by_hand() -> None:
    job = batch_job(document([slot(1, 1)]), "echo hi\n", stage=STAGE, filename="b.sh")
    assert not command_lines.same_job(job)
    parse_documented(command_lines.by_hand(job))


def test_resources_of_submit_is_flux_cores_from_command() -> None:
    for ntasks, cores, gpus, nodes, exclusive in [
        (4, 4, None, 4, False),
        (3, 1, 2, 2, True),
        (5, 2, None, None, False),
    ]:
        built, count = command_lines.resources_of_submit(ntasks, cores, gpus, nodes, exclusive)
        assert {"resources": built, "count": count} == _from_command(ntasks, cores, gpus, nodes, exclusive)


def test_env_values_are_escaped_for_flux_template_expansion() -> None:
    assert command_lines.env_option("A", "$HOME/x") == "--env=A=$$HOME/x"
    value = "cost $5, ${X} and $$"
    escaped = command_lines.env_option("A", value).split("=", 2)[2]
    assert string.Template(escaped).substitute({}) == value


def test_durations_are_flux_standard_durations() -> None:
    assert command_lines.fsd(60) == "60s"
    assert command_lines.fsd(90.0) == "90s"
    assert command_lines.fsd(1.5) == "1.5s"
    assert command_lines.fsd(0.001) == "0.001s"
    for seconds in (1, 59.25, 3600, 86400 * 7, 1e-3):
        assert _fsd_seconds(command_lines.fsd(seconds)) == pytest.approx(seconds)
        assert FSD.match(command_lines.fsd(seconds))


# ---------------------------------------------------------------- plumbing commands

# flux-job(1) subcommands and their documented options (src/cmd/job/*.c option tables)
JOB_SUBCOMMANDS: dict[str, set[str]] = {
    "submit": {"--urgency", "--flags"},
    "attach": {"--read-only", "--label-io", "--unbuffered", "--show-events", "--wait-event"},
    "eventlog": {"--format", "--time-format", "--path"},
    "wait-event": {"--format", "--timeout", "--quiet", "--verbose", "--path", "--waitcreate", "--count"},
    "info": set(),
}
OTHER: dict[tuple[str, ...], set[str]] = {
    ("cancel",): {"--message", "--user", "--states", "--quiet", "--dry-run", "--all"},
    ("getattr",): set(),
    ("jobs",): {"-a", "--no-header", "--count", "--sort", "--format"},
    ("archive", "create"): {"--name", "--directory", "--overwrite", "--append", "--preserve", "--verbose"},
    ("archive", "extract"): {"--name", "--directory", "--overwrite", "--waitcreate", "--verbose", "--list-only"},
    ("archive", "remove"): {"--name", "--force"},
    ("filemap", "map"): {"--tags", "--directory", "--verbose"},
    ("filemap", "get"): {"--tags", "--directory", "--verbose"},
    ("filemap", "unmap"): {"--tags"},
    ("exec",): {"--rank", "--exclude", "--noinput", "--label-io", "--dir", "--verbose"},
}


def _options(argv: list[str]) -> set[str]:
    """The options of ``argv``; after ``--`` (getopt's end of options) come operands only."""
    end = argv.index("--") if "--" in argv else len(argv)
    return {a.split("=", 1)[0] for a in argv[:end] if a.startswith("-")}


def _check_plumbing(argv: list[str]) -> None:
    assert argv[0] == "flux"
    if argv[1] == "job":
        allowed = JOB_SUBCOMMANDS[argv[2]]
        assert _options(argv[3:]) <= allowed, argv
        return
    for key, allowed in OTHER.items():
        if tuple(argv[1 : 1 + len(key)]) == key:
            rest = argv[1 + len(key) :]
            if key == ("exec",):
                cut = next(i for i, a in enumerate(rest) if not a.startswith("-"))
                assert _options(rest[:cut]) <= allowed, argv
                inner = rest[cut:]
                assert inner[:2] == ["/bin/sh", "-c"]
                _check_plumbing(inner[6:])  # the command after the stage shell and its 3 arguments
            else:
                assert _options(rest) <= allowed, argv
            return
    raise AssertionError(f"not a command these tests know: {argv}")


def test_plumbing_uses_documented_subcommands_and_options() -> None:
    job_id = str(jobids.decode(PARENT_ID))
    for argv in (
        command_lines.job_submit(),
        command_lines.attach(job_id),
        command_lines.eventlog(job_id),
        command_lines.wait_event(job_id),
        command_lines.wait_event(job_id, "clean", 2.5),
        command_lines.events_until(job_id, "clean", 2.5),
        command_lines.cancel(job_id),
        command_lines.getattr_("rank"),
        command_lines.user_jobs(),
        command_lines.job_info(job_id),
        command_lines.archive_create("n", STAGE, ["a", "b"]),
        command_lines.archive_extract_elsewhere("n", STAGE, ".m", 0),
        command_lines.archive_remove("n"),
        command_lines.filemap_map("n", STAGE, ["a"]),
        command_lines.filemap_get_elsewhere("n", STAGE, ".m", 3),
        command_lines.filemap_unmap("n"),
    ):
        _check_plumbing(argv)
    assert command_lines.wait_event(job_id, "clean", 2.5)[-3] == "--timeout=2.5s"
    assert "--exclude=3" in command_lines.filemap_get_elsewhere("n", STAGE, ".m", 3)


# ---------------------------------------------------------------- the two shell one-liners, run for real


def test_task_shell_gives_each_task_the_jobspec_variables(tmp_path: Path) -> None:
    """The wrapper every Flux task runs: FLUX_* in, JOBSPEC_* out, the command exec'd
    with its arguments untouched (quotes, spaces, empty ones)."""
    env = {"PATH": os.environ["PATH"], "FLUX_TASK_RANK": "3", "FLUX_JOB_SIZE": "8", "FLUX_JOB_ID": "ƒ2oLkTLb"}
    script = 'printf "%s|" "$JOBSPEC_TASK_RANK" "$JOBSPEC_TASK_COUNT" "$JOBSPEC_JOB_ID" "$@"'
    argv = ["/bin/sh", "-c", TASK_SHELL, "jobspec-task", "/bin/sh", "-c", script, "x", "a b", "", "$HOME"]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    assert done.stdout == "3|8|ƒ2oLkTLb|a b||$HOME|"


def test_stage_shell_skips_ranks_that_already_see_the_stage(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    witness = tmp_path / "ran"
    run_it = ["/bin/sh", "-c", f"touch {witness}"]
    argv = ["/bin/sh", "-c", command_lines.STAGE_SHELL, "jobspec-stage", str(stage), ".marker", *run_it]
    subprocess.run(argv, check=True)  # no stage here: made, and the command runs
    assert stage.is_dir() and witness.exists()
    witness.unlink()
    (stage / ".marker").touch()  # this rank sees our stage (shared file system): nothing to do
    subprocess.run(argv, check=True)
    assert not witness.exists()
