"""set and unset: the engine applies them while planning; running them only reports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from jobspec.steps.base import Field, StepBase, StepOutput

if TYPE_CHECKING:
    from jobspec.engine.run import StepContext


class SetStep(StepBase):
    name = "set"
    description = "change a setting for the steps that follow"
    fields = {
        "key": Field(str, required=True, help="the setting's name"),
        "value": Field((str, bool, int, float, list), required=True, help="its new value"),
    }

    def describe(self, ctx: StepContext) -> str:
        return f"{self.options['key']} = {ctx.settings.get(self.options['key'])!r}"

    def run(self, ctx: StepContext) -> StepOutput:
        return StepOutput(f"{self.options['key']}={ctx.settings.get(self.options['key'])}")


class UnsetStep(StepBase):
    name = "unset"
    description = "return a setting to its default for the steps that follow"
    fields = {"key": Field(str, required=True, help="the setting's name")}

    def describe(self, ctx: StepContext) -> str:
        return f"{self.options['key']} back to its default ({ctx.settings.get(self.options['key'])!r})"

    def run(self, ctx: StepContext) -> StepOutput:
        return StepOutput(f"{self.options['key']}")
