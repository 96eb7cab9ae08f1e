"""The plan: every step checked against the chosen transformer before anything runs.

Planning applies ``set``/``unset`` in order, so each step knows the settings in
force when it runs; checks every step's kind, fields, scripts, paths and
``after:`` references; and refuses the whole list, with every problem at once,
if anything is wrong. Nothing is written or started while planning.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobspec.document.model import Jobspec
from jobspec.document.problems import Problem, did_you_mean, one_of, shown
from jobspec.plugin.jobs import JOB_STEPS
from jobspec.plugin.paths import outside_reason, resolve_in_stage, stage_refusal
from jobspec.plugin.settings import CORE_SETTINGS, Setting, defaults
from jobspec.plugin.steps import COMMON_FIELDS, PlannedStep, StepBase

if TYPE_CHECKING:
    from jobspec.plugin.transformer import Transformer


@dataclass
class Plan:
    jobspec: Jobspec
    transformer: Transformer
    steps: list[PlannedStep] = field(default_factory=list)
    implicit: bool = False  # no task.transform: one submit of task.command was planned


IMPLICIT_NOTE = (
    "jobspec: the task has no transform steps: submitting task.command as Flux would (an implicit submit step)"
)


# Every transformer installed, asked when needed: its name, and how to get its settings table
# (None where it cannot be loaded), so a setting of another system is checked against it.
OtherSystems = Callable[[], Mapping[str, Callable[[], Mapping[str, Setting] | None]]]


def plan(
    source: Jobspec | str | os.PathLike[str] | dict[str, Any],
    transformer: Transformer,
    *,
    other_systems: OtherSystems | None = None,
) -> Plan:
    """Load (if needed), validate and plan ``source`` for ``transformer``.

    A setting of another installed transformer (``slurm.partition`` run on local) is
    accepted and said to be ignored where ``other_systems`` names that transformer;
    without it, it is an unknown setting. Raises `JobspecError` with every problem
    found; changes nothing.
    """
    from jobspec.document.load import load
    from jobspec.document.validate import finish

    jobspec = load(source, check=False)
    steps, problems = _all_problems(jobspec, transformer, other_systems)
    finish(jobspec, problems, raise_error=True)
    return Plan(jobspec, transformer, steps, implicit=jobspec.implicit_submit)


def _all_problems(
    jobspec: Jobspec, transformer: Transformer | None, other_systems: OtherSystems | None
) -> tuple[list[PlannedStep], list[Problem]]:
    """The document's problems and its steps', in one go: the steps are checked even when
    the document has problems elsewhere (a typo in a step is worth knowing in the same run);
    the transformer's whole-plan rules need a sound document, so they wait for one."""
    from jobspec.document.validate import one_per_place, validate

    problems = validate(jobspec)
    sound = not problems
    if transformer is None:
        from jobspec.plugin.core_steps import CORE_STEPS

        steps, found = check_steps(jobspec, CORE_STEPS, other_systems=other_systems, sound=sound)
    else:
        steps, found = check_steps(
            jobspec,
            transformer.steps,
            transformer.setting_table(),
            transformer.name,
            other_systems,
            sound=sound,
        )
    if sound and transformer is not None:
        found += _choose(steps, transformer)
        try:
            found += transformer.check_plan(jobspec, steps)
        except (TypeError, KeyError, AttributeError, ValueError):
            if not found:
                raise
            # a whole-plan rule that trips over a step already reported: those problems stand
    return steps, one_per_place(problems + found)


def _choose(steps: list[PlannedStep], transformer: Transformer) -> list[Problem]:
    """What each step settles once the transformer is known (a job's resources among alternatives)."""
    problems: list[Problem] = []
    for planned in steps:
        problems += planned.step.choose(transformer, planned.settings)
    return problems


def check_steps(
    jobspec: Jobspec,
    table: Mapping[str, type[StepBase]],
    settings_table: Mapping[str, Setting] | None = None,
    who: str | None = None,
    other_systems: OtherSystems | None = None,
    *,
    sound: bool = True,
) -> tuple[list[PlannedStep], list[Problem]]:
    """Check the transform list against a step table; return the planned steps and problems.

    ``who`` names the transformer in messages; None means the core steps. A setting with
    another transformer's prefix (``slurm.partition``) is checked against that
    transformer's settings where ``other_systems`` knows it. ``sound``: the document has
    no problems; when it has, a step entry the schema refused is left out, and a step's
    own check that trips over the damage is skipped (the damage is reported already).
    """
    settings_table = settings_table if settings_table is not None else CORE_SETTINGS
    settings = defaults(settings_table)
    problems: list[Problem] = []
    planned: list[PlannedStep] = []
    named: dict[str, StepBase] = {}
    base = (*jobspec.task_path, "transform")
    transform = jobspec.transform
    steps = transform if isinstance(transform, list) else []
    if jobspec.implicit_submit:  # a plain jobspec: run its command, as Flux would
        steps = [{"step": "submit"}]
        if not jobspec.command:
            problems.append(
                Problem(
                    "a task with no transform steps runs its command, and it has none: give task.command "
                    "(a list of strings), or transform steps",
                    path=(*jobspec.task_path, "command"),
                )
            )
            return planned, problems
    for index, options in enumerate(steps):
        path = (*base, index)
        if not isinstance(options, dict) or not isinstance(options.get("step"), str):
            continue  # the schema said what a step must be
        kind = options["step"]
        cls = table.get(kind)
        if cls is None:
            knower = f"transformer '{who}' knows" if who else "the core steps are"
            problems.append(
                Problem(
                    f"unknown step '{kind}'{did_you_mean(kind, table)} ({knower}: {one_of(table)})",
                    path=(*path, "step"),
                )
            )
            continue
        step = cls(jobspec, options, index)
        found = list(_field_problems(step, path))
        if not found and kind in ("set", "unset"):
            found += _apply_setting(step, settings, settings_table, who, path, other_systems)
        if not found:
            found += _after_problems(step, named, path)
            try:
                found += list(step.check(settings, [p.step for p in planned]))
            except (TypeError, KeyError, AttributeError, ValueError):
                if sound:
                    raise
            if who is not None:
                found += _symlink_problems(step, settings, path)
        problems += found
        if options.get("name") and isinstance(options["name"], str):
            named.setdefault(options["name"], step)
        planned.append(PlannedStep(index, step, dict(settings)))
    return planned, problems


def _field_problems(step: StepBase, path: tuple[str | int, ...]) -> list[Problem]:
    problems = []
    fields = {**COMMON_FIELDS, **step.fields}
    for key, spec in fields.items():
        if spec.required and key not in step.options:
            problems.append(Problem(f"step {step.label} needs field '{key}' ({spec.help or key})", path=(*path, key)))
    for key, value in step.options.items():
        found = fields.get(key)
        if found is None:
            if not step.open_fields:
                hint = did_you_mean(key, fields)
                problems.append(
                    Problem(
                        f"step {step.label} takes no field '{key}'{hint} (it takes: {one_of(fields)})",
                        path=(*path, key),
                    )
                )
            continue
        spec = found
        kinds = spec.kind if isinstance(spec.kind, tuple) else (spec.kind,)
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            words = " or ".join(
                {bool: "true or false", str: "a string", int: "a number", list: "a list"}.get(k, k.__name__)
                for k in kinds
            )
            problems.append(Problem(f"must be {words}, not {shown(value)}", path=(*path, key)))
            continue
        if spec.script and value not in step.scripts:
            names = list(step.scripts)
            if names:
                problems.append(
                    Problem(
                        f"'{value}' names no script{did_you_mean(str(value), names)} (scripts: {one_of(names)})",
                        path=(*path, key),
                    )
                )
            else:
                problems.append(Problem(f"'{value}' names no script: task.scripts is empty", path=(*path, key)))
        elif spec.in_stage and isinstance(value, str):
            reason = outside_reason(value)
            if reason:
                problems.append(Problem(reason, path=(*path, key)))
    return problems


def _apply_setting(
    step: StepBase,
    settings: dict[str, Any],
    table: Mapping[str, Setting],
    who: str | None,
    path: tuple[str | int, ...],
    other_systems: OtherSystems | None = None,
) -> list[Problem]:
    key = step.options["key"]
    spec = table.get(key)
    if spec is None:
        system = key.split(".", 1)[0]
        if "." in key and system != who and (other_systems is not None or who is None):
            return _another_systems_setting(step, key, system, table, who, path, other_systems)
        knower = f"transformer '{who}'" if who else "jobspec"
        return [
            Problem(
                f"unknown setting '{key}'{did_you_mean(key, table)} ({knower} knows: {one_of(table)})",
                path=(*path, "key"),
            )
        ]
    if step.name == "unset":
        settings[key] = spec.default
        return []
    try:
        settings[key] = spec.parse(step.options["value"])
    except ValueError as e:
        return [Problem(str(e), path=(*path, "value"))]
    return []


def _another_systems_setting(
    step: StepBase,
    key: str,
    system: str,
    table: Mapping[str, Setting],
    who: str | None,
    path: tuple[str | int, ...],
    other_systems: OtherSystems | None,
) -> list[Problem]:
    """``slurm.partition`` planned for local, or checked without a transformer: accepted (the
    set step says it is ignored here) if slurm knows it, with a value it takes."""
    if other_systems is None:
        return []  # no way to ask: the named transformer's own plan checks it
    installed = other_systems()
    if system not in installed:
        knower = f"transformer '{who}'" if who else "jobspec"
        systems = [name for name in installed if name != who]
        return [
            Problem(
                f"unknown setting '{key}': no transformer named '{system}' is installed"
                f"{did_you_mean(system, systems)} ({knower} knows: {one_of(table)}; "
                f"other transformers: {one_of(systems)})",
                path=(*path, "key"),
            )
        ]
    theirs = installed[system]()
    if theirs is None:
        return []  # it cannot be loaded: reported when it is named
    own = {name: spec for name, spec in theirs.items() if name.startswith(f"{system}.")}
    spec = own.get(key)
    if spec is None:
        return [
            Problem(
                f"unknown setting '{key}'{did_you_mean(key, own)} "
                f"(transformer '{system}' knows: {one_of(own) or 'no settings of its own'})",
                path=(*path, "key"),
            )
        ]
    if step.name == "set":
        try:
            spec.parse(step.options["value"])
        except ValueError as e:
            return [Problem(str(e), path=(*path, "value"))]
    return []


def _after_problems(step: StepBase, named: Mapping[str, StepBase], path: tuple[str | int, ...]) -> list[Problem]:
    after = step.get("after")
    if isinstance(after, str):
        names: list[tuple[Any, tuple[str | int, ...]]] = [(after, (*path, "after"))]
    elif isinstance(after, list):
        if not after:
            return [Problem("names no step: give a name, or a list of names, of earlier steps", path=(*path, "after"))]
        names = [(name, (*path, "after", i)) for i, name in enumerate(after)]
    else:
        return []
    problems = []
    for name, place in names:
        if not isinstance(name, str):
            problems.append(Problem(f"must be the name of an earlier step, not {shown(name)}", path=place))
            continue
        target = named.get(name)
        if target is None:
            problems.append(
                Problem(
                    f"names no earlier step{did_you_mean(name, named)} "
                    f"(earlier named steps: {one_of(named) or 'none'}; give one a name: field)",
                    path=place,
                )
            )
        elif target.name not in JOB_STEPS:
            problems.append(
                Problem(f"'{name}' is a {target.name} step: after: names a submit or batch step", path=place)
            )
    return problems


def _symlink_problems(step: StepBase, settings: Mapping[str, Any], path: tuple[str | int, ...]) -> list[Problem]:
    """A staging directory named by a set step must be new, empty or jobspec's; where it
    exists already, refuse names that leave it by a symlink."""
    stage = settings.get("stage")
    if step.name == "set" and step.get("key") == "stage" and stage is not None:
        refusal = stage_refusal(Path(stage).expanduser().absolute())
        if refusal:
            return [Problem(refusal, path=(*path, "value"))]
    if stage is None or not os.path.isdir(stage):
        return []
    problems = []
    for key, spec in step.fields.items():
        value = step.options.get(key)
        if spec.in_stage and isinstance(value, str):
            try:
                resolve_in_stage(Path(stage), value)
            except ValueError as e:
                problems.append(Problem(str(e), path=(*path, key)))
    return problems


def check(
    source: Jobspec | str | os.PathLike[str] | dict[str, Any],
    transformer: Transformer | None = None,
    *,
    other_systems: OtherSystems | None = None,
) -> list[Problem]:
    """Every problem with a jobspec and its steps, without running anything.

    Without ``transformer`` the steps are checked against the core steps
    (write, copy, set, unset, stage, submit, batch, auth).
    """
    from jobspec.document.load import load
    from jobspec.document.problems import JobspecError
    from jobspec.document.validate import finish

    try:
        jobspec = load(source, check=False)
    except JobspecError as e:
        return list(e.problems)
    return finish(jobspec, _all_problems(jobspec, transformer, other_systems)[1], raise_error=False)
