"""Settings: values that `set`/`unset` steps change for the steps that follow.

Core settings are ``stage`` and ``sharedfs``; a transformer declares its own
(``slurm.partition``, ...) in its ``settings`` table. The engine applies set and
unset while planning, so each step knows the settings in force when it runs;
running them only reports.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from jobspec.document.problems import shown
from jobspec.plugin.steps import Field, StepBase, StepOutput

if TYPE_CHECKING:
    from jobspec.plugin.context import StepContext

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


@dataclass(frozen=True)
class Setting:
    """A named setting with its kind (``path``, ``bool``, ``str``, ``int``, ``args``)."""

    name: str
    kind: str
    default: Any = None
    help: str = ""

    def parse(self, value: Any) -> Any:
        """The value as the engine uses it; raises ValueError saying what would be right."""
        if self.kind == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
                return value.lower() in _TRUE
            raise ValueError(f"{self.name} takes true or false, not {shown(value)}")
        if self.kind == "int":
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
            raise ValueError(f"{self.name} takes a positive whole number, not {shown(value)}")
        if self.kind == "args":
            # a list of command-line arguments, or one string split as a shell would
            if isinstance(value, str):
                try:
                    return shlex.split(value)
                except ValueError as e:
                    raise ValueError(f"{self.name}: cannot split {shown(value)}: {e}") from None
            if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
                return [str(v) for v in value]
            raise ValueError(f"{self.name} takes a list of arguments, not {shown(value)}")
        if isinstance(value, (dict, list)) or value is None:
            raise ValueError(f"{self.name} takes a single value, not {shown(value)}")
        text = str(value)
        if self.kind == "path" and not text:
            raise ValueError(f"{self.name} takes a directory path, not an empty string")
        return text


CORE_SETTINGS: Mapping[str, Setting] = {
    "stage": Setting("stage", "path", None, "the staging directory; a new temporary directory when unset"),
    "sharedfs": Setting(
        "sharedfs",
        "bool",
        True,
        "whether every node sees the staging directory; stage steps do nothing when true",
    ),
}


def defaults(table: Mapping[str, Setting]) -> dict[str, Any]:
    return {name: s.default for name, s in table.items()}


class SetStep(StepBase):
    name = "set"
    description = "change a setting for the steps that follow"
    fields = {
        "key": Field(str, required=True, help="the setting's name"),
        "value": Field((str, bool, int, float, list), required=True, help="its new value"),
    }

    def describe(self, ctx: StepContext) -> str:
        key = self.options["key"]
        if key not in ctx.transformer.setting_table():
            return f"{key} = {as_written(self.options['value'])}{ignored_here(key, ctx)}"
        return f"{key} = {as_written(ctx.settings.get(key))}"

    def run(self, ctx: StepContext) -> StepOutput:
        key = self.options["key"]
        if key not in ctx.transformer.setting_table():
            return StepOutput(f"{key}={as_written(self.options['value'])}{ignored_here(key, ctx)}")
        return StepOutput(f"{key}={as_written(ctx.settings.get(key), quoted=False)}")


def as_written(value: Any, quoted: bool = True) -> str:
    """A setting's value as the document would write it: YAML's true, false and null
    (not Python's True, False and None); anything else as `shown` (or str, unquoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return shown(value) if quoted else str(value)


def ignored_here(key: str, ctx: StepContext) -> str:
    """What the line of another system's setting (``slurm.partition`` run on local) adds."""
    return f" (a setting for {key.split('.', 1)[0]}: ignored by {ctx.transformer.name})"


class UnsetStep(StepBase):
    name = "unset"
    description = "return a setting to its default for the steps that follow"
    fields = {"key": Field(str, required=True, help="the setting's name")}

    def describe(self, ctx: StepContext) -> str:
        return f"{self.options['key']} back to its default ({as_written(ctx.settings.get(self.options['key']))})"

    def run(self, ctx: StepContext) -> StepOutput:
        return StepOutput(f"{self.options['key']}")
