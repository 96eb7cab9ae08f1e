"""Planning: settings in order, every step checked, nothing done when anything is wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from support import HELLO, jobspec_cli, make_jobspec

from jobspec import JobspecError, plan
from jobspec.plugin.paths import STAGE_MARKER
from jobspec.transformers.local.transformer import LocalTransformer


def steps_yaml(*steps: str, scripts: str = '  - name: job.sh\n    content: "#!/bin/sh\\necho hi\\n"\n') -> str:
    head = HELLO.split("  transform:")[0]
    return head + "  transform:\n" + "".join(steps) + "  scripts:\n" + scripts


def bad(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(JobspecError) as info:
        plan(make_jobspec(tmp_path, text), "local")
    return [str(p) for p in info.value.problems]


def test_settings_apply_in_order(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    text = steps_yaml(
        "  - step: write\n    filename: job.sh\n",
        f"  - step: set\n    key: stage\n    value: {stage}\n",
        "  - step: set\n    key: sharedfs\n    value: 'false'\n",
        "  - step: write\n    filename: job.sh\n",
        "  - step: unset\n    key: sharedfs\n",
        "  - step: stage\n",
    )
    planned = plan(make_jobspec(tmp_path, text), "local").steps
    assert [p.settings["stage"] for p in planned] == [None, str(stage), str(stage), str(stage), str(stage), str(stage)]
    assert [p.settings["sharedfs"] for p in planned] == [True, True, False, False, True, True]


def test_unknown_setting_names_the_known_ones(tmp_path: Path) -> None:
    problems = bad(tmp_path, steps_yaml("  - step: set\n    key: stag\n    value: /tmp/x\n"))
    assert len(problems) == 1
    assert "unknown setting 'stag'; did you mean 'stage'?" in problems[0]
    assert "local.max_tasks, sharedfs, stage" in problems[0]


def test_bad_setting_value(tmp_path: Path) -> None:
    problems = bad(tmp_path, steps_yaml("  - step: set\n    key: sharedfs\n    value: maybe\n"))
    assert "sharedfs takes true or false, not 'maybe'" in problems[0]
    assert "task.transform[0].value" in problems[0]


def test_step_unknown_to_the_transformer(tmp_path: Path) -> None:
    problems = bad(tmp_path, steps_yaml("  - step: deploy\n"))
    assert "unknown step 'deploy'" in problems[0]
    assert "transformer 'local' knows: auth, batch, copy, set, stage, submit, unset, write" in problems[0]


@pytest.mark.parametrize(
    ("filename", "fragment"),
    [("/etc/passwd", "absolute path"), ("../job.sh", "leads out of the staging directory"), ("a/../../x", "'..'")],
)
def test_paths_leaving_the_stage_are_refused(tmp_path: Path, filename: str, fragment: str) -> None:
    scripts = f"  - name: {filename}\n    content: echo\n"
    problems = bad(tmp_path, steps_yaml(f"  - step: write\n    filename: {filename}\n", scripts=scripts))
    assert any(fragment in p for p in problems), problems


def test_symlink_out_of_an_existing_stage_is_refused(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / STAGE_MARKER).touch()  # a stage an earlier run made, since holding a link out
    (stage / "link").symlink_to(tmp_path)
    scripts = "  - name: link/job.sh\n    content: echo\n"
    problems = bad(
        tmp_path,
        steps_yaml(
            f"  - step: set\n    key: stage\n    value: {stage}\n",
            "  - step: write\n    filename: link/job.sh\n",
            scripts=scripts,
        ),
    )
    assert "through a symbolic link" in problems[0]
    assert not (tmp_path / "job.sh").exists()


def test_submit_of_a_script_never_written(tmp_path: Path) -> None:
    problems = bad(tmp_path, steps_yaml("  - step: submit\n    filename: job.sh\n"))
    assert "'job.sh' is not written before this step" in problems[0]


def test_submit_without_filename_needs_a_command(tmp_path: Path) -> None:
    text = steps_yaml("  - step: submit\n").replace('  command: ["/bin/bash", "job.sh"]\n', "")
    assert "needs a filename" in bad(tmp_path, text)[0]


def test_after_must_name_an_earlier_job_step(tmp_path: Path) -> None:
    problems = bad(
        tmp_path,
        steps_yaml(
            "  - step: write\n    filename: job.sh\n    name: writer\n",
            "  - step: submit\n    filename: job.sh\n    after: first\n",
            "  - step: submit\n    filename: job.sh\n    after: writer\n",
        ),
    )
    assert "names no earlier step" in problems[0]
    assert "'writer' is a write step" in problems[1]


def test_a_bad_list_fails_whole_and_changes_nothing(tmp_path: Path) -> None:
    stage = tmp_path / "never"
    text = steps_yaml(
        f"  - step: set\n    key: stage\n    value: {stage}\n",
        "  - step: write\n    filename: job.sh\n",
        "  - step: submit\n    filename: job.sh\n",
        "  - step: sumbit\n",
    )
    before = set(os.listdir("/tmp"))
    problems = bad(tmp_path, text)
    assert len(problems) == 1 and "transform[3].step" in problems[0]
    assert not stage.exists()
    assert not [p for p in set(os.listdir("/tmp")) - before if p.startswith("jobspec-")]


def test_too_many_tasks_for_this_machine(tmp_path: Path) -> None:
    text = HELLO.replace("per_slot: 1", "per_slot: 200")
    problems = bad(tmp_path, text)
    assert "asks for 400 tasks" in problems[0] and "local.max_tasks (256)" in problems[0]
    raised = text.replace("  transform:\n", "  transform:\n  - step: set\n    key: local.max_tasks\n    value: 400\n")
    assert len(plan(make_jobspec(tmp_path, raised, "ok.yaml"), "local").steps) == 3


def test_step_tables_belong_to_each_transformer() -> None:
    from jobspec.plugin import EmptyStep, Transformer

    class Quiet(Transformer):
        name = "quiet"

    class Quieter(Quiet):
        name = "quieter"

    Quiet.register_step(EmptyStep, name="stage")
    Quieter.register_step(EmptyStep, name="auth")
    assert set(Quiet.steps) == {"stage"}
    assert set(Quieter.steps) == {"auth"}
    assert "stage" in LocalTransformer.steps and LocalTransformer.steps["stage"] is EmptyStep
    assert Transformer.steps == {}


PLAIN = """\
version: 1
resources:
- type: node
  count: 1
  with:
  - type: slot
    label: default
    count: 3
    with:
    - type: core
      count: 1
tasks:
- command: ["sh", "-c", "echo rank $FLUX_TASK_RANK of $JOBSPEC_TASK_COUNT"]
  slot: default
  count: {per_slot: 1}
attributes:
  system: {duration: 60}
"""


def test_a_plain_jobspec_runs_its_command_and_says_so(tmp_path: Path) -> None:
    path = make_jobspec(tmp_path, PLAIN)
    planned = plan(path, LocalTransformer())
    assert planned.implicit and [p.step.name for p in planned.steps] == ["submit"]
    done = jobspec_cli("run", "-t", "local", "--json", str(path))
    assert done.returncode == 0, done.stderr
    assert "no transform steps: submitting task.command as Flux would (an implicit submit step)" in done.stderr
    [job_id] = json.loads(done.stdout)["job_ids"]
    assert LocalTransformer().wait(job_id, timeout=60).state == "completed"
    stdout = json.loads(done.stdout)["steps"][0]["details"]["stdout"]
    assert sorted(Path(stdout).read_text().splitlines()) == [f"rank {r} of 3" for r in range(3)]


def test_a_plain_jobspec_without_a_command_is_refused(tmp_path: Path) -> None:
    text = PLAIN.replace(
        '- command: ["sh", "-c", "echo rank $FLUX_TASK_RANK of $JOBSPEC_TASK_COUNT"]\n  slot', "- slot"
    )
    problems = bad(tmp_path, text)
    assert len(problems) == 1 and "tasks[0].command: a task with no transform steps runs its command" in problems[0]
