"""The steps every transformer is expected to know, as specs: `jobspec validate`
without a transformer checks a document against these."""

from __future__ import annotations

from jobspec.plugin.files import CopyStep, WriterStep
from jobspec.plugin.jobs import AuthStep, BatchStep, StageStep, SubmitStep
from jobspec.plugin.settings import SetStep, UnsetStep
from jobspec.plugin.steps import StepBase

CORE_STEPS: dict[str, type[StepBase]] = {
    s.name: s for s in (WriterStep, CopyStep, SetStep, UnsetStep, StageStep, SubmitStep, BatchStep, AuthStep)
}
