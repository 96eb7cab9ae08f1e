"""One check for every transformer: the built-in ones and an out-of-tree plugin package
installed for the test (found through the entry-point group and as a jobspec_<name> module).

Each transformer must keep a step table of steps, own only settings under its name,
turn every example into a dry run or a refusal with reasons (changing nothing), refuse
a bad setting at plan time, and answer a job id that is not its own without touching
its system.
"""

from __future__ import annotations

import ast
import io
import json
import tempfile
from pathlib import Path

import pytest
import yaml
from support import EXAMPLES, HELLO, jobspec_cli, make_jobspec, seed_examples

from jobspec.document.problems import JobspecError
from jobspec.engine.plan import plan
from jobspec.engine.run import Reporter, execute
from jobspec.plugin import CORE_STEPS, EmptyStep, Field, JobLookupError, Setting, StepBase, Transformer
from jobspec.transformers.registry import BUILTIN, get_transformer_registry

PLUGINS = {"toy": "entry point", "echo": "module"}
NAMES = [*BUILTIN, *PLUGINS]
EXAMPLE_FILES = seed_examples() + sorted(EXAMPLES.glob("*.yaml"))


@pytest.fixture(params=NAMES)
def transformer_cls(request: pytest.FixtureRequest, plugins: Path) -> type[Transformer]:
    return get_transformer_registry().get_plugin(request.param)


def test_the_plugins_are_found_where_they_were_installed(plugins: Path) -> None:
    registry = get_transformer_registry()
    for name, origin in PLUGINS.items():
        assert registry.entry(name).origin == origin
        assert registry.get_plugin(name).name == name


def test_the_plugin_imports_only_the_contract() -> None:
    package = Path(__file__).with_name("toy_plugin")
    imported = set()
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert {m for m in imported if m.startswith("jobspec")} == {"jobspec.plugin"}


def test_step_table(transformer_cls: type[Transformer]) -> None:
    assert transformer_cls.steps, "a transformer with no steps can run nothing"
    for name, step in transformer_cls.steps.items():
        assert issubclass(step, StepBase), name
        if name in CORE_STEPS and step is not EmptyStep:
            assert issubclass(step, CORE_STEPS[name]), f"{name}: {step} is not a {CORE_STEPS[name].__name__}"
        assert all(isinstance(f, Field) for f in step.fields.values()), name
    assert transformer_cls.description


def test_own_settings_carry_the_transformer_name(transformer_cls: type[Transformer]) -> None:
    for key, setting in transformer_cls.settings.items():
        assert isinstance(setting, Setting) and setting.name == key
        assert key.startswith(f"{transformer_cls.name}."), key
        if setting.default is not None:
            assert setting.parse(setting.default) == setting.default


def test_where_it_runs_is_answered_cheaply(transformer_cls: type[Transformer]) -> None:
    ok, why = transformer_cls.available()
    assert isinstance(ok, bool) and why
    assert isinstance(transformer_cls.affinity(), int)
    with pytest.raises(TypeError, match="takes no option"):
        transformer_cls(no_such_option=1)
    launcher = transformer_cls().launcher()
    assert launcher is None or (launcher and all(isinstance(word, str) and word for word in launcher))


@pytest.mark.parametrize("example", EXAMPLE_FILES, ids=lambda p: p.name)
def test_every_example_is_a_dry_run_or_a_refusal(
    transformer_cls: type[Transformer], example: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    try:
        the_plan = plan(example, transformer_cls())
    except JobspecError as e:
        assert e.problems and all(p.message and p.path for p in e.problems), str(e)
        return
    out = io.StringIO()
    result = execute(the_plan, Reporter(stream=out, output=out, color=False), dry_run=True)
    assert result.ok, result.error
    assert [s.status for s in result.steps] == ["planned"] * len(the_plan.steps)
    assert out.getvalue().count("=> step ") == len(the_plan.steps)
    assert list(tmp_path.iterdir()) == [], "a dry run changed nothing"


def test_an_unknown_setting_and_a_bad_value_are_refused_at_plan_time(
    transformer_cls: type[Transformer], tmp_path: Path
) -> None:
    document = yaml.safe_load(HELLO)
    own = next(iter(transformer_cls.settings), "sharedfs")
    document["task"]["transform"][:0] = [
        {"step": "set", "key": "no.such.setting", "value": 1},
        {"step": "set", "key": own, "value": {"not": "a value"}},
    ]
    with pytest.raises(JobspecError) as refused:
        plan(document, transformer_cls())
    messages = [(p.path[-1], p.message) for p in refused.value.problems]
    assert any(where == "key" and "unknown setting 'no.such.setting'" in m for where, m in messages), messages
    assert any(where == "value" for where, _ in messages), messages


def test_a_job_id_of_nobody_is_refused_without_asking_the_system(transformer_cls: type[Transformer]) -> None:
    assert not transformer_cls.owns_job_id("nobody's-job")
    with pytest.raises((JobLookupError, NotImplementedError)):
        transformer_cls().status("nobody's-job")


def test_the_plugin_runs_a_job_and_answers_for_it(plugins: Path, tmp_path: Path) -> None:
    done = jobspec_cli("run", "-t", "toy", "--json", str(make_jobspec(tmp_path)))
    assert done.returncode == 0, done.stderr
    submitted = json.loads(done.stdout)["steps"][-1]
    job_id = submitted["job_id"]
    assert Path(submitted["details"]["stdout"]).read_text().count("task ") == 2  # two tasks, both ran
    status = jobspec_cli("status", job_id)  # its owner found among every transformer
    assert status.returncode == 0, status.stderr
    assert status.stdout.split()[:2] == [job_id, "completed"]


def test_a_failing_plugin_job_fails_the_run_with_its_exit_code(plugins: Path, tmp_path: Path) -> None:
    text = HELLO.replace('echo "task $JOBSPEC_TASK_RANK of $JOBSPEC_TASK_COUNT"', "exit 3")
    done = jobspec_cli("run", "-t", "toy", str(make_jobspec(tmp_path, text)))
    assert done.returncode == 1
    assert "failed with exit code 3" in done.stderr


def test_a_plugin_that_does_not_ask_is_not_chosen(plugins: Path) -> None:
    cls, _ = get_transformer_registry().choose()
    assert cls.name == "local"
