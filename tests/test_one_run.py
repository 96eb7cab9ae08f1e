"""Every problem in one run: schema errors, the rules a schema cannot say, and the steps,
reported together, so a file is fixed in one pass rather than three."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import jobspec_cli, make_jobspec

ROUNDS = """\
version: 1
resources:
- type: node
  count: 2
  with:
  - type: slot
    label: hello
    count: two
    with:
    - type: core
      count: 1
task:
  slot: helo
  count: {per_slot: 1}
  transform:
  - {step: write, filename: hello.sh, executable: true}
  - {step: set, key: slurm.partiton, value: debug}
  - {step: sumbit, filename: hello.sh}
  - {step: submit, filename: helo.sh, wacth: true}
  scripts:
  - name: hello.sh
    content: |
      echo hi
attributes:
  system: {duration: sixty}
"""


def places(stderr: str) -> list[str]:
    """'file:line:col: place: message' -> 'line:col place' for each problem line."""
    found = []
    for line in stderr.splitlines():
        parts = line.strip().split(": ", 2)
        if len(parts) == 3 and parts[0].count(":") == 2:
            found.append(f"{parts[0].split(':', 1)[1]} {parts[1]}")
    return found


def test_validate_reports_schema_rule_and_step_problems_in_one_run(tmp_path: Path) -> None:
    done = jobspec_cli("validate", str(make_jobspec(tmp_path, ROUNDS)))
    assert done.returncode == 2
    assert places(done.stderr) == [
        "8:12 resources[0].with[0].count",
        "13:9 task.slot",
        "17:22 task.transform[1].key",
        "18:12 task.transform[2].step",
        "19:30 task.transform[3].filename",
        "19:46 task.transform[3].wacth",
        "25:22 attributes.system.duration",
    ]
    assert "did you mean 'hello'?" in done.stderr  # the slot
    assert "did you mean 'slurm.partition'?" in done.stderr
    assert "did you mean 'submit'?" in done.stderr
    assert "did you mean 'watch'?" in done.stderr
    assert "Traceback" not in done.stderr


def test_run_refuses_with_every_problem_and_starts_nothing(tmp_path: Path) -> None:
    stage = tmp_path / "stage"
    text = ROUNDS.replace("  - {step: write,", f"  - {{step: set, key: stage, value: '{stage}'}}\n  - {{step: write,")
    done = jobspec_cli("run", "-t", "local", str(make_jobspec(tmp_path, text)))
    assert done.returncode == 2
    assert "jobspec: 7 problems:" in done.stderr
    assert not stage.exists()


def test_validate_json_lists_every_problem(tmp_path: Path) -> None:
    path = make_jobspec(tmp_path, ROUNDS)
    done = jobspec_cli("validate", "--json", str(path))
    assert done.returncode == 2
    report = json.loads(done.stdout)[str(path)]
    assert [p["path"] for p in report][:2] == ["resources[0].with[0].count", "task.slot"]
    assert len(report) == 7


GOOD = ROUNDS.replace("count: two", "count: 1").replace("slot: helo", "slot: hello")
GOOD = GOOD.replace("sumbit", "submit").replace("helo.sh, wacth", "hello.sh, watch").replace("sixty", "60")


def test_the_fixed_file_is_valid_and_a_setting_of_another_system_is_checked_against_it(tmp_path: Path) -> None:
    typo = jobspec_cli("validate", str(make_jobspec(tmp_path, GOOD)))
    assert places(typo.stderr) == ["17:22 task.transform[1].key"]
    assert "transformer 'slurm' knows: slurm.account" in typo.stderr
    fixed = jobspec_cli("validate", str(make_jobspec(tmp_path, GOOD.replace("partiton", "partition"))))
    assert fixed.returncode == 0, fixed.stderr
    # run with local, the same typo is refused too (not ignored as slurm's)
    on_local = jobspec_cli("validate", "-t", "local", str(make_jobspec(tmp_path, GOOD)))
    assert places(on_local.stderr) == ["17:22 task.transform[1].key"]


def test_a_value_another_system_would_refuse_and_a_system_nobody_installed(tmp_path: Path) -> None:
    wrong = "{step: set, key: local.max_tasks, value: many}"
    text = GOOD.replace("{step: set, key: slurm.partiton, value: debug}", wrong)
    text = text.replace("  - {step: submit, filename: hello.sh}\n", "  - {step: set, key: slrum.qos, value: high}\n")
    done = jobspec_cli("validate", str(make_jobspec(tmp_path, text)))
    assert done.returncode == 2
    assert places(done.stderr) == ["17:46 task.transform[1].value", "18:22 task.transform[2].key"]
    assert "local.max_tasks takes a positive whole number, not 'many'" in done.stderr
    assert "no transformer named 'slrum' is installed; did you mean 'slurm'?" in done.stderr


def test_a_misspelt_label_is_not_also_called_a_missing_slot(tmp_path: Path) -> None:
    text = GOOD.replace("label: hello", "lable: hello").replace("partiton", "partition")
    done = jobspec_cli("validate", str(make_jobspec(tmp_path, text)))
    assert done.returncode == 2
    assert places(done.stderr) == ["6:5 resources[0].with[0]", "7:12 resources[0].with[0].lable"]  # not task.slot
    assert "did you mean 'label'?" in done.stderr


def test_malformed_steps_are_reported_beside_the_rest_without_a_traceback(tmp_path: Path) -> None:
    text = GOOD.replace("  - {step: submit, filename: hello.sh}\n", "  - just a string\n  - {filename: x.sh}\n")
    text = text.replace("slot: hello", "slot: hullo")
    done = jobspec_cli("validate", str(make_jobspec(tmp_path, text)))
    assert done.returncode == 2, done.stderr
    assert places(done.stderr) == [
        "13:9 task.slot",
        "17:22 task.transform[1].key",
        "18:5 task.transform[2]",
        "19:5 task.transform[3].step",
    ]
    assert "Traceback" not in done.stderr


# Values of every kind, put where the schema wants another: the later stages must not trip
ODD_VALUES = [None, 0, -1, 1.5, "", "x", [], {}, [1], {"a": 1}, True, ["a"], [{}], {"step": 3}, {"min": 1}]


def _places(node: object, here: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    found = [here]
    if isinstance(node, dict):
        for key, value in node.items():
            found += _places(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _places(value, (*here, index))
    return found


@pytest.mark.parametrize("name", [None, "local", "slurm", "flux", "kubernetes"])
def test_damaged_documents_get_problems_never_a_crash(name: str | None) -> None:
    """Every stage runs past the schema's complaints: each must read damage as damage."""
    import copy
    import random

    import yaml

    from jobspec.api import installed_transformers
    from jobspec.engine.plan import check
    from jobspec.transformers.registry import get_transformer_registry

    examples = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))
    documents = [yaml.safe_load(path.read_text()) for path in examples]
    transformer = get_transformer_registry().get_plugin(name)() if name else None
    rng = random.Random(name)
    for _ in range(300):
        document = copy.deepcopy(rng.choice(documents))
        for _ in range(rng.randint(1, 3)):
            place = rng.choice([p for p in _places(document) if p])
            node = document
            for part in place[:-1]:
                node = node[part]
            node[place[-1]] = copy.deepcopy(rng.choice(ODD_VALUES))
        problems = check(document, transformer, other_systems=installed_transformers)
        assert all(p.message for p in problems)
