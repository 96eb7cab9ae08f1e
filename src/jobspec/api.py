"""The library's front door: run, plan or check a jobspec with a transformer named by
the caller (or chosen here), then hand it to the engine.

The engine takes transformer instances; turning a name into one (and choosing one
when none is named) is the registry's, at this layer, above the backends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jobspec.document.model import Jobspec
    from jobspec.document.problems import Problem
    from jobspec.engine.plan import Plan
    from jobspec.engine.result import RunResult
    from jobspec.engine.run import Reporter
    from jobspec.plugin.settings import Setting
    from jobspec.plugin.transformer import Transformer


def installed_transformers() -> dict[str, Callable[[], Mapping[str, Setting] | None]]:
    """Every transformer installed, by name, with how to get its settings table (asked only
    when a document sets another system's setting; a transformer is imported only then)."""
    from jobspec.transformers.registry import get_transformer_registry

    registry = get_transformer_registry()

    def settings_of(name: str) -> Mapping[str, Setting] | None:
        from jobspec.document.problems import JobspecError

        try:
            return registry.get_plugin(name).setting_table()
        except JobspecError:
            return None

    from functools import partial

    return {name: partial(settings_of, name) for name in registry.names()}


def transformer_for(transformer: Transformer | str | None) -> Transformer:
    """An instance: ``transformer`` itself, or the one named, or the one chosen here."""
    from jobspec.plugin.transformer import Transformer

    if isinstance(transformer, Transformer):
        return transformer
    from jobspec.transformers.registry import get_transformer_registry

    return get_transformer_registry().choose(transformer)[0]()


def plan(
    source: Jobspec | str | os.PathLike[str] | dict[str, Any], transformer: Transformer | str | None = None
) -> Plan:
    """Every step checked against the transformer; `JobspecError` with every problem."""
    from jobspec.engine.plan import plan as make_plan

    return make_plan(source, transformer_for(transformer), other_systems=installed_transformers)


def run(
    source: Jobspec | str | os.PathLike[str] | dict[str, Any],
    transformer: Transformer | str | None = None,
    *,
    dry_run: bool = False,
    reporter: Reporter | None = None,
) -> RunResult:
    """Load, validate, plan and run a jobspec. Bad input raises `JobspecError`;
    a failing step is reported in the result (``result.ok`` is False)."""
    from jobspec.engine.plan import plan as make_plan
    from jobspec.engine.run import execute

    the_plan = make_plan(source, transformer_for(transformer), other_systems=installed_transformers)
    return execute(the_plan, reporter=reporter, dry_run=dry_run)


def check(
    source: Jobspec | str | os.PathLike[str] | dict[str, Any], transformer: Transformer | str | None = None
) -> list[Problem]:
    """Every problem with a jobspec and its steps (against the core steps when no
    transformer is named), without running anything."""
    from jobspec.engine.plan import check as check_with

    chosen = transformer_for(transformer) if transformer is not None else None
    return check_with(source, chosen, other_systems=installed_transformers)
