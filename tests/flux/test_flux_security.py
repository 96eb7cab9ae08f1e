"""Issue 15, item 6: Flux takes names and templates as syntax.

- Staging: the stage's entries go to ``flux archive create`` (or ``flux filemap map``)
  after ``--``; flux-core reads its options with glibc's getopt in POSIX order
  (src/common/liboptparse/optparse.c, getopt.c), which Python's `getopt.getopt`
  follows too, so it is the oracle here. The archive is removed whatever happens.
- Templates: flux-core's job shell renders ``{{...}}`` in command arguments
  (src/shell/shell.c frob_command), output paths (src/shell/output/*.c) and
  ``env-expand`` values, with no escape (src/shell/mustache.c). The user's values
  must reach the job as written; jobspec's own ``{{id.dec}}`` in output names stays.
"""

from __future__ import annotations

import getopt
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from flux_support import STAGE, FakeFlux, document, errors, slot, spec25_flux
from support import make_jobspec
from test_flux_command_lines import assert_same_job

from jobspec import check, run
from jobspec.engine.run import Reporter
from jobspec.transformers.flux import command_lines, templates
from jobspec.transformers.flux.jobspec_v1 import TASK_WRAPPER, submit_job, to_jobspec
from jobspec.transformers.flux.transformer import FluxTransformer

TRICKY_NAMES = ["--name=hijacked", "-C..", "-", "--", "-v", "plain"]

# flux archive create's option table (src/cmd/builtin/archive.c create_opts), for getopt
CREATE_SHORT = "n:C:v"
CREATE_LONG = ["name=", "directory=", "verbose", "overwrite", "append", "preserve", "mmap", "tags=", "no-force-primary"]


def quiet_run(path: Path | str) -> tuple[object, str]:
    out = io.StringIO()
    result = run(path, FluxTransformer(), reporter=Reporter(stream=io.StringIO(), output=out, color=False))
    return result, out.getvalue()


# ---------------------------------------------------------------- staging: names are operands


@pytest.mark.parametrize("make", [command_lines.archive_create, command_lines.filemap_map])
def test_stage_entries_are_never_read_as_archive_options(make: object) -> None:
    argv = make("jobspec-abc", STAGE, TRICKY_NAMES)  # type: ignore[operator]
    options, operands = getopt.getopt(argv[3:], CREATE_SHORT, CREATE_LONG)
    assert operands == TRICKY_NAMES
    assert dict(options) == (
        {"--name": "jobspec-abc", "--directory": STAGE}
        if argv[2] == "create"
        else {"--tags": "jobspec-abc", "--directory": STAGE}
    )


STAGE_JOBSPEC = """\
version: 1
resources:
- type: slot
  label: default
  count: 1
  with:
  - type: core
    count: 1
task:
  slot: default
  count: {{per_slot: 1}}
  transform:
  - {{step: set, key: stage, value: "{stage}"}}
  - {{step: set, key: sharedfs, value: false}}
  - {{step: write, filename: "--name=hijacked"}}
  - {{step: write, filename: "-C.."}}
  - {{step: stage}}
  scripts:
  - name: "--name=hijacked"
    content: "one"
  - name: "-C.."
    content: "two"
"""


def test_fake_flux_stage_archives_exactly_the_stage_whatever_its_names(
    fake_flux: FakeFlux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = tmp_path / "stage"
    (tmp_path / "outside.txt").write_text("not the stage's")
    monkeypatch.setenv("FAKE_FLUX_SEPARATE_NODES", "1")
    monkeypatch.setenv("FAKE_FLUX_STAGE_ROOT", str(stage))
    monkeypatch.chdir(tmp_path / "..")
    result, _ = quiet_run(make_jobspec(tmp_path, STAGE_JOBSPEC.format(stage=stage)))
    assert result.ok, result.error  # type: ignore[attr-defined]
    staged = next(s for s in result.steps if s.step == "stage")  # type: ignore[attr-defined]
    assert {"--name=hijacked", "-C.."} <= set(staged.details["entries"])
    for rank in (1, 2, 3):
        copy = Path(f"{fake_flux.state}/rank{rank}{stage}")
        assert sorted(os.listdir(copy)) == sorted(staged.details["entries"])
        assert (copy / "--name=hijacked").read_text() == "one"
        assert (copy / "-C..").read_text() == "two"
    archives = fake_flux.state / "archives"
    assert not archives.exists() or list(archives.iterdir()) == []  # ours removed, no "hijacked" one


def test_fake_flux_archive_is_removed_when_creating_it_fails(
    fake_flux: FakeFlux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stage = tmp_path / "stage"
    monkeypatch.setenv("FAKE_FLUX_ARCHIVE_FAIL", "1")
    result, _ = quiet_run(make_jobspec(tmp_path, STAGE_JOBSPEC.format(stage=stage)))
    assert not result.ok  # type: ignore[attr-defined]
    assert "cannot archive" in result.error and "kvs commit" in result.error  # type: ignore[attr-defined]
    created = [c for c in fake_flux.calls() if c[:2] == ["archive", "create"]]
    name = created[0][2].removeprefix("--name=")
    assert ["archive", "remove", f"--name={name}", "--force"] in fake_flux.calls()
    assert list((fake_flux.state / "archives").iterdir()) == []
    assert not list(stage.glob(".jobspec-stage-jobspec-*"))  # the marker too


# ---------------------------------------------------------------- templates: the shell's, not the user's


def render_all(text: str) -> str:
    """Flux's shell rendering (mustache.c) with every tag known: what a value may become."""
    out, pos = "", 0
    while (start := text.find("{{", pos)) >= 0 and (end := text.find("}}", start + 2)) >= 0:
        out += text[pos:start] + "<rendered>"
        pos = end + 2
    return out + text[pos:]


USER_ARGS = ["{{id}}", "{{tmpdir}}/x", "a{}b", "{{{", "}}", "{}}{{}", "", "$HOME {{name}}"]


def test_command_templates_reach_the_task_as_written(tmp_path: Path) -> None:
    js = document([slot(1, 1)])
    command = ["/bin/sh", "-c", 'printf "%s|" "$@"', "x", *USER_ARGS]
    spec = to_jobspec(submit_job(js, command, stage=STAGE), {})
    assert errors(spec25_flux(), spec) == []
    submitted = spec["tasks"][0]["command"]
    assert not any("{{" in arg for arg in submitted)  # nothing for the shell to render
    rendered = [render_all(a) for a in submitted]
    env = {"PATH": os.environ["PATH"], "FLUX_TASK_RANK": "0", "FLUX_JOB_SIZE": "1", "FLUX_JOB_ID": "ƒ1"}
    done = subprocess.run(rendered, env=env, capture_output=True, text=True, check=True)
    assert done.stdout == "".join(f"{a}|" for a in USER_ARGS)


def test_commands_without_templates_are_submitted_unchanged() -> None:
    spec = to_jobspec(submit_job(document([slot(1, 1)]), ["/bin/echo", "{x}", "}}"], stage=STAGE), {})
    assert spec["tasks"][0]["command"] == [*TASK_WRAPPER, "/bin/echo", "{x}", "}}"]


def test_a_templated_stage_reaches_the_task_literally_when_watched() -> None:
    stage = "/tmp/st{{id}}"
    job = submit_job(document([slot(1, 1)]), [f"{stage}/job.sh"], stage=stage, watch=True)
    spec = to_jobspec(job, {})
    system = spec["attributes"]["system"]
    assert not any("{{" in arg for arg in spec["tasks"][0]["command"])
    assert templates.restore(spec["tasks"][0]["command"][-1]) == f"{stage}/job.sh"
    assert system["cwd"] == stage and system["environment"]["JOBSPEC_STAGE"] == stage  # not rendered by Flux
    assert "output" not in (system.get("shell") or {}).get("options", {})


def test_our_own_output_template_is_kept() -> None:
    spec = to_jobspec(submit_job(document([slot(1, 1)]), ["/bin/true"], stage=STAGE), {})
    output = spec["attributes"]["system"]["shell"]["options"]["output"]
    assert output["stdout"]["path"] == f"{STAGE}/flux-{{{{id.dec}}}}.out"
    assert output["stderr"]["path"] == f"{STAGE}/flux-{{{{id.dec}}}}.err"


def test_environment_templates_stay_literal_in_the_jobspec_and_by_hand() -> None:
    js = document([slot(1, 1)], attributes={"system": {"environment": {"TAG": "{{id}} in {{tmpdir}}", "P": "$5"}}})
    job = submit_job(js, ["/bin/true"], stage=STAGE)
    system = to_jobspec(job, {})["attributes"]["system"]
    assert system["environment"]["TAG"] == "{{id}} in {{tmpdir}}"
    assert "env-expand" not in (system.get("shell") or {}).get("options", {})
    argv = command_lines.by_hand(job)
    assert '--setattr=system.environment.TAG="{{id}} in {{tmpdir}}"' in argv
    assert not any(a.startswith("--env=TAG=") for a in argv)  # flux submit would hand it to env-expand
    assert command_lines.same_job(job)
    assert_same_job(job)


def test_a_templated_env_name_with_dots_is_not_said_to_be_the_same_job_by_hand() -> None:
    js = document([slot(1, 1)], attributes={"system": {"environment": {"A.B": "{{id}}"}}})
    assert not command_lines.same_job(submit_job(js, ["/bin/true"], stage=STAGE))


def _stage_doc(stage: str, how: str) -> dict[str, object]:
    return {
        "version": 1,
        "resources": [{"type": "slot", "label": "default", "count": 1, "with": [{"type": "core", "count": 1}]}],
        "task": {
            "slot": "default",
            "count": {"per_slot": 1},
            "transform": [
                {"step": "set", "key": "stage", "value": stage},
                {"step": "write", "filename": "job.sh"},
                {"step": "submit", "filename": "job.sh", how: True},
            ],
            "scripts": [{"name": "job.sh", "content": "#!/bin/sh\necho hi\n"}],
        },
    }


def test_a_templated_stage_is_refused_at_plan_time_for_output_files(tmp_path: Path) -> None:
    stage = str(tmp_path / "out{{id}}")
    problems = check(_stage_doc(stage, "wait"), FluxTransformer())
    assert any("'{{'" in p.message and "no escape" in p.message for p in problems), problems
    assert check(_stage_doc(stage, "watch"), FluxTransformer()) == []  # output in Flux: nothing rendered


def test_fake_flux_a_templated_temporary_stage_is_refused_at_run_time(
    fake_flux: FakeFlux, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tmp = tmp_path / "tmp{{id}}"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    text = json.dumps(_stage_doc("unused", "wait")).replace('{"step": "set", "key": "stage", "value": "unused"}, ', "")
    result, _ = quiet_run(make_jobspec(tmp_path, text, "job.json"))
    assert not result.ok  # type: ignore[attr-defined]
    assert "Flux's job shell reads as a template" in result.error  # type: ignore[attr-defined]
    assert not [c for c in fake_flux.calls() if c[:2] == ["job", "submit"]]


def test_fake_flux_templates_in_commands_and_stage_reach_the_job(fake_flux: FakeFlux, tmp_path: Path) -> None:
    stage = tmp_path / "st{{id}}"
    doc = _stage_doc(str(stage), "watch")
    task = doc["task"]
    assert isinstance(task, dict)
    task["scripts"] = [{"name": "job.sh", "content": '#!/bin/sh\nprintf "%s|" "$0" {{id}} "{{tmpdir}}"\n'}]
    result, out = quiet_run(make_jobspec(tmp_path, json.dumps(doc), "job.json"))
    assert result.ok, result.error  # type: ignore[attr-defined]
    assert out == f"{stage}/job.sh|{{{{id}}}}|{{{{tmpdir}}}}|"
