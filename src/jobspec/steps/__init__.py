"""Steps: the shared ones (write, copy, set, unset) and the specs of the job steps
(submit, batch, stage, auth) that each transformer implements.

The seed's names are kept: ``steps.StepBase``, ``steps.EmptyStep``, ``steps.WriterStep``.
"""

from jobspec.steps.base import EmptyStep, Field, StepBase, StepOutput
from jobspec.steps.errors import StepError
from jobspec.steps.files import CopyStep, WriterStep
from jobspec.steps.jobs import AuthStep, BatchStep, StageStep, SubmitStep
from jobspec.steps.settings import SetStep, UnsetStep

# The steps every transformer is expected to know, as specs: `jobspec validate`
# without a transformer checks a document against these.
CORE_STEPS: dict[str, type[StepBase]] = {
    s.name: s for s in (WriterStep, CopyStep, SetStep, UnsetStep, StageStep, SubmitStep, BatchStep, AuthStep)
}

__all__ = [
    "CORE_STEPS",
    "AuthStep",
    "BatchStep",
    "CopyStep",
    "EmptyStep",
    "Field",
    "SetStep",
    "StageStep",
    "StepBase",
    "StepError",
    "StepOutput",
    "SubmitStep",
    "UnsetStep",
    "WriterStep",
]
