"""The plugin contract: everything a transformer (built in or installed) is made of.

A plugin author needs this one import::

    from jobspec.plugin import Transformer, SubmitStep, StepOutput, ...

- `Transformer`: the base class (name, steps, settings, options, affinity, life cycle);
- steps: `StepBase`, `EmptyStep`, `Field`, `StepOutput`; the shared ones (`WriterStep`,
  `CopyStep`, `SetStep`, `UnsetStep`); the job steps (`SubmitStep`, `BatchStep`, whose
  life cycle is written once in `JobStep`, and `StageStep`, `AuthStep`);
- what a running step sees: `StepContext`, `RunState`;
- `Setting`, `JobStatus`, and the errors: `StepError`, `TransformerError`,
  `JobLookupError`, `TransformerUnavailable`; a document problem is a `Problem`.

The contract sits between the document (below) and the engine (above): it imports
only `jobspec.document`.
"""

from jobspec.document.model import Jobspec
from jobspec.document.problems import Problem
from jobspec.plugin.context import RunState, StepContext
from jobspec.plugin.core_steps import CORE_STEPS
from jobspec.plugin.errors import JobLookupError, StepError, TransformerError, TransformerUnavailable
from jobspec.plugin.files import CopyStep, WriterStep
from jobspec.plugin.follow import error_sink, follow_files
from jobspec.plugin.jobs import JOB_STEPS, AuthStep, BatchStep, JobStep, StageStep, SubmitStep, script_command
from jobspec.plugin.paths import outside_reason, resolve_in_stage
from jobspec.plugin.progress import JobEvents, wait_reporting
from jobspec.plugin.settings import CORE_SETTINGS, SetStep, Setting, UnsetStep
from jobspec.plugin.status import FINAL_STATES, JobStatus
from jobspec.plugin.steps import EmptyStep, Field, PlannedStep, StepBase, StepOutput
from jobspec.plugin.transformer import Transformer, TransformerOptions

__all__ = [
    "CORE_SETTINGS",
    "CORE_STEPS",
    "FINAL_STATES",
    "JOB_STEPS",
    "AuthStep",
    "BatchStep",
    "CopyStep",
    "EmptyStep",
    "Field",
    "JobEvents",
    "JobLookupError",
    "JobStatus",
    "JobStep",
    "Jobspec",
    "PlannedStep",
    "Problem",
    "RunState",
    "SetStep",
    "Setting",
    "StageStep",
    "StepBase",
    "StepContext",
    "StepError",
    "StepOutput",
    "SubmitStep",
    "Transformer",
    "TransformerError",
    "TransformerOptions",
    "TransformerUnavailable",
    "UnsetStep",
    "WriterStep",
    "error_sink",
    "follow_files",
    "outside_reason",
    "resolve_in_stage",
    "script_command",
    "wait_reporting",
]
