"""The document rules: every problem at once, each with its place, line and a way out."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from support import HELLO, make_jobspec, seed_examples

from jobspec import JobspecError, load
from jobspec.document.validate import schema, validate
from jobspec.engine.plan import check


def problems_of(text: str, tmp_path: Path) -> list[str]:
    path = make_jobspec(tmp_path, text)
    return [str(p) for p in check(path)]


@pytest.mark.parametrize("example", seed_examples(), ids=lambda p: p.name)
def test_seed_examples_are_valid(shared: Path, example: Path) -> None:
    assert check(example) == []


def test_rfc25_examples_are_valid_jobspecs_too(shared: Path) -> None:
    # RFC 25's own documents use `tasks: [..]`; our schema is a superset for them
    for path in sorted((shared / "flux-rfc" / "spec_25").glob("*.yaml")):
        assert validate(load(path, check=False)) == [], path


def test_our_schema_is_a_valid_draft7_schema() -> None:
    import jsonschema

    jsonschema.Draft7Validator.check_schema(schema())


def edit(text: str, old: str, new: str) -> str:
    assert old in text, old
    return text.replace(old, new, 1)


CASES = [
    # (what the user wrote wrong, replace this, with this, expected path, message fragment, line)
    ("unknown vertex type", "type: node", "type: nod", "resources[0].type", "did you mean 'node'", 3),
    ("count zero", "count: 2\n  with", "count: 0\n  with", "resources[0].count", "at least 1", 4),
    ("huge count", "count: 2\n  with", "count: 10000000000\n  with", "resources[0].count", "largest count", 4),
    (
        "command as string",
        'command: ["/bin/bash", "job.sh"]',
        "command: /bin/bash job.sh",
        "task.command",
        "list of strings",
        13,
    ),
    ("slot label typo", "slot: default", "slot: defualt", "task.slot", "did you mean 'default'", 14),
    ("both counts", "per_slot: 1", "per_slot: 1\n    total: 2", "task.count", "exactly one of per_slot or total", 16),
    ("unknown step", "step: submit", "step: sumbit", "task.transform[1].step", "did you mean 'submit'", 21),
    (
        "filename without script",
        "filename: job.sh\n    wait",
        "filename: jbo.sh\n    wait",
        "task.transform[1].filename",
        "did you mean 'job.sh'",
        22,
    ),
    ("unknown step field", "wait: true", "wiat: true", "task.transform[1].wiat", "did you mean 'wait'", 23),
    (
        "wrong field type",
        "executable: true",
        "executable: yes please",
        "task.transform[0].executable",
        "true or false",
        20,
    ),
    ("missing step kind", "- step: submit", "- stepp: submit", "task.transform[1].step", "missing required field", 21),
    ("unknown top-level field", "version: 1", "version: 1\nextra: 3", "extra", "unknown field 'extra'", 2),
    ("wrong version", "version: 1", "version: 2", "version", "version 1", 1),
    ("duration as text", "scripts:", "scripts:", "", "", 0),  # placeholder replaced below
]
CASES[-1] = (
    "duration as text",
    HELLO.splitlines()[-1],
    HELLO.splitlines()[-1] + "\nattributes:\n  system:\n    duration: 1h",
    "attributes.system.duration",
    "number of seconds",
    31,
)


@pytest.mark.parametrize(("what", "old", "new", "path", "fragment", "line"), CASES, ids=[c[0] for c in CASES])
def test_bad_documents(tmp_path: Path, what: str, old: str, new: str, path: str, fragment: str, line: int) -> None:
    problems = problems_of(edit(HELLO, old, new), tmp_path)
    assert len(problems) == 1, problems
    assert f"job.yaml:{line}:" in problems[0]
    assert f": {path}: " in problems[0]
    assert fragment in problems[0]


def test_every_schema_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = edit(edit(HELLO, "type: node", "type: nod"), "slot: default\n  count", "slot: 3\n  count")
    text = edit(text, 'command: ["/bin/bash", "job.sh"]', "command: 7")
    problems = problems_of(text, tmp_path)
    assert [p.split(": ")[1] for p in problems] == ["resources[0].type", "task.command", "task.slot"]


def test_every_step_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = edit(HELLO, "step: submit", "step: sumbit")
    text = edit(text, "filename: job.sh\n    executable", "filename: nope.sh\n    executable")
    problems = problems_of(text, tmp_path)
    assert len(problems) == 2
    assert "transform[0].filename" in problems[0] and "transform[1].step" in problems[1]


@pytest.mark.parametrize(
    ("resources", "fragment"),
    [
        ("- type: core\n  count: 1\n", "a core cannot stand at the top"),
        ("- type: node\n  count: 1\n  with:\n  - type: core\n    count: 1\n", "a core cannot stand inside a node"),
        ("- type: slot\n  count: 1\n  label: default\n  with:\n  - type: gpu\n    count: 1\n", "at least one core"),
        ("- type: slot\n  count: 1\n  with:\n  - type: core\n    count: 1\n", "a slot needs a label"),
        (
            "- type: slot\n  count: 1\n  label: default\n  with:\n  - type: core\n    count: 1\n    with:\n"
            "    - type: core\n      count: 1\n",
            "a core holds nothing",
        ),
        (
            "- type: node\n  count: 1\n  label: x\n  with:\n  - type: slot\n    count: 1\n    label: default\n"
            "    with:\n    - type: core\n      count: 1\n",
            "only a slot takes a label",
        ),
    ],
)
def test_resource_graph_shapes_are_checked(tmp_path: Path, resources: str, fragment: str) -> None:
    _, _, rest = HELLO.partition("task:")
    text = "version: 1\nresources:\n" + resources + "task:" + rest
    problems = problems_of(text, tmp_path)
    assert any(fragment in p for p in problems), problems


def test_total_task_count_over_the_limit(tmp_path: Path) -> None:
    text = edit(HELLO, "per_slot: 1", "total: 1000000")
    assert problems_of(text, tmp_path) == []
    text = edit(HELLO, "count: 2\n  with", "count: 1000\n  with")
    text = edit(text, "per_slot: 1", "per_slot: 2000")
    problems = problems_of(text, tmp_path)
    assert len(problems) == 1 and "2000000 tasks" in problems[0]


def test_duplicate_script_names(tmp_path: Path) -> None:
    text = HELLO + "  - name: job.sh\n    content: echo again\n"
    problems = problems_of(text, tmp_path)
    assert len(problems) == 1 and "used twice" in problems[0] and "task.scripts[1].name" in problems[0]


def test_task_and_tasks_forms(tmp_path: Path) -> None:
    data = yaml.safe_load(HELLO)
    data["tasks"] = [data.pop("task")]
    assert check(data) == []
    data["task"] = data["tasks"][0]
    assert any("both task and tasks" in str(p) for p in check(data))
    del data["task"], data["tasks"]
    assert any("missing required field 'task'" in str(p) for p in check(data))


def test_validate_raises_with_all_problems() -> None:
    data = yaml.safe_load(HELLO)
    data["resources"][0]["count"] = "four"
    data["version"] = "1"
    with pytest.raises(JobspecError) as info:
        load(data)
    assert len(info.value.problems) == 2


def test_fast_validator_agrees_with_jsonschema(shared: Path) -> None:
    """Our compiled schema check gives the same verdict as the reference implementation."""
    import jsonschema

    from jobspec.document.validate import schema_problems

    reference = jsonschema.Draft7Validator(schema())
    documents = [yaml.safe_load(p.read_text()) for p in seed_examples()]
    documents += [yaml.safe_load(HELLO)]
    mutations = [
        lambda d: d.update(version=2),
        lambda d: d["resources"][0].update(count=0),
        lambda d: d["resources"][0].update(type="socket"),
        lambda d: d["task"].update(command="x"),
        lambda d: d["task"].update(count={"per_slot": 1, "total": 2}),
        lambda d: d["task"]["transform"].append({"name": "x"}),
        lambda d: d.update(attributes={"system": {"duration": "1h"}}),
        lambda d: d.update(attributes={"system": {"environment": {"A": [1]}}}),
        lambda d: d["task"].update(scripts=[{"name": "a"}]),
        lambda d: d.update(extra=1),
    ]
    import copy

    for base in documents:
        for mutate in [lambda d: None, *mutations]:
            doc = copy.deepcopy(base)
            mutate(doc)
            ours = list(schema_problems(doc))
            theirs = list(reference.iter_errors(doc))
            assert bool(ours) == bool(theirs), (doc, ours, theirs)


def test_generated_schema_check_is_current() -> None:
    """The ahead-of-time compiled check matches schema.json (else: scripts/generate-schema-check)."""
    from jobspec.document import _schema_check
    from jobspec.document.validate import _compiled, schema_crc32

    assert schema_crc32() == _schema_check.SCHEMA_CRC32, "run scripts/generate-schema-check"
    assert _compiled() is _schema_check.validate


def test_a_schema_compiled_now_reports_what_the_generated_check_reports() -> None:
    """While schema.json is newer than the generated check, the check compiled at run time
    (fastjsonschema's own, with its own error classes) gives the same problems."""
    from jobspec.document.validate import compile_now, schema_problems

    bad = yaml.safe_load(HELLO)
    bad["version"] = 2
    bad["resources"][0]["count"] = 0
    bad["task"]["transform"].append({"name": "x"})
    bad["extra"] = 1
    generated = [str(p) for p in schema_problems(bad)]
    assert len(generated) == 4
    assert [str(p) for p in schema_problems(bad, compile_now(schema()))] == generated
    assert list(schema_problems(yaml.safe_load(HELLO), compile_now(schema()))) == []


def test_the_schema_check_does_not_import_fastjsonschema() -> None:
    """The generated check raises errors of fastjsonschema's shape, not its own: a run does not pay
    for importing fastjsonschema (its code generators, decimal, urllib)."""
    import subprocess
    import sys

    code = "import sys, jobspec; jobspec.load(sys.stdin.read()); print('fastjsonschema' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], input=HELLO, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr


RFC14_GRAPH = """\
- type: node
  count: {min: 1, max: 2, operator: '+', operand: 1}
  exclusive: true
  with:
  - type: memory
    count: 8
    unit: GB
  - type: socket
    count: 2
    with:
    - type: slot
      count: 1
      label: default
      with:
      - type: core
        count: 2
      - type: gpu
        count: 1
      - type: memory
        count: {min: 512}
        unit: MB
"""


def test_rfc14_graphs_with_memory_sockets_and_ranges_are_valid(tmp_path: Path) -> None:
    _, _, rest = HELLO.partition("task:")
    assert problems_of("version: 1\nresources:\n" + RFC14_GRAPH + "task:" + rest, tmp_path) == []


@pytest.mark.parametrize(
    ("old", "new", "fragment"),
    [
        ("unit: GB", "unit: furlongs", "resources[0].with[0].unit: unknown memory unit 'furlongs'"),
        ("max: 2", "max: 0", "resources[0].count: a count range takes min"),
        ("min: 1, max: 2", "min: 3, max: 2", "max 2 is less than min 3"),
        ("operand: 1}", "operand: 1, step: 2}", "a count range takes min"),
        ("count: {min: 512}", "count: '512'", "must be a positive whole number or a range"),
        ("      - type: core\n        count: 2\n", "", "a slot needs at least one core vertex under it"),
    ],
)
def test_rfc14_graph_mistakes(tmp_path: Path, old: str, new: str, fragment: str) -> None:
    _, _, rest = HELLO.partition("task:")
    text = "version: 1\nresources:\n" + edit(RFC14_GRAPH, old, new) + "task:" + rest
    problems = problems_of(text, tmp_path)
    assert any(fragment in p for p in problems), problems


def test_a_hint_from_a_field_name_is_given_only_for_the_type_it_describes(tmp_path: Path) -> None:
    # task.resources holds mappings by subsystem: a `count` there is not the task count
    text = edit(HELLO, "  scripts:", "  resources:\n    count: 4\n  scripts:")
    problems = problems_of(text, tmp_path)
    assert len(problems) == 1 and "task.resources.count: must be a mapping, not 4" in problems[0], problems
